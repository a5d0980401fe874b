"""Atomic writes leave either the old content or the new, never a partial file or folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensorfuse.utils.atomic import atomic_dir, atomic_write_json


def test_atomic_write_json_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "r.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert [f.name for f in p.parent.iterdir()] == ["r.json"]


def test_atomic_write_failure_keeps_old_content(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    atomic_write_json(p, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(p, {"a": object()})  # not JSON-serialisable: fails before anything is written
    assert json.loads(p.read_text()) == {"a": 1}


def test_atomic_dir_success_and_failure(tmp_path: Path) -> None:
    final = tmp_path / "world"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("interrupted")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []  # the partial folder was removed
    with atomic_dir(final) as tmp:
        (tmp / "done.txt").write_text("x")
    assert (final / "done.txt").read_text() == "x"
    with pytest.raises(FileExistsError), atomic_dir(final):
        pass
    with atomic_dir(final, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("y")
    assert sorted(f.name for f in final.iterdir()) == ["new.txt"]


def test_atomic_write_uses_normal_file_permissions(tmp_path: Path) -> None:
    import os

    p = tmp_path / "r.json"
    atomic_write_json(p, {})
    mask = os.umask(0)
    os.umask(mask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~mask)
