"""bev_pool: Numba kernels == torch reference, forward and backward (gradcheck)."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch

from sensorfuse.errors import ConfigError, DataError
from sensorfuse.ops import _bev_numba, bev_pool
from sensorfuse.ops._intrinsics import line_aligned_empty
from sensorfuse.ops.bev_pool import bev_pool_reference


def _inputs(
    b: int = 2,
    n_cam: int = 2,
    d: int = 3,
    h: int = 4,
    w: int = 5,
    c: int = 6,
    grid: tuple[int, int] = (4, 5),
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(b, n_cam, d, h, w, c, generator=g, dtype=torch.float64)
    idx = torch.randint(-1, grid[0] * grid[1], (b, n_cam, d, h, w), generator=g)
    return feats, idx


def test_forward_equals_reference() -> None:
    feats, idx = _inputs()
    out = bev_pool(feats, idx, (4, 5), backend="numba")
    assert out.shape == (2, 6, 4, 5) and out.dtype == torch.float64
    torch.testing.assert_close(out, bev_pool_reference(feats, idx, (4, 5)))
    out32 = bev_pool(feats.float(), idx, (4, 5))
    torch.testing.assert_close(out32, bev_pool_reference(feats.float(), idx, (4, 5)), rtol=1e-5, atol=1e-5)


def test_hand_example_and_minus_one_ignored() -> None:
    feats = torch.arange(4, dtype=torch.float32).reshape(1, 1, 1, 1, 4, 1)
    idx = torch.tensor([2, -1, 2, 0]).reshape(1, 1, 1, 1, 4)
    out = bev_pool(feats, idx, (1, 3))
    torch.testing.assert_close(out, torch.tensor([[[[3.0, 0.0, 2.0]]]]))  # cell 2 = 0 + 2, cell 0 = 3


def test_gradcheck_and_backward_equals_reference() -> None:
    feats, idx = _inputs(b=1, n_cam=2, d=2, h=2, w=3, c=3, grid=(3, 3))
    feats.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: bev_pool(f, idx, (3, 3), backend="numba"), (feats,))
    g = torch.randn(1, 3, 3, 3, dtype=torch.float64)
    (fast,) = torch.autograd.grad(bev_pool(feats, idx, (3, 3)), feats, g)
    (ref,) = torch.autograd.grad(bev_pool_reference(feats, idx, (3, 3)), feats, g)
    torch.testing.assert_close(fast, ref)
    assert torch.all(fast[idx == -1] == 0)


def test_bitwise_independent_of_thread_count() -> None:
    feats, idx = _inputs(b=1, d=20, h=8, w=16, c=16, grid=(6, 6))
    feats = feats.float()
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = bev_pool(feats, idx, (6, 6))
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = bev_pool(feats, idx, (6, 6))
    finally:
        numba.set_num_threads(before)
    assert torch.equal(one, many)


def test_empty_and_all_outside() -> None:
    feats, idx = _inputs(d=0)
    assert torch.equal(bev_pool(feats, idx, (4, 5)), torch.zeros(2, 6, 4, 5, dtype=torch.float64))
    feats, idx = _inputs()
    assert torch.equal(
        bev_pool(feats, torch.full_like(idx, -1), (4, 5)), torch.zeros(2, 6, 4, 5, dtype=torch.float64)
    )


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"feats": torch.zeros(2, 3, 4)}, DataError, r"\[feats\]"),
        ({"feats": torch.zeros(1, 1, 1, 1, 2, 3, dtype=torch.int32)}, DataError, r"float32/float64"),
        ({"cell_index": torch.zeros(1, 1, 1, 1, 2, dtype=torch.int32)}, DataError, r"\[cell_index\].*int64"),
        ({"cell_index": torch.zeros(1, 1, 1, 2, 1, dtype=torch.int64)}, DataError, r"expected shape"),
        ({"cell_index": torch.full((1, 1, 1, 1, 2), 6)}, DataError, r"outside \[-1, 6\)"),
        ({"cell_index": torch.full((1, 1, 1, 1, 2), -2)}, DataError, r"outside \[-1, 6\)"),
        (
            {"cell_index": torch.full((1, 1, 1, 1, 2), 6), "backend": "reference"},
            DataError,
            r"must lie in \[-1, 6\)",
        ),
        ({"grid_hw": (0, 3)}, ConfigError, r"grid_hw must be positive"),
        ({"backend": "fast"}, ConfigError, r"backend must be one of"),
        ({"backend": "cuda"}, ConfigError, r"needs CUDA tensors"),
    ],
)
def test_bad_input_is_a_clear_error(change: dict, error: type, match: str) -> None:
    args = {
        "feats": torch.zeros(1, 1, 1, 1, 2, 3),
        "cell_index": torch.zeros(1, 1, 1, 1, 2, dtype=torch.int64),
    }
    args |= {"grid_hw": (2, 3), "backend": "auto"}
    args |= change
    with pytest.raises(error, match=match):
        bev_pool(**args)


def test_forward_bitwise_equals_reference_on_many_tiles() -> None:
    """Several points per cell, several cell tiles (last one partial), two batches, float32: the kernel sums
    each cell in input order, like ``index_add``, so the results are identical."""
    grid = (23, 29)
    assert 2 * _bev_numba._CELL_TILE < grid[0] * grid[1] < 3 * _bev_numba._CELL_TILE  # 2 full tiles + a part
    feats, idx = _inputs(b=2, n_cam=3, d=9, h=7, w=11, c=5, grid=grid, seed=3)
    feats = feats.float()
    out = bev_pool(feats, idx, grid, backend="numba")
    assert torch.equal(out, bev_pool_reference(feats, idx, grid))
    assert torch.count_nonzero(out[..., -1, -1]) > 0  # the partial tile's last cell is filled


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_with_line_streaming_stores_bitwise_equals_reference(dtype: torch.dtype) -> None:
    """768 cells = 3 tiles, each channel row a whole number of 64-byte lines: the forward builds each tile in
    a scratch block and streams it out (``can_stream``); two batches, several points per cell."""
    grid = (24, 32)
    feats, idx = _inputs(b=2, n_cam=3, d=9, h=7, w=11, c=5, grid=grid, seed=6)
    feats = feats.to(dtype)
    out, bad = _bev_numba.pool_forward(feats.reshape(2, -1, 5), idx.reshape(2, -1), grid[0] * grid[1])
    assert bad == 0 and _bev_numba.can_stream(out.numpy())
    assert torch.equal(out.view(2, 5, *grid), bev_pool_reference(feats, idx, grid))


def test_streaming_needs_aligned_whole_line_rows() -> None:
    aligned = line_aligned_empty((2, 5, 768), np.dtype(np.float32))
    assert _bev_numba.can_stream(aligned)
    shifted = line_aligned_empty((1, 1, 2 * 768 * 5 + 16), np.dtype(np.float32)).reshape(-1)
    assert not _bev_numba.can_stream(shifted[4 : 4 + 2 * 5 * 768].reshape(2, 5, 768))  # 16 bytes off a line
    assert not _bev_numba.can_stream(line_aligned_empty((2, 5, 667), np.dtype(np.float32)))


@pytest.mark.parametrize("runs", [1, 2, 3, 5])
def test_cells_met_by_several_runs_are_summed_in_input_order(runs: int) -> None:
    """The forward sums runs of points in parallel, each into its own table; a cell whose points lie in several
    runs must still be summed in input order. Values 1e8, 1, -1e8, 1, ... make the float32 sum depend on that
    order (in input order it is 1, summed run by run it is not), and every run meets cell 3 first in the
    middle of the input."""
    m, c, grid = 60, 17, (4, 8)
    idx = torch.randint(0, grid[0] * grid[1], (2, m), generator=torch.Generator().manual_seed(runs))
    idx[:, ::3] = 3  # cell 3 in every run, interleaved with other cells
    idx[:, 1::6] = -1  # never a point of cell 3
    feats = torch.randn(2, m, c, generator=torch.Generator().manual_seed(1))
    feats[:, ::3] = torch.tensor([1e8, 1.0, -1e8, 1.0] * 5)[:, None].expand(20, c)
    out, bad = _bev_numba.pool_forward(feats, idx, grid[0] * grid[1], runs=runs)
    ref = bev_pool_reference(feats[:, :, None, None, None], idx[:, :, None, None], grid)
    assert bad == 0
    assert torch.equal(out.view(2, c, *grid), ref)
    assert torch.all(out[:, :, 3] == 1.0)  # ((((1e8 + 1) - 1e8) + 1) ...) in float32: 1.0


@pytest.mark.parametrize("runs", [1, 2])
def test_a_cell_of_negative_zeros_sums_to_positive_zero(runs: int) -> None:
    """index_add into zeros gives 0.0 + (-0.0) = +0.0; so must the kernel (a plain copy of the first row
    would keep -0.0)."""
    feats = torch.full((1, 4, 16), -0.0)
    idx = torch.tensor([[0, 0, 1, -1]])
    out, _ = _bev_numba.pool_forward(feats, idx, 16, runs=runs)
    ref = bev_pool_reference(feats[:, :, None, None, None], idx[:, :, None, None], (4, 4)).reshape(1, 16, 16)
    assert not torch.signbit(ref[0, :, :2]).any()
    assert torch.equal(torch.signbit(out), torch.signbit(ref)) and torch.equal(out, ref)
