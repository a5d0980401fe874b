"""Which code trained a run: ``<out_dir>/provenance.json``, written by rank 0 when training starts or resumes.

The file is a list with one entry per start (a resumed run appends one), each::

    {"from_step": int, "sensorfuse": "0.1.0", "git_commit": str | None, "git_dirty": bool | None,
     "python": ..., "torch": ..., "numpy": ..., "numba": ...,
     "source_sha256": {"models/fusers.py": "<sha256>", ...}}

``source_sha256`` covers every ``.py`` file of the package that can change what a run learns or how it is
scored (everything but :data:`NOT_MODEL_CODE`). Comparing it with the current checkout (:func:`stale_files`)
tells whether an old run still stands for the code: ``sensorfuse.bench.detect`` refuses to reuse one that does
not, since a changed fuser under an unchanged config would otherwise put old numbers in a new table.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

from sensorfuse.errors import DataError
from sensorfuse.utils.atomic import atomic_write_json

PACKAGE = Path(__file__).resolve().parents[1]
FILENAME = "provenance.json"
#: package parts that neither train nor score a model (benchmarks, replay, the demo script, the CLI dispatch):
#: editing them leaves earlier runs valid
NOT_MODEL_CODE = ("bench", "replay", "demo.py", "cli.py")


def source_digest(package: Path = PACKAGE) -> dict[str, str]:
    """sha256 of each ``.py`` file of ``package`` outside :data:`NOT_MODEL_CODE`, keyed by relative path."""
    files = (p.relative_to(package).as_posix() for p in sorted(package.rglob("*.py")))
    return {
        rel: hashlib.sha256((package / rel).read_bytes()).hexdigest() for rel in files if _is_model_code(rel)
    }


def _is_model_code(rel: str) -> bool:
    return rel.split("/")[0] not in NOT_MODEL_CODE


def changed_files(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """Files added, removed or edited between two :func:`source_digest` results, sorted."""
    return sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))


def _git(*args: str) -> str | None:
    if not (PACKAGE.parent / ".git").exists():
        return None  # an installed package, not a checkout (the enclosing folder's repo would mislead)
    try:
        done = subprocess.run(
            ["git", "-C", str(PACKAGE.parent), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no git on this machine, or not a repository after all
    return done.stdout.strip()


def collect(from_step: int = 0) -> dict[str, Any]:
    """This process's provenance entry (see the module docstring)."""
    import numba
    import numpy
    import torch

    from sensorfuse import __version__

    status = _git("status", "--porcelain", "--", PACKAGE.name)
    return {
        "from_step": from_step,
        "sensorfuse": __version__,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a str subclass: plain str so weights_only checkpoints load it
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "source_sha256": source_digest(),
    }


def read(path: Path) -> list[dict[str, Any]]:
    """The entries of a ``provenance.json``; a clear error if the file is not one."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(path, f"not readable as JSON: {exc}") from exc
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("source_sha256"), dict) for e in entries
    ):
        raise DataError(
            path, "expected a list of entries, each with a file → sha256 mapping", "source_sha256"
        )
    return entries


def record(out_dir: Path, from_step: int) -> dict[str, Any]:
    """Append this process's entry to ``<out_dir>/provenance.json`` (atomically); returns the entry."""
    path = out_dir / FILENAME
    entries = read(path) if path.is_file() else []
    entry = collect(from_step)
    atomic_write_json(path, [*entries, entry], indent=1)
    return entry


def stale_files(out_dir: Path) -> list[str] | None:
    """Files of the current checkout that differ from any start of the run in ``out_dir``; None if the run
    has no provenance (trained before it was recorded), [] if all of its code matches."""
    path = out_dir / FILENAME
    if not path.is_file():
        return None
    now = source_digest()
    recorded = ({f: h for f, h in e["source_sha256"].items() if _is_model_code(f)} for e in read(path))
    return sorted({f for r in recorded for f in changed_files(r, now)})  # (files counted as model code now)
