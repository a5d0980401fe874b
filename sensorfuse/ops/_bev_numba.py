"""Numba CPU kernels of ``bev_pool``.

Forward: one parallel Numba call, ``_forward``, in three steps (one call because in the state a model leaves
the caches in, every Python-level call and allocation costs 10-40 us). Every cell is summed in input order
from a zero, so the result is bitwise equal to the reference and independent of the thread count:

1. ``_accumulate_run`` (parallel over runs of points, one run per thread): each run reads its points' feature
   rows in input order — one sequential stream, at memory bandwidth — and adds each into its cell's row of
   the run's own table (cells numbered in the order the run meets them; ~600 KB per run for the LSS shape, in
   L2). Out-of-range indices are counted here and the wrapper raises on them.
2. ``_merge_runs`` (serial, over cells): a cell's sum is in the table of the first run that met it. The few
   cells that a later run met too get that run's points added again, in input order, onto the first run's
   row (64 of the 43k LSS points; none for BEVDet's frustum).
3. ``_write_tile`` (parallel over tiles of 256 cells): C rows of the channel-major output per tile, zeroed,
   with each non-empty cell's row down its column. Where the output allows it (``can_stream``: allocated
   64-byte aligned here, rows of whole lines — the 200 x 200 grid does) the tile is built in a scratch block
   and copied out with non-temporal line stores (``_intrinsics.stream_line``): the 10-26 MB output is then
   written without being read for ownership first.

Until 2026-12-02 (evening) the points were sorted by cell first and each tile gathered its cells' rows, i.e.
read the features in cell order, at random (docs/ops.md has that kernel's history).
Backward: a parallel blocked transpose of the output gradient to cell-major (B, cells, C), then a parallel
gather of each point's cell row. Its outputs are allocated by numpy, which madvises huge pages for large buffers
(torch.empty does not): the 100 MB feature gradient then costs ~50 page faults instead of ~25,000.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import get_num_threads, njit, prange

from sensorfuse.ops._intrinsics import LINE_BYTES, line_aligned, store_fence, stream_line
from sensorfuse.ops._parallel import parallel_kernel

_TILE = 64  # cells per tile of the backward's transpose
# cells per tile of the forward: a tile writes C rows of 1 KB (float32) of the channel-major output. With 64
# cells (256 B rows) every tile touched C pages 160 KB apart for 4 lines each, and a cold output cost more
# than the sums (LSS forward, cold: 3.0 ms at 64 cells, 1.7-2.3 ms at 256; warm 1.6 → 1.3 ms)
_CELL_TILE = 256


@njit(inline="always")
def _accumulate_run(f, idx, cell_row, table, b, r):  # type: ignore[no-untyped-def]
    """Run r of batch b: sums of its points' rows of f (B, M, C) per cell of idx (B, M). The points are cut into
    R runs (R = cell_row.shape[1]); run r takes points [r * M // R, (r + 1) * M // R), reads their rows in input
    order (a sequential stream) and numbers the cells it meets in first-seen order: ``cell_row[b, r, k]`` is
    cell k's row of ``table[b, r]`` (rows >= the run's cells, C) (-1: not met). A row is its first point's row
    + 0.0 (so -0.0 sums to +0.0, as in the reference), then each later point's row added in input order.
    Returns the count of indices outside [-1, cells); ``_merge_runs`` then completes the cells met by more
    than one run."""
    r_n, n_cells = cell_row.shape[1], cell_row.shape[2]
    m_n, c_n = f.shape[1], f.shape[2]
    m0, m1 = r * m_n // r_n, (r + 1) * m_n // r_n
    fr, ir, rows, tb = f[b, m0:m1], idx[b, m0:m1], cell_row[b, r], table[b, r]
    rows[:] = -1
    n, n_bad = 0, 0
    for m in range(m1 - m0):  # loops index slices from 0 (an index m0 + m keeps LLVM from vectorising)
        k = ir[m]
        if k >= 0 and k < n_cells:
            row = fr[m]
            if rows[k] < 0:
                rows[k] = n
                into = tb[n]
                n += 1
                for c in range(c_n):
                    into[c] = 0.0 + row[c]
            else:
                into = tb[rows[k]]
                for c in range(c_n):
                    into[c] += row[c]
        elif k != -1:
            n_bad += 1
    return n_bad


@njit(cache=True)
def _merge_runs(f, idx, cell_row, table, slot, met):  # type: ignore[no-untyped-def]
    """One table row per cell from the runs of ``_accumulate_run``. A cell's sum is in the first run that met it:
    ``slot[b, k]`` = its row of ``table[b]`` seen as (R * rows, C), -1 for an empty cell. Cells met by more than
    one run get the points of every later run added, in input order, onto that row (the later runs' own sums
    of them are unused): every cell's sum is then its points' rows added in input order. ``met`` (cells,) uint8
    is scratch: how many runs met each cell, counted up to 2."""
    b_n, r_n, n_cells = cell_row.shape
    m_n, cap = idx.shape[1], table.shape[2]
    for b in range(b_n):
        s = slot[b]
        s[:] = -1
        met[:] = 0
        for r in range(r_n - 1, -1, -1):
            rows = cell_row[b, r]
            for k in range(n_cells):
                hit = rows[k] >= 0
                met[k] = min(met[k] + hit, 2)
                s[k] = r * cap + rows[k] if hit else s[k]
        n_shared = 0
        for k in range(n_cells):
            n_shared += met[k] > 1
        if n_shared == 0:
            continue
        flat = table[b].reshape(r_n * cap, table.shape[3])
        late = np.empty(-(-m_n // r_n), np.int64)
        for r in range(1, r_n):
            m0, m1 = r * m_n // r_n, (r + 1) * m_n // r_n
            ir, fr = idx[b, m0:m1], f[b, m0:m1]
            n_late = 0
            for m in range(m1 - m0):  # branch-free: almost no point is late
                k = max(ir[m], 0)
                late[n_late] = m
                n_late += (ir[m] >= 0) & (met[k] > 1) & (s[k] < r * cap)
            for i in range(n_late):
                row, into = fr[late[i]], flat[s[ir[late[i]]]]
                for c in range(row.shape[0]):
                    into[c] += row[c]


@njit(inline="always")
def _fill_block(table, cells, block):  # type: ignore[no-untyped-def]
    """block (C, n) = the table rows of cells (n,) down their columns, 0 where a cell is empty (-1)."""
    for c in range(block.shape[0]):
        block_row = block[c]
        for j in range(block_row.shape[0]):
            block_row[j] = 0.0
    for j in range(cells.shape[0]):
        if cells[j] >= 0:
            row = table[cells[j]]
            for c in range(block.shape[0]):
                block[c, j] = row[c]


@njit(inline="always")
def _write_tile(table, slot, out, stream, t):  # type: ignore[no-untyped-def]
    """Tile t (of all batches' tiles of _CELL_TILE cells) of out (B, C, cells): C rows of the tile's cells,
    each cell's table row down its column, 0 for empty cells. ``stream`` (``out`` 64-byte aligned, cells a whole
    number of lines): the tile is built in a scratch block and copied out line by line with non-temporal
    stores, so the output is never read for ownership. The block's rows are one line longer than the tile: 1 KB
    apart, a cell's C stores down its column would all fall in 4 of L1's 64 sets (LSS write-out 0.48 → 0.37 ms
    warm with the padding). Otherwise the block of ``out`` itself is zeroed and filled. Loops index slices from
    0: an index ``k0 + j`` may be negative as far as Numba knows, and its wrap-around test keeps LLVM from
    vectorising."""
    c_n, n_cells = out.shape[1], out.shape[2]
    n_tiles = (n_cells + _CELL_TILE - 1) // _CELL_TILE
    lanes = LINE_BYTES // out.itemsize  # elements per line
    b = t // n_tiles
    k0 = (t % n_tiles) * _CELL_TILE
    k1 = min(n_cells, k0 + _CELL_TILE)
    tb, cells = table[b].reshape(table.shape[1] * table.shape[2], c_n), slot[b, k0:k1]
    if stream:
        scratch = np.empty((c_n, _CELL_TILE + lanes), out.dtype)
        _fill_block(tb, cells, scratch[:, : k1 - k0])
        flat = out[b].reshape(c_n * n_cells)
        for c in range(c_n):
            line_src = scratch[c]
            for q in range(0, k1 - k0, lanes):
                stream_line(flat, c * n_cells + k0 + q, line_src, q)
        store_fence()
    else:
        _fill_block(tb, cells, out[b, :, k0:k1])


@parallel_kernel
def _forward(f, idx, n_cells, runs):  # type: ignore[no-untyped-def]
    """(out (B, C, n_cells) per-cell sums of f (B, M, C) rows, count of indices of idx (B, M) outside
    [-1, n_cells); out is unset when that count is not 0). One call for the three steps: in the benchmark's
    state (caches full of the reference's data) every Python-level call and allocation costs 10-40 us.
    Memory: each run's table has room for min(cells, its points) rows but only the rows of cells it meets are
    touched, at most one per point: never more than the features' own size (LSS: 2 x 580 KB for 11 MB)."""
    b_n, m_n, c_n = f.shape
    cell_row = np.empty((b_n, runs, n_cells), np.int32)
    table = np.empty((b_n, runs, max(1, min(n_cells, -(-m_n // runs))), c_n), f.dtype)
    bad = np.zeros(b_n * runs, np.int64)
    for t in prange(b_n * runs):
        bad[t] = _accumulate_run(f, idx, cell_row, table, t // runs, t % runs)
    out = line_aligned(b_n * c_n * n_cells, f).reshape((b_n, c_n, n_cells))
    n_bad = bad.sum()
    if n_bad == 0:
        slot = np.empty((b_n, n_cells), np.int32)
        _merge_runs(f, idx, cell_row, table, slot, np.empty(n_cells, np.uint8))
        stream = can_stream(out)
        for t in prange(b_n * ((n_cells + _CELL_TILE - 1) // _CELL_TILE)):
            _write_tile(table, slot, out, stream, t)
    return out, n_bad


@parallel_kernel
def _transpose(src, dst):  # type: ignore[no-untyped-def]
    """src (B, R, S) → dst (B, S, R), parallel over tiles of _TILE columns of S (each a contiguous dst block)."""
    b_n, r_n, s_n = src.shape
    s_tiles = (s_n + _TILE - 1) // _TILE
    for t in prange(b_n * s_tiles):
        b = t // s_tiles
        s0 = (t % s_tiles) * _TILE
        s1 = min(s_n, s0 + _TILE)
        src_block, dst_block = src[b, :, s0:s1], dst[b, s0:s1]  # slices: indices from 0 (see ``_write_tile``)
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


def pool_forward(
    f: torch.Tensor, idx: torch.Tensor, n_cells: int, runs: int | None = None
) -> tuple[torch.Tensor, int]:
    """f (B, M, C), idx (B, M) → ((B, C, n_cells) sums, number of indices outside [-1, n_cells)). ``runs``:
    runs of points summed in parallel (default: Numba's thread count); the result does not depend on it."""
    m = f.shape[1]
    runs = max(1, min(get_num_threads() if runs is None else runs, m))
    out, bad = _forward(f.cpu().numpy(), idx.cpu().numpy(), n_cells, runs)
    return torch.from_numpy(out).to(f.device), int(bad)


@njit(cache=True)
def can_stream(out):  # type: ignore[no-untyped-def]
    """Whether the forward may write ``out`` (B, C, cells) with non-temporal line stores: C-contiguous, 64-byte
    aligned, and every channel row a whole number of lines (so every tile row starts a line). ``out`` has the
    features' dtype, which ``bev_pool`` has checked to be float32 or float64."""
    size = out.itemsize
    return (
        out.flags.c_contiguous
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
