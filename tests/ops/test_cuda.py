"""The CUDA backends on a real GPU (skipped without one): equal to the references on device tensors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from sensorfuse.ops import bev_pool, voxelize
from sensorfuse.ops.bev_pool import bev_pool_reference

FIELDS = ("voxels", "coords", "num_points", "point_to_voxel")


@pytest.mark.cuda
@pytest.mark.parametrize(
    ("size", "max_points", "max_voxels"), [((0.075, 0.075, 0.2), 10, 120_000), ((0.2, 0.2, 8.0), 32, 40_000)]
)
@pytest.mark.parametrize("mode", ["hard", "dynamic"])
def test_cuda_voxelize_equals_reference(
    size: tuple[float, float, float], max_points: int, max_voxels: int, mode: str
) -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform((-60, -60, -6, 0, 0), (60, 60, 4, 1, 1), (200_000, 5)).astype(np.float32)
    pts[:50_000] = pts[100_000:150_000]
    pts[7, 0] = np.nan
    cuda_pts = torch.from_numpy(pts).cuda()
    args = (size, (-54, -54, -5, 54, 54, 3), max_points, max_voxels, mode)
    a = voxelize(cuda_pts, *args)  # auto → cuda
    b = voxelize(cuda_pts, *args, backend="reference")
    c = voxelize(pts, *args, backend="numba")
    assert a.voxels.is_cuda and a.num_nonfinite == b.num_nonfinite == c.num_nonfinite == 1
    for f in FIELDS:
        assert torch.equal(getattr(a, f), getattr(b, f)), f
        np.testing.assert_array_equal(getattr(a, f).cpu().numpy(), getattr(c, f), err_msg=f)


@pytest.mark.cuda
def test_cuda_voxelize_on_a_side_stream_synchronises_once() -> None:
    """Kernels run on torch's current stream (here not the default one) and a call reads the host once."""
    rng = np.random.default_rng(1)
    pts = torch.from_numpy(
        rng.uniform((-60, -60, -6, 0), (60, 60, 4, 1), (100_000, 4)).astype(np.float32)
    ).cuda()
    args = ((0.2, 0.2, 8.0), (-54, -54, -5, 54, 54, 3), 32, 40_000)
    ref = voxelize(pts, *args, backend="reference")
    voxelize(pts, *args)  # compile the kernels, cache the grid on the device
    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            got = voxelize(pts, *args)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) == 1, syncs
    for f in FIELDS:
        assert torch.equal(getattr(got, f), getattr(ref, f)), f


@pytest.mark.cuda
def test_cuda_bev_pool_forward_backward() -> None:
    feats = torch.randn(1, 6, 8, 8, 22, 16, dtype=torch.float64, device="cuda", requires_grad=True)
    idx = torch.randint(-1, 50 * 50, feats.shape[:5], device="cuda")
    out = bev_pool(feats, idx, (50, 50))
    torch.testing.assert_close(out, bev_pool_reference(feats, idx, (50, 50)))
    small = feats[:, :1, :2, :2, :3, :2].detach().clone().requires_grad_(True)
    small_idx = idx[:, :1, :2, :2, :3] % 9
    assert torch.autograd.gradcheck(lambda f: bev_pool(f, small_idx, (3, 3)), (small,))
