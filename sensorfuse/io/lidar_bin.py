"""nuScenes LiDAR sweeps: ``.pcd.bin`` = N records of 5 little-endian float32 (x, y, z, intensity, ring).

Coordinates are in the LIDAR_TOP sensor frame (x right, y forward, z up), metres; intensity 0-255;
ring = laser index 0-31. The devkit's ``LidarPointCloud.from_file`` reads the same layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, overload

import numpy as np

from sensorfuse.errors import DataError
from sensorfuse.utils.atomic import atomic_write_bytes

LIDAR_FIELDS: tuple[str, ...] = ("x", "y", "z", "intensity", "ring")
RECORD_BYTES = 4 * len(LIDAR_FIELDS)


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(path, "LiDAR file does not exist")
    if path.suffix != ".bin":
        raise DataError(path, f"expected a '.bin' LiDAR file, got suffix {path.suffix!r}")
    size = path.stat().st_size
    if size % RECORD_BYTES:
        raise DataError(
            path,
            f"size {size} bytes is not a multiple of {RECORD_BYTES} (5 x float32 per point): truncated file?",
        )
    return np.fromfile(path, dtype="<f4").reshape(-1, len(LIDAR_FIELDS)).astype(np.float32, copy=False)


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
        DataError: missing file, wrong suffix, size not a multiple of 20 bytes, or non-finite values
        (unless ``drop_nonfinite``).
    """
    path = Path(path)
    pts = _load(path)
    finite = np.isfinite(pts).all(axis=1)
    n_bad = int(len(pts) - finite.sum())
    if drop_nonfinite:
        return pts[finite], n_bad
    if n_bad:
        raise DataError(
            path, f"{n_bad} of {len(pts)} points have non-finite values (NaN/inf)", "x,y,z,intensity,ring"
        )
    return pts


def write_lidar_bin(path: str | Path, points: np.ndarray) -> None:
    """Write points (N, 5) ``(x, y, z, intensity, ring)`` as little-endian float32, atomically."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != len(LIDAR_FIELDS):
        raise DataError(path, f"points must have shape (N, 5), got {pts.shape}")
    atomic_write_bytes(path, np.ascontiguousarray(pts, dtype="<f4").tobytes())
