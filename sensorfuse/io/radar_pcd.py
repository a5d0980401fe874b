"""nuScenes radar files: PCD v0.7 binary, 18 fields, 43-byte packed little-endian records.

The layout, header and the trailing zero padding (file size = 4096 + 43 N) are those of the real
nuScenes files, so files written here read back with ``RadarPointCloud.from_file`` and real files
round-trip byte for byte. Field meanings: see ``docs/synth.md`` and the devkit's docstring.

Besides the header (every line as nuScenes writes it) and the size, the reader checks what a corrupt or
misdeclared file shows cheaply: no records beyond WIDTH in the padding, finite floats, enum fields within
the ARS 408's codes and positions, velocities and RCS within physical bounds (:data:`PLAUSIBLE`). Each
failure is a :class:`DataError` whose ``reason`` (``truncated``, ``corrupt``, ``implausible``, ...) and
field say which check caught it.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np

from sensorfuse.errors import DataError
from sensorfuse.utils.atomic import atomic_write_bytes

RADAR_FIELDS: tuple[str, ...] = (
    "x", "y", "z", "dyn_prop", "id", "rcs", "vx", "vy", "vx_comp", "vy_comp",
    "is_quality_valid", "ambig_state", "x_rms", "y_rms", "invalid_state", "pdh0", "vx_rms", "vy_rms",
)  # fmt: skip
RADAR_SIZES: tuple[int, ...] = (4, 4, 4, 1, 2, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1)
RADAR_TYPES: tuple[str, ...] = ("F", "F", "F", "I", "I", "F", "F", "F", "F", "F") + ("I",) * 8
RADAR_DTYPE = np.dtype(
    [
        (n, ("<f4" if t == "F" else f"<i{s}"))
        for n, s, t in zip(RADAR_FIELDS, RADAR_SIZES, RADAR_TYPES, strict=True)
    ]
)
RECORD_BYTES = RADAR_DTYPE.itemsize  # 43
PADDED_HEADER_BYTES = 4096  # real files: header + zero padding = 4096 bytes
# column indices used by the devkit filters
DYN_PROP, AMBIG_STATE, INVALID_STATE = 3, 11, 14

#: inclusive (low, high) per field: the ARS 408 codes for the enums (the devkit's docstring; rms fields are
#: 5-bit codes), generous physical bounds for the floats (the sensor reports x up to 1138 m, |v| up to 128 m/s)
PLAUSIBLE: dict[str, tuple[float, float]] = {
    **dict.fromkeys(("x", "y", "z"), (-2000.0, 2000.0)),
    **dict.fromkeys(("vx", "vy", "vx_comp", "vy_comp"), (-500.0, 500.0)),
    "rcs": (-128.0, 128.0),
    "dyn_prop": (0, 7),
    "id": (0, 32767),
    "is_quality_valid": (0, 1),
    "ambig_state": (0, 4),
    **dict.fromkeys(("x_rms", "y_rms", "vx_rms", "vy_rms"), (0, 31)),
    "invalid_state": (0, 17),
    "pdh0": (0, 7),
}

DEFAULT_INVALID_STATES: tuple[int, ...] = (0,)
DEFAULT_DYNPROP_STATES: tuple[int, ...] = tuple(range(7))
DEFAULT_AMBIG_STATES: tuple[int, ...] = (3,)


def _header_lines(n: int) -> list[str]:
    return [
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        "FIELDS " + " ".join(RADAR_FIELDS),
        "SIZE " + " ".join(str(s) for s in RADAR_SIZES),
        "TYPE " + " ".join(RADAR_TYPES),
        "COUNT " + " ".join("1" for _ in RADAR_FIELDS),
        f"WIDTH {n}",
        "HEIGHT 1",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {n}",
        "DATA binary",
    ]


def _check_header(path: Path, lines: list[str]) -> int:
    """Validate the 11 header lines against the nuScenes layout; return the point count."""
    if len(lines) != 11:
        raise DataError(
            path,
            f"radar PCD header has {len(lines)} lines before 'DATA binary', expected 11",
            "header",
            reason="corrupt",
        )
    try:
        n = int(lines[6].split()[1])
    except (IndexError, ValueError):
        raise DataError(
            path, f"header line 7 is {lines[6]!r}, expected 'WIDTH <int>'", "WIDTH", reason="corrupt"
        ) from None
    for i, (got, want) in enumerate(zip(lines, _header_lines(n), strict=True)):
        if i == 0 and got.startswith("#"):
            continue
        if got.split() != want.split():
            key = want.split()[0]
            raise DataError(path, f"header line {i + 1} is {got!r}, expected {want!r}", key, reason="corrupt")
    if n < 1:
        raise DataError(path, f"WIDTH {n}: the devkit needs at least one point", "WIDTH", reason="corrupt")
    return n


def _read_raw(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(path, "radar file does not exist", "filename", reason="missing file")
    if path.suffix != ".pcd":
        raise DataError(path, f"expected a '.pcd' radar file, got suffix {path.suffix!r}", "filename")
    data = path.read_bytes()
    if not data:
        raise DataError(path, "empty radar file (0 bytes)", "header", reason="empty file")
    lines: list[str] = []
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0 or len(lines) > 20:
            raise DataError(path, "no 'DATA binary' line found in the PCD header", "DATA", reason="corrupt")
        try:
            line = data[pos:end].decode("utf-8").strip()
        except UnicodeDecodeError:
            raise DataError(
                path, f"header line {len(lines) + 1} is not text", "header", reason="corrupt"
            ) from None
        lines.append(line)
        pos = end + 1
        if line.startswith("DATA"):
            break
    n = _check_header(path, lines)
    need = n * RECORD_BYTES
    # the devkit asserts a strict '<' on every field end, so it needs >= 1 byte after the last record
    if len(data) - pos < need + 1:
        raise DataError(
            path,
            f"data block has {len(data) - pos} bytes, expected at least {need + 1} ({n} x {RECORD_BYTES} + padding):"
            " truncated file?",
            "WIDTH",
            reason="truncated",
        )
    tail = data[pos + need :]
    if len(tail) >= RECORD_BYTES and tail.count(0) != len(tail):
        raise DataError(
            path,
            f"the {len(tail)} bytes after the {n} records of WIDTH/POINTS are not zero padding: the file holds"
            " more points than its header says, or is corrupt",
            "WIDTH",
            reason="corrupt",
        )
    return np.frombuffer(data, dtype=RADAR_DTYPE, count=n, offset=pos)


def _check_values(path: Path, rec: np.ndarray) -> None:
    """Raise DataError unless every float is finite and every field within :data:`PLAUSIBLE`."""
    for name, (lo, hi) in PLAUSIBLE.items():
        col = rec[name]
        if RADAR_DTYPE[name].kind == "f" and not np.isfinite(col).all():
            bad = ~np.isfinite(col)
            raise DataError(
                path,
                f"{int(bad.sum())} of {len(rec)} points have a non-finite {name} (e.g. {col[bad][0]})",
                name,
                reason="corrupt",
            )
        if col.min() < lo or col.max() > hi:
            bad = (col < lo) | (col > hi)
            raise DataError(
                path,
                f"{int(bad.sum())} of {len(rec)} points have {name} outside [{lo:g}, {hi:g}] (e.g. {col[bad][0]:g}):"
                " corrupt values, or not a nuScenes (ARS 408) radar file",
                name,
                reason="implausible",
            )


def read_radar_pcd(
    path: str | Path,
    invalid_states: Collection[int] | None = DEFAULT_INVALID_STATES,
    dynprop_states: Collection[int] | None = DEFAULT_DYNPROP_STATES,
    ambig_states: Collection[int] | None = DEFAULT_AMBIG_STATES,
) -> np.ndarray:
    """Read a radar PCD like ``RadarPointCloud.from_file`` (same filters, same order, same values).

    Returns:
        points (N, 18) float32, columns :data:`RADAR_FIELDS`, radar sensor frame. ``None`` for a filter
        keeps every value of that field. A file whose first point has a NaN gives (0, 18), like the devkit
        (nuScenes' way of writing an empty sweep).

    Raises:
        DataError: missing or empty file, wrong suffix, a header unlike nuScenes' (``corrupt``), a data block
        shorter than WIDTH records (``truncated``) or with more records than WIDTH (``corrupt``), non-finite
        floats (``corrupt``), values outside :data:`PLAUSIBLE` (``implausible``). The field says which.
    """
    path = Path(path)
    rec = _read_raw(path)
    pts = np.stack([rec[name].astype(np.float32) for name in RADAR_FIELDS], axis=1)
    if len(pts) and np.isnan(pts[0]).any():
        return np.zeros((0, len(RADAR_FIELDS)), dtype=np.float32)
    _check_values(path, rec)
    for col, states in (
        (INVALID_STATE, invalid_states),
        (DYN_PROP, dynprop_states),
        (AMBIG_STATE, ambig_states),
    ):
        if states is not None:
            pts = pts[np.isin(pts[:, col], np.asarray(list(states), dtype=np.float32))]
    return pts


def encode_radar_pcd(points: np.ndarray) -> bytes:
    """Bytes of a nuScenes radar PCD for points (N, 18) in :data:`RADAR_FIELDS` order (N >= 1)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != len(RADAR_FIELDS) or len(pts) == 0:
        raise ValueError(f"radar points must have shape (N>=1, 18), got {pts.shape}")
    rec = np.zeros(len(pts), dtype=RADAR_DTYPE)
    for i, name in enumerate(RADAR_FIELDS):
        col = pts[:, i]
        rec[name] = col if RADAR_TYPES[i] == "F" else np.rint(col)
    header = ("\n".join(_header_lines(len(pts))) + "\n").encode("ascii")
    pad = max(PADDED_HEADER_BYTES - len(header), 1)
    return header + rec.tobytes() + b"\x00" * pad


def write_radar_pcd(path: str | Path, points: np.ndarray) -> None:
    """Write radar points (N, 18) atomically, byte-compatible with the real nuScenes files."""
    try:
        data = encode_radar_pcd(points)
    except ValueError as e:
        raise DataError(path, str(e)) from None
    atomic_write_bytes(path, data)
