"""The binning rule, written once and compiled for both the Numba CPU kernels and the CUDA kernels.

``point_key`` is plain Python: ``_voxel_cuda`` wraps it with ``cuda.jit(device=True)`` and ``_voxel_numba``
with ``njit(inline="always")`` (for grids of 2**31 cells or more), so the rule every backend must agree on bit
for bit (float64 ``floor((p - lo) / size)``, kept iff ``0 <= q < dims`` on every axis) is written once per
form: here one point at a time; ``_voxel_numba._block_keys`` in the blocked form the CPU vectorises; the
torch reference (``_voxel_reference``) in array form. The tests compare all of them.
"""

from __future__ import annotations

import math

import numpy as np


def point_key(points, i, lo, size, dims):  # type: ignore[no-untyped-def]
    """Linear voxel key ``(z * ny + y) * nx + x`` of point ``i``; -1 out of range, -2 for any non-finite value."""
    for j in range(points.shape[1]):
        if not math.isfinite(points[i, j]):
            return np.int64(-2)
    key = np.int64(0)
    for a in range(2, -1, -1):
        x = (np.float64(points[i, a]) - lo[a]) / size[a]
        # 0 <= floor(x) < n  <=>  0 <= x < n for an integer n: tested on the float, so a huge coordinate is
        # out of range instead of an overflowing float → int conversion
        if not (x >= 0.0 and x < dims[a]):
            return np.int64(-1)
        key = key * dims[a] + np.int64(math.floor(x))
    return key
