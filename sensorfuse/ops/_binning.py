"""The binning rule, written once and compiled for both the Numba CPU kernels and the CUDA kernels.

``point_key`` is plain Python: ``_voxel_numba`` wraps it with ``njit(inline="always")`` and ``_voxel_cuda``
with ``cuda.jit(device=True)``, so the rule every backend must agree on bit for bit (float64
``floor((p - lo) / size)``, kept iff ``0 <= q < dims`` on every axis) exists in one place. The torch/numpy
reference (``_voxel_reference``) states the same rule in array form and the tests compare all of them.
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
        q = math.floor((np.float64(points[i, a]) - lo[a]) / size[a])
        if q < 0 or q >= dims[a]:
            return np.int64(-1)
        key = key * dims[a] + np.int64(q)
    return key
