"""provenance.json: which code trained a run, and whether the current checkout still is that code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sensorfuse.engine import provenance
from sensorfuse.errors import DataError


def _package(root: Path) -> Path:
    files = {"models/a.py": "A = 1\n", "ops/b.py": "B = 2\n", "bench/c.py": "C = 3\n", "cli.py": "D = 4\n"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_source_digest_covers_model_code_not_benchmarks(tmp_path: Path) -> None:
    pkg = _package(tmp_path / "pkg")
    before = provenance.source_digest(pkg)
    assert sorted(before) == ["models/a.py", "ops/b.py"]
    (pkg / "bench" / "c.py").write_text("C = 4\n")  # a benchmark or CLI edit leaves runs valid
    (pkg / "cli.py").write_text("D = 5\n")
    assert provenance.source_digest(pkg) == before
    (pkg / "models" / "a.py").write_text("A = 2\n")
    (pkg / "ops" / "new.py").write_text("")
    (pkg / "ops" / "b.py").unlink()
    after = provenance.source_digest(pkg)
    assert provenance.changed_files(before, after) == ["models/a.py", "ops/b.py", "ops/new.py"]
    assert provenance.changed_files(after, after) == []


def test_record_appends_one_entry_per_start(tmp_path: Path) -> None:
    first = provenance.record(tmp_path, 0)
    provenance.record(tmp_path, 40)
    entries = provenance.read(tmp_path / provenance.FILENAME)
    assert [e["from_step"] for e in entries] == [0, 40]
    assert entries[0] == first and "fusers.py" in " ".join(first["source_sha256"])
    assert first["torch"] and first["numba"] and first["sensorfuse"]
    if (provenance.PACKAGE.parent / ".git").exists():  # a git checkout: the commit is recorded
        assert re.fullmatch(r"[0-9a-f]{40}", first["git_commit"] or "")
    assert provenance.stale_files(tmp_path) == []  # written by this very checkout


def test_stale_files_names_what_changed(tmp_path: Path) -> None:
    assert provenance.stale_files(tmp_path) is None  # no provenance: cannot tell
    entry = provenance.collect(0)
    entry["source_sha256"]["models/fusers.py"] = "0" * 64
    del entry["source_sha256"]["ops/voxelize.py"]
    entry["source_sha256"]["replay/old.py"] = "1" * 64  # recorded when replay/ still counted: ignored now
    (tmp_path / provenance.FILENAME).write_text(json.dumps([entry]))
    assert provenance.stale_files(tmp_path) == ["models/fusers.py", "ops/voxelize.py"]


@pytest.mark.parametrize("text", ["{not json", json.dumps({"source_sha256": {}}), json.dumps([{"x": 1}])])
def test_read_rejects_a_bad_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / provenance.FILENAME
    path.write_text(text)
    with pytest.raises(DataError, match=re.escape(str(path))):
        provenance.read(path)
