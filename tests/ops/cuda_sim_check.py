"""Run the CUDA kernels in Numba's CUDA simulator and compare them with the torch references.

Executed by test_cuda_sim.py in a subprocess with NUMBA_ENABLE_CUDASIM=1 (the simulator replaces numba.cuda
for the whole process, so it must not leak into the main test session). Exit status 0 = all equal.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import torch

FIELDS = ("voxels", "coords", "num_points", "point_to_voxel")


def check_voxelize() -> None:
    from sensorfuse.ops import voxelize

    rng = np.random.default_rng(0)
    pts = torch.from_numpy(rng.uniform(-2.5, 2.5, (120, 4)).astype(np.float32))
    pts[:30] = pts[60:90]  # duplicates → over-full voxels
    pts[5, 0], pts[6, 3] = float("nan"), float("inf")
    pts[7, :3] = torch.tensor([-2.0, 0.5, 1.0])  # on borders
    cases = [
        ((0.5, 0.5, 0.5), 2, 30, "hard"),
        ((0.5, 0.5, 4.0), 3, 200, "hard"),
        ((0.5, 0.5, 0.5), 1, 1, "dynamic"),
    ]
    for size, max_points, max_voxels, mode in cases:
        args = (pts, size, (-2, -2, -2, 2, 2, 2), max_points, max_voxels, mode)
        a, b = voxelize(*args, backend="cuda"), voxelize(*args, backend="reference")
        for f in FIELDS:
            x, y = getattr(a, f), getattr(b, f)
            if x.dtype != y.dtype or not torch.equal(x, y):
                raise SystemExit(f"voxelize {mode} {size}: field {f} differs")
        if a.num_nonfinite != 2 or b.num_nonfinite != 2:
            raise SystemExit(f"voxelize: num_nonfinite {a.num_nonfinite} != 2")
    # float64 points with three columns; all points out of range; caps exactly at the voxel / point counts
    pts64 = pts[:, :3].double()
    n_vox = voxelize(
        pts64, (1.0, 1.0, 1.0), (-2, -2, -2, 2, 2, 2), 1000, 1000, backend="reference"
    ).num_voxels
    more = [
        (pts64, (1.0, 1.0, 1.0), (-2, -2, -2, 2, 2, 2), 4, n_vox, "hard"),
        (pts64, (1.0, 1.0, 1.0), (-2, -2, -2, 2, 2, 2), 4, n_vox - 1, "hard"),
        (pts64, (1.0, 1.0, 1.0), (-2, -2, -2, 2, 2, 2), None, None, "dynamic"),
        (pts + 10.0, (0.5, 0.5, 0.5), (-2, -2, -2, 2, 2, 2), 2, 30, "hard"),
    ]
    for p, size, rng_, max_points, max_voxels, mode in more:
        args = (p, size, rng_, max_points, max_voxels, mode)
        a, b = voxelize(*args, backend="cuda"), voxelize(*args, backend="reference")
        for f in FIELDS:
            x, y = getattr(a, f), getattr(b, f)
            if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x, y):
                raise SystemExit(
                    f"voxelize {mode} {p.dtype} caps {max_points}/{max_voxels}: field {f} differs"
                )
        if a.num_nonfinite != b.num_nonfinite:
            raise SystemExit(f"voxelize: num_nonfinite {a.num_nonfinite} != {b.num_nonfinite}")
    empty = voxelize(torch.zeros(0, 4), (0.5, 0.5, 0.5), (-2, -2, -2, 2, 2, 2), 2, 3, backend="cuda")
    if empty.num_voxels != 0 or empty.voxels.shape != (0, 2, 4) or empty.point_to_voxel.shape != (0,):
        raise SystemExit("voxelize: empty input gave voxels")


def check_bev_pool() -> None:
    from sensorfuse.ops import bev_pool
    from sensorfuse.ops.bev_pool import bev_pool_reference

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 1, 2, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    idx = torch.randint(-1, 6, (2, 1, 2, 2, 3), generator=g)
    fast, ref = bev_pool(feats, idx, (2, 3), backend="cuda"), bev_pool_reference(feats, idx, (2, 3))
    torch.testing.assert_close(fast, ref)
    grad = torch.randn_like(ref)
    (gf,) = torch.autograd.grad(fast, feats, grad)
    (gr,) = torch.autograd.grad(ref, feats, grad)
    torch.testing.assert_close(gf, gr)


if __name__ == "__main__":
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        sys.exit("run with NUMBA_ENABLE_CUDASIM=1")
    warnings.simplefilter("ignore", RuntimeWarning)  # uint64 hash wrap-around is intended
    check_voxelize()
    check_bev_pool()
    print("cuda simulator: voxelize and bev_pool equal the references")
