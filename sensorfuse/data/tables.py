"""Plain reading of nuScenes JSON tables with errors that name the file (no devkit needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sensorfuse.errors import DataError

#: The 13 tables ``NuScenes.__init__`` requires.
REQUIRED_TABLES: tuple[str, ...] = (
    "category",
    "attribute",
    "visibility",
    "instance",
    "sensor",
    "calibrated_sensor",
    "ego_pose",
    "log",
    "scene",
    "sample",
    "sample_data",
    "sample_annotation",
    "map",
)


def table_dir(dataroot: str | Path, version: str) -> Path:
    """``<dataroot>/<version>``, checked to exist (DataError naming what is there otherwise)."""
    root = Path(dataroot)
    if not root.is_dir():
        raise DataError(root, "dataroot does not exist or is not a folder", "dataroot")
    tdir = root / version
    if not tdir.is_dir():
        have = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("v"))
        raise DataError(
            tdir, f"no table folder for version {version!r} (versions here: {have or 'none'})", "version"
        )
    return tdir


def load_table(dataroot: str | Path, version: str, name: str) -> list[dict[str, Any]]:
    """Load ``<dataroot>/<version>/<name>.json`` as a list of records."""
    path = table_dir(dataroot, version) / f"{name}.json"
    if not path.is_file():
        raise DataError(path, "table file is missing", name)
    try:
        with path.open("rb") as f:
            records = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(path, f"not valid JSON ({e})", name) from e
    if not isinstance(records, list):
        raise DataError(path, f"expected a JSON array of records, got {type(records).__name__}", name)
    return records


def by_token(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """token → record."""
    return {r["token"]: r for r in records}
