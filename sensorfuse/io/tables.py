"""Plain reading of nuScenes JSON tables with errors that name the file (no devkit needed).

Every table read goes through :func:`load_table`, which checks it (:func:`sensorfuse.io.table_checks.
check_table`); :func:`load_tables` also checks the references between the 13 tables. The index hands these
checked records to the devkit, so the devkit never parses a table itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sensorfuse.errors import DataError
from sensorfuse.io.table_checks import check_references, check_table

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


def load_table(
    dataroot: str | Path, version: str, name: str, fields: Iterable[str] | None = ()
) -> list[dict[str, Any]]:
    """Load ``<dataroot>/<version>/<name>.json`` as a list of records, checked by :func:`check_table`.

    Args:
        fields: the fields the caller reads, checked for presence and type (see
            :data:`~sensorfuse.io.table_checks.SCHEMA`); ``None`` checks every field of the schema. The
            table is always checked to be an array of objects with unique string tokens.

    Raises:
        DataError: the file is missing (reason ``missing file``), empty (``empty file``), not readable or not
            valid UTF-8 JSON (``corrupt``), or a record is bad (see :mod:`sensorfuse.io.table_checks`).
    """
    path = table_dir(dataroot, version) / f"{name}.json"
    return check_table(path, name, _read_json(path, name), None if fields is None else tuple(fields))


def _read_json(path: Path, name: str) -> Any:
    if not path.is_file():
        raise DataError(path, "table file is missing", name, reason="missing file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(
            path, f"cannot read the table file ({e.strerror})", name, reason="missing file"
        ) from e
    if not data or data.isspace():
        raise DataError(
            path,
            f"empty file ({len(data)} bytes), expected a JSON array of records",
            name,
            reason="empty file",
        )
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, nesting too deep
        raise DataError(path, f"not valid JSON ({e})", name, reason="corrupt") from e


def load_tables(
    dataroot: str | Path, version: str, optional: tuple[str, ...] = ()
) -> dict[str, list[dict[str, Any]]]:
    """The 13 tables of a version, each checked, and their references checked together.

    Args:
        optional: further table names loaded (and checked) when their file exists (e.g. ``lidarseg``).

    Raises:
        DataError: naming the table file, record and field at fault.
    """
    tdir = table_dir(dataroot, version)
    tables = {name: load_table(dataroot, version, name, None) for name in REQUIRED_TABLES}
    check_references(tdir, tables)
    for name in optional:
        if (tdir / f"{name}.json").is_file():
            tables[name] = load_table(dataroot, version, name)
    return tables


def by_token(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """token → record."""
    return {r["token"]: r for r in records}
