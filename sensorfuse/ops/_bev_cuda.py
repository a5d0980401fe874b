# mypy: disable-error-code="call-arg,var-annotated"
"""numba.cuda kernels of ``bev_pool``: forward = one thread per (point, channel) with ``atomic.add``; backward =
one thread per (point, channel) gathering the output gradient. The forward sum order follows thread
scheduling, so GPU results match the reference to float rounding, not bitwise (the CPU kernel is bitwise
reproducible)."""

from __future__ import annotations

import torch
from numba import cuda

from sensorfuse.ops._cuda_util import kernel_arg, launch


@cuda.jit(device=True)
def _point_channel(t, m_n, c_n):  # type: ignore[no-untyped-def]
    """Flat thread index → (batch, point, channel) of a (B, M, C) array, channel fastest."""
    return t // (c_n * m_n), (t // c_n) % m_n, t % c_n


@cuda.jit
def _forward_kernel(f, idx, out):  # type: ignore[no-untyped-def]
    t = cuda.grid(1)
    b_n, m_n, c_n = f.shape
    if t >= b_n * m_n * c_n:
        return
    b, m, c = _point_channel(t, m_n, c_n)
    k = idx[b, m]
    if k >= 0:
        cuda.atomic.add(out, (b, k, c), f[b, m, c])


@cuda.jit
def _backward_kernel(grad_cells, idx, grad_f):  # type: ignore[no-untyped-def]
    t = cuda.grid(1)
    b_n, m_n, c_n = grad_f.shape
    if t >= b_n * m_n * c_n:
        return
    b, m, c = _point_channel(t, m_n, c_n)
    k = idx[b, m]
    grad_f[b, m, c] = grad_cells[b, k, c] if k >= 0 else 0.0


def pool_forward(f: torch.Tensor, idx: torch.Tensor, n_cells: int) -> tuple[torch.Tensor, int]:
    """f (B, M, C), idx (B, M) → ((B, C, n_cells) sums, 0); indices were range-checked by the wrapper."""
    out = torch.zeros((f.shape[0], n_cells, f.shape[2]), dtype=f.dtype, device=f.device)
    launch(_forward_kernel, f.numel(), kernel_arg(f), kernel_arg(idx), kernel_arg(out))
    return out.transpose(1, 2).contiguous(), 0


def pool_backward(grad_out: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """grad_out (B, C, n_cells), idx (B, M) → grad of f (B, M, C)."""
    grad_cells = grad_out.transpose(1, 2).contiguous()
    grad_f = torch.empty(
        (idx.shape[0], idx.shape[1], grad_cells.shape[2]), dtype=grad_cells.dtype, device=idx.device
    )
    launch(_backward_kernel, grad_f.numel(), kernel_arg(grad_cells), kernel_arg(idx), kernel_arg(grad_f))
    return grad_f
