"""Numba CPU kernels of ``bev_pool``.

Forward: a serial stable counting sort of the points by cell (cell indices are bounded, so it is a histogram,
a prefix sum and one scatter of int32 point ids; out-of-range indices are counted in the same pass and the
wrapper raises on them), then a parallel pass over tiles of 256 cells: each tile zeroes its block of the
channel-major output (C rows of 256 contiguous cells), sums each non-empty cell's contiguous C-rows into a
C-vector (SIMD adds) and stores it down the cell's column of the block. Every output element belongs to one
tile and each cell is summed in input order, so the result is bitwise equal to the reference and independent of
the thread count; the output needs no separate zero-fill (each tile zeroes its own block in cache). The rows are
read in cell order (random in memory), so each is software-prefetched a few points ahead (``_intrinsics.prefetch``).
Where the output allows it (``can_stream``: allocated 64-byte aligned here, rows of whole lines — the 200 x 200
grid does) a tile is built in a scratch block and copied out with non-temporal line stores
(``_intrinsics.stream_line``): the 10-26 MB output is then written without being read for ownership first.
Backward: a parallel blocked transpose of the output gradient to cell-major (B, cells, C), then a parallel
gather of each point's cell row. Outputs are allocated by numpy, which madvises huge pages for large buffers
(torch.empty does not): the 100 MB feature gradient then costs ~50 page faults instead of ~25,000.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from sensorfuse.ops._intrinsics import LINE_BYTES, line_aligned_empty, prefetch, store_fence, stream_line
from sensorfuse.ops._parallel import parallel_kernel

_TILE = 64  # cells per tile of the backward's transpose
# cells per tile of the forward: a tile writes C rows of 1 KB (float32) of the channel-major output. With 64
# cells (256 B rows) every tile touched C pages 160 KB apart for 4 lines each, and a cold output cost more
# than the sums (LSS forward, cold: 3.0 ms at 64 cells, 1.7-2.3 ms at 256; warm 1.6 → 1.3 ms)
_CELL_TILE = 256
_AHEAD = 8  # points between a feature row's prefetch and its use (4 to 16 measured alike, docs/ops.md)


@njit(cache=True)
def _sort_by_cell(idx, starts, order):  # type: ignore[no-untyped-def]
    """Stable counting sort of each batch's valid points by cell: cell k of batch b holds
    ``order[b, starts[b, k]:starts[b, k + 1]]`` in input order. Returns the count of indices outside
    [-1, cells)."""
    b_n, m_n = idx.shape
    n_cells = starts.shape[1] - 1
    bad = 0
    for b in range(b_n):
        starts[b, :] = 0
        for m in range(m_n):
            k = idx[b, m]
            if k >= 0 and k < n_cells:
                starts[b, k + 1] += 1
            elif k != -1:
                bad += 1
        for k in range(n_cells):
            starts[b, k + 1] += starts[b, k]
        pos = starts[b, :n_cells].copy()
        for m in range(m_n):
            k = idx[b, m]
            if k >= 0 and k < n_cells:
                order[b, pos[k]] = m
                pos[k] += 1
    return bad


@njit(inline="always")
def _sum_tile(fb, rows, tile_starts, acc, block):  # type: ignore[no-untyped-def]
    """Each non-empty cell j of the tile: the sum of its rows (in input order) into ``block[:, j]``."""
    c_n = fb.shape[1]
    step = max(1, LINE_BYTES // fb.itemsize)  # elements per cache line
    for j in range(tile_starts.shape[0] - 1):
        p0 = tile_starts[j] - tile_starts[0]
        p1 = tile_starts[j + 1] - tile_starts[0]
        if p0 == p1:
            continue
        for c in range(c_n):
            acc[c] = 0.0
        for p in range(p0, p1):
            if p + _AHEAD < rows.shape[0]:
                ahead = rows[p + _AHEAD]
                for c in range(0, c_n, step):
                    prefetch(fb, (ahead, c))
            row = fb[rows[p]]
            for c in range(c_n):
                acc[c] += row[c]
        for c in range(c_n):
            block[c, j] = acc[c]


@parallel_kernel
def _forward(f, order, starts, out, stream):  # type: ignore[no-untyped-def]
    """out (B, C, cells) = per-cell sums of f (B, M, C) rows, each summed in input order; parallel over
    tiles of _CELL_TILE cells. Camera frusta leave most cells empty (~89% for the LSS shape): a tile's block
    (C rows of _CELL_TILE cells) is zeroed, each non-empty cell's rows are summed into a C-vector (SIMD adds)
    and stored down its column of the block. The rows are read in cell order, which no hardware prefetcher
    follows: each is prefetched ``_AHEAD`` points before it is summed.

    ``stream`` (``out`` 64-byte aligned, cells a whole number of lines): the block is built in a scratch tile
    in L2 and copied out line by line with non-temporal stores, so the output is never read for ownership.
    Otherwise the block of ``out`` itself is zeroed and filled. Loops index slices from 0: an index
    ``k0 + j`` may be negative as far as Numba knows, and its wrap-around test keeps LLVM from vectorising."""
    b_n, c_n = f.shape[0], f.shape[2]
    n_cells = out.shape[2]
    n_tiles = (n_cells + _CELL_TILE - 1) // _CELL_TILE
    lanes = LINE_BYTES // f.itemsize  # elements per line
    for t in prange(b_n * n_tiles):
        b = t // n_tiles
        k0 = (t % n_tiles) * _CELL_TILE
        k1 = min(n_cells, k0 + _CELL_TILE)
        tile_starts = starts[b, k0 : k1 + 1]
        # the rows of this tile and all later ones, in cell order: prefetch runs across the tile's end
        rows = order[b, tile_starts[0] : starts[b, n_cells]]
        acc = np.empty(c_n, f.dtype)
        if stream:
            scratch = np.zeros((c_n, k1 - k0), f.dtype)
            _sum_tile(f[b], rows, tile_starts, acc, scratch)
            flat = out[b].reshape(c_n * n_cells)
            for c in range(c_n):
                line_src = scratch[c]
                for q in range(0, k1 - k0, lanes):
                    stream_line(flat, c * n_cells + k0 + q, line_src, q)
            store_fence()
        else:
            block = out[b, :, k0:k1]
            for c in range(c_n):
                block_row = block[c]
                for j in range(block_row.shape[0]):
                    block_row[j] = 0.0
            _sum_tile(f[b], rows, tile_starts, acc, block)


@parallel_kernel
def _transpose(src, dst):  # type: ignore[no-untyped-def]
    """src (B, R, S) → dst (B, S, R), parallel over tiles of _TILE columns of S (each a contiguous dst block)."""
    b_n, r_n, s_n = src.shape
    s_tiles = (s_n + _TILE - 1) // _TILE
    for t in prange(b_n * s_tiles):
        b = t // s_tiles
        s0 = (t % s_tiles) * _TILE
        s1 = min(s_n, s0 + _TILE)
        src_block, dst_block = src[b, :, s0:s1], dst[b, s0:s1]  # slices: indices from 0 (see ``_forward``)
        for r in range(r_n):
            for j in range(s1 - s0):
                dst_block[j, r] = src_block[r, j]


@parallel_kernel
def _backward(grad_cells, idx, grad_f):  # type: ignore[no-untyped-def]
    b_n, m_n = idx.shape
    c_n = grad_f.shape[2]
    for t in prange(b_n * m_n):
        b = t // m_n
        m = t % m_n
        k = idx[b, m]
        if k >= 0:
            for c in range(c_n):
                grad_f[b, m, c] = grad_cells[b, k, c]
        else:
            for c in range(c_n):
                grad_f[b, m, c] = 0.0


def pool_forward(f: torch.Tensor, idx: torch.Tensor, n_cells: int) -> tuple[torch.Tensor, int]:
    """f (B, M, C), idx (B, M) → ((B, C, n_cells) sums, number of indices outside [-1, n_cells))."""
    b, m, c = f.shape
    idx_np = idx.cpu().numpy()
    starts = np.empty((b, n_cells + 1), np.int64)
    order = np.empty((b, m), np.int32)
    bad = int(_sort_by_cell(idx_np, starts, order))
    f_np = f.cpu().numpy()
    out = line_aligned_empty((b, c, n_cells), f_np.dtype)
    if not bad:
        _forward(f_np, order, starts, out, can_stream(out))
    return torch.from_numpy(out).to(f.device), bad


def can_stream(out: np.ndarray) -> bool:
    """Whether ``_forward`` may write ``out`` (B, C, cells) with non-temporal line stores: float32/float64,
    64-byte aligned, and every channel row a whole number of lines (so every tile row starts a line)."""
    size = out.dtype.itemsize
    return (
        out.dtype in (np.float32, np.float64)
        and out.flags.c_contiguous
        and out.ctypes.data % LINE_BYTES == 0
        and (out.shape[2] * size) % LINE_BYTES == 0
        and (_CELL_TILE * size) % LINE_BYTES == 0
    )


def pool_backward(grad_out: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """grad_out (B, C, n_cells), idx (B, M) → grad of f (B, M, C), gathered from a cell-major copy."""
    b, c, n_cells = grad_out.shape
    grad_cells = np.empty((b, n_cells, c), dtype=grad_out.cpu().numpy().dtype)
    _transpose(np.ascontiguousarray(grad_out.cpu().numpy()), grad_cells)
    # numpy allocates (and madvises huge pages for) large buffers: far fewer page faults than torch.empty
    grad_f = torch.from_numpy(np.empty((b, idx.shape[1], c), dtype=grad_cells.dtype))
    if grad_f.numel():
        _backward(grad_cells, idx.cpu().numpy(), grad_f.numpy())
    return grad_f.to(grad_out.device)
