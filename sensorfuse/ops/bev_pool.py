"""``bev_pool``: sum-pool camera frustum features into a BEV grid (Lift-Splat-Shoot / BEVFusion).

Shapes: feats ``B x N_cam x D x H x W x C`` float; cell_index ``B x N_cam x D x H x W`` int64 holding the flat
BEV cell ``iy * nx + ix`` of each frustum point, or -1 when it falls outside the grid; output ``B x C x ny x nx``.
Forward and backward run in plain kernels (Numba on the CPU, numba.cuda on the GPU) wrapped in an
``autograd.Function``; ``bev_pool_reference`` below is the same op in differentiable torch.
"""

from __future__ import annotations

from typing import Any

import torch

from sensorfuse.errors import ConfigError, DataError

_WHERE = "sensorfuse.ops.bev_pool"
BACKENDS = ("auto", "numba", "cuda", "reference")


def bev_pool(
    feats: torch.Tensor, cell_index: torch.Tensor, grid_hw: tuple[int, int], backend: str = "auto"
) -> torch.Tensor:
    """Sum of ``feats`` per BEV cell → (B, C, ny, nx); differentiable with respect to ``feats``.

    Args:
        feats: (B, N_cam, D, H, W, C) float32/float64.
        cell_index: (B, N_cam, D, H, W) int64, values in [-1, ny * nx).
        grid_hw: (ny, nx).
        backend: "auto" (cuda for CUDA tensors, else numba), "numba", "cuda" or "reference".
    """
    ny, nx = _check(feats, cell_index, grid_hw, backend)
    if backend == "auto":
        backend = "cuda" if feats.is_cuda else "numba"
    if backend != "numba":  # the Numba kernel checks the range in its own pass
        _check_range(cell_index, ny, nx)
    if backend == "reference":
        return bev_pool_reference(feats, cell_index, (ny, nx))
    if backend == "cuda":
        from sensorfuse.ops.voxelize import cuda_simulator_enabled

        if not (feats.is_cuda or cuda_simulator_enabled()):
            raise ConfigError(f"{_WHERE}: backend='cuda' needs CUDA tensors, got feats on {feats.device}")
    out: torch.Tensor = _BevPool.apply(feats, cell_index, ny, nx, backend)
    return out


def bev_pool_reference(
    feats: torch.Tensor, cell_index: torch.Tensor, grid_hw: tuple[int, int]
) -> torch.Tensor:
    """Plain torch ``bev_pool`` (autograd gives the backward); the specification for the kernels."""
    ny, nx = grid_hw
    b, c = feats.shape[0], feats.shape[-1]
    f = feats.reshape(b, -1, c)
    idx = cell_index.reshape(b, -1)
    valid = idx >= 0
    batch = torch.arange(b, device=idx.device)[:, None].expand_as(idx)
    flat = (batch * (ny * nx) + idx)[valid]
    out = torch.zeros(b * ny * nx, c, dtype=feats.dtype, device=feats.device)
    out = out.index_add(0, flat, f[valid])
    return out.view(b, ny, nx, c).permute(0, 3, 1, 2).contiguous()


class _BevPool(torch.autograd.Function):
    """Forward: kernel scatter-add; backward: kernel gather of the output gradient at ``cell_index``."""

    @staticmethod
    def forward(
        ctx: Any, feats: torch.Tensor, cell_index: torch.Tensor, ny: int, nx: int, backend: str
    ) -> torch.Tensor:
        b, c = feats.shape[0], feats.shape[-1]
        f = feats.detach().reshape(b, -1, c).contiguous()
        idx = cell_index.reshape(b, -1).contiguous()
        ctx.save_for_backward(cell_index)
        ctx.meta = (tuple(feats.shape), ny, nx, backend)
        out, bad = _kernels(backend).pool_forward(f, idx, ny * nx)  # (B, C, ny*nx)
        if bad:
            raise DataError(_WHERE, f"{bad} values outside [-1, {ny * nx}) for grid {ny}x{nx}", "cell_index")
        return out.view(b, c, ny, nx)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None, None]:
        (cell_index,) = ctx.saved_tensors
        shape, ny, nx, backend = ctx.meta
        b, c = shape[0], shape[-1]
        grad = grad_out.reshape(b, c, ny * nx).contiguous()
        idx = cell_index.reshape(b, -1).contiguous()
        grad_feats = _kernels(backend).pool_backward(grad, idx)  # (B, M, C)
        return grad_feats.view(shape), None, None, None, None


def _kernels(backend: str) -> Any:
    if backend == "cuda":
        from sensorfuse.ops import _bev_cuda

        return _bev_cuda
    from sensorfuse.ops import _bev_numba

    return _bev_numba


def _check(feats: Any, cell_index: Any, grid_hw: Any, backend: str) -> tuple[int, int]:
    if backend not in BACKENDS:
        raise ConfigError(f"{_WHERE}: backend must be one of {BACKENDS}, got {backend!r}")
    if (
        not isinstance(feats, torch.Tensor)
        or feats.dim() != 6
        or feats.dtype not in (torch.float32, torch.float64)
    ):
        got = (
            f"{tuple(feats.shape)} {feats.dtype}" if isinstance(feats, torch.Tensor) else type(feats).__name__
        )
        raise DataError(
            _WHERE, f"expected a (B, N_cam, D, H, W, C) float32/float64 tensor, got {got}", "feats"
        )
    if not isinstance(cell_index, torch.Tensor) or cell_index.dtype != torch.int64:
        got = str(cell_index.dtype) if isinstance(cell_index, torch.Tensor) else type(cell_index).__name__
        raise DataError(_WHERE, f"expected an int64 tensor, got {got}", "cell_index")
    if tuple(cell_index.shape) != tuple(feats.shape[:5]) or cell_index.device != feats.device:
        raise DataError(
            _WHERE,
            f"expected shape {tuple(feats.shape[:5])} on {feats.device}, got {tuple(cell_index.shape)} on {cell_index.device}",
            "cell_index",
        )
    try:
        ny, nx = (int(v) for v in grid_hw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{_WHERE}: grid_hw must be (ny, nx) integers, got {grid_hw!r}") from exc
    if ny < 1 or nx < 1:
        raise ConfigError(f"{_WHERE}: grid_hw must be positive, got {grid_hw!r}")
    return ny, nx


def _check_range(cell_index: torch.Tensor, ny: int, nx: int) -> None:
    if not cell_index.numel():
        return
    lo, hi = torch.stack(torch.aminmax(cell_index)).tolist()  # one reduction, one host read
    if lo < -1 or hi >= ny * nx:
        got = f"[{lo}, {hi}]"
        raise DataError(
            _WHERE, f"values must lie in [-1, {ny * nx}) for grid {ny}x{nx}, got {got}", "cell_index"
        )
