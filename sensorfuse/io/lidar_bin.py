"""nuScenes LiDAR sweeps: ``.pcd.bin`` = N records of 5 little-endian float32 (x, y, z, intensity, ring).

Coordinates are in the LIDAR_TOP sensor frame (x right, y forward, z up), metres; intensity 0-255;
ring = laser index 0-31. The devkit's ``LidarPointCloud.from_file`` reads the same layout.

The file has no header, so any file whose size divides by 20 would read. Two cheap, vectorised plausibility
checks catch a file of another layout, e.g. KITTI's 4 floats (x, y, z, intensity) per point, whose columns
read as 5 shift through x, y, z and intensity: the ring column must hold integer laser indices in
``[0, MAX_RING]`` and the intensity column values ``>= 0`` (``DataError`` with ``reason="implausible"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, overload

import numpy as np

from sensorfuse.errors import DataError
from sensorfuse.utils.atomic import atomic_write_bytes

LIDAR_FIELDS: tuple[str, ...] = ("x", "y", "z", "intensity", "ring")
RECORD_BYTES = 4 * len(LIDAR_FIELDS)
#: largest ring (laser index) accepted: nuScenes has 32 lasers (0-31); room for 128-laser sensors and uint8 ids
MAX_RING = 255
_KITTI_HINT = (
    "not nuScenes' 5 floats (x, y, z, intensity, ring): the file looks like a 4-float (KITTI: x, y, z,"
    " intensity) file or another layout, or its values are corrupt"
)


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(path, "LiDAR file does not exist", "filename", reason="missing file")
    if path.suffix != ".bin":
        raise DataError(path, f"expected a '.bin' LiDAR file, got suffix {path.suffix!r}", "filename")
    size = path.stat().st_size
    if size == 0:
        raise DataError(path, "empty LiDAR file (0 bytes)", "points", reason="empty file")
    if size % RECORD_BYTES:
        kitti = " (it divides by 16: a 4-float KITTI file?)" if size % 16 == 0 else ""
        raise DataError(
            path,
            f"size {size} bytes is not a multiple of {RECORD_BYTES} (5 x float32 per point): truncated file?{kitti}",
            reason="truncated",
        )
    return np.fromfile(path, dtype="<f4").reshape(-1, len(LIDAR_FIELDS)).astype(np.float32, copy=False)


def _check_plausible(path: Path, pts: np.ndarray) -> None:
    """Raise DataError (``implausible``) unless ring is an integer in [0, MAX_RING] and intensity >= 0.

    ``pts`` must be finite. Costs a few passes over two columns (well under the file read).
    """
    ring = np.ascontiguousarray(pts[:, 4])  # a contiguous copy: the checks below run ~5x faster on it
    if len(ring) and (ring.min() < 0 or ring.max() > MAX_RING or (ring != np.rint(ring)).any()):
        bad = (ring < 0) | (ring > MAX_RING) | (ring != np.rint(ring))
        raise DataError(
            path,
            f"{int(bad.sum())} of {len(pts)} points have a ring that is not an integer laser index in"
            f" [0, {MAX_RING}] (e.g. {ring[bad][0]:g}): {_KITTI_HINT}",
            "ring",
            reason="implausible",
        )
    inten = np.ascontiguousarray(pts[:, 3])
    if len(inten) and inten.min() < 0:
        bad = inten < 0
        raise DataError(
            path,
            f"{int(bad.sum())} of {len(pts)} points have a negative intensity (e.g. {inten[bad][0]:g}),"
            f" expected >= 0: {_KITTI_HINT}",
            "intensity",
            reason="implausible",
        )


@overload
def read_lidar_bin(path: str | Path, drop_nonfinite: Literal[False] = ...) -> np.ndarray: ...
@overload
def read_lidar_bin(path: str | Path, drop_nonfinite: Literal[True]) -> tuple[np.ndarray, int]: ...
def read_lidar_bin(path: str | Path, drop_nonfinite: bool = False) -> np.ndarray | tuple[np.ndarray, int]:
    """Read a ``.pcd.bin`` sweep.

    Returns:
        points (N, 5) float32 ``(x, y, z, intensity, ring)``; with ``drop_nonfinite=True`` a tuple
        ``(finite points (M, 5), number of dropped rows)``.

    Raises:
        DataError: missing file, wrong suffix, empty file, size not a multiple of 20 bytes (``truncated``),
        non-finite values (``corrupt``, unless ``drop_nonfinite``), a ring column that is not integer laser
        indices in [0, :data:`MAX_RING`] or a negative intensity (``implausible``: another layout, e.g. KITTI).
        ``reason`` says which.
    """
    path = Path(path)
    pts = _load(path)
    n_bad = 0
    if not np.isfinite(pts).all():  # fast path; the per-row test below is ~30x slower
        finite = np.isfinite(pts).all(axis=1)
        n_bad = int(len(pts) - finite.sum())
        if not drop_nonfinite:
            raise DataError(
                path,
                f"{n_bad} of {len(pts)} points have non-finite values (NaN/inf)",
                "x,y,z,intensity,ring",
                reason="corrupt",
            )
        pts = pts[finite]
    _check_plausible(path, pts)
    return (pts, n_bad) if drop_nonfinite else pts


def write_lidar_bin(path: str | Path, points: np.ndarray) -> None:
    """Write points (N, 5) ``(x, y, z, intensity, ring)`` as little-endian float32, atomically."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != len(LIDAR_FIELDS):
        raise DataError(path, f"points must have shape (N, 5), got {pts.shape}")
    atomic_write_bytes(path, np.ascontiguousarray(pts, dtype="<f4").tobytes())
