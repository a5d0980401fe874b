"""Numba CPU kernels of ``bev_pool``.

Forward: each thread owns a (batch, channel block) and walks the points in input order, adding straight into
the (B, C, cells) output, so every output element is summed in the same order whatever the thread count
(bitwise reproducible); out-of-range indices are counted in the same pass (the wrapper raises on them).
Frustum points next to each other in memory (along W, and all of H) fall in the same or adjacent cells, so
the strided output writes stay in cache. Backward: a parallel blocked transpose of the output gradient to
cell-major (B, cells, C), then a parallel gather of each point's cell row.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba import prange

from sensorfuse.ops._parallel import parallel_kernel

_TILE = 64


@parallel_kernel
def _forward(f, idx, out, block):  # type: ignore[no-untyped-def]
    b_n, m_n, c_n = f.shape
    n_cells = out.shape[2]
    n_blocks = (c_n + block - 1) // block
    bad = 0
    for t in prange(b_n * n_blocks):
        b = t // n_blocks
        c0 = (t % n_blocks) * block
        c1 = min(c_n, c0 + block)
        for m in range(m_n):
            k = idx[b, m]
            if k >= 0 and k < n_cells:
                for c in range(c0, c1):
                    out[b, c, k] += f[b, m, c]
            elif c0 == 0 and k != -1:
                bad += 1
    return bad


@parallel_kernel
def _transpose(src, dst):  # type: ignore[no-untyped-def]
    """src (B, R, S) → dst (B, S, R), in R x S tiles."""
    b_n, r_n, s_n = src.shape
    r_tiles = (r_n + _TILE - 1) // _TILE
    for t in prange(b_n * r_tiles):
        b = t // r_tiles
        r0 = (t % r_tiles) * _TILE
        r1 = min(r_n, r0 + _TILE)
        for s in range(s_n):
            for r in range(r0, r1):
                dst[b, s, r] = src[b, r, s]


@parallel_kernel
def _backward(grad_cells, idx, grad_f):  # type: ignore[no-untyped-def]
    b_n, m_n = idx.shape
    for t in prange(b_n * m_n):
        b = t // m_n
        m = t % m_n
        k = idx[b, m]
        if k >= 0:
            grad_f[b, m, :] = grad_cells[b, k, :]
        else:
            grad_f[b, m, :] = 0.0


def pool_forward(f: torch.Tensor, idx: torch.Tensor, n_cells: int) -> tuple[torch.Tensor, int]:
    """f (B, M, C), idx (B, M) → ((B, C, n_cells) sums, number of indices outside [-1, n_cells))."""
    b, _, c = f.shape
    out = torch.zeros((b, c, n_cells), dtype=f.dtype)
    threads = numba.get_num_threads()
    block = max(1, -(-c // max(1, threads // max(1, b))))
    bad = int(_forward(f.cpu().numpy(), idx.cpu().numpy(), out.numpy(), block)) if f.numel() else 0
    return out.to(f.device), bad


def pool_backward(grad_out: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """grad_out (B, C, n_cells), idx (B, M) → grad of f (B, M, C), gathered from a cell-major copy."""
    b, c, n_cells = grad_out.shape
    grad_cells = np.empty((b, n_cells, c), dtype=grad_out.cpu().numpy().dtype)
    _transpose(np.ascontiguousarray(grad_out.cpu().numpy()), grad_cells)
    grad_f = torch.empty((b, idx.shape[1], c), dtype=grad_out.dtype)
    if grad_f.numel():
        _backward(grad_cells, idx.cpu().numpy(), grad_f.numpy())
    return grad_f.to(grad_out.device)
