"""Numba CPU voxelize: cache-friendly, parallel, and identical to the reference whatever the thread count.

No dense lookup grid of a large grid (a 1440 x 1440 x 40 table is 332 MB and every lookup misses the cache) and
no global hash table (one cache miss per point). Both paths start with the keys of chunks of 16k points
(``_chunk_keys``): linear voxel key per point (-1 out of range, -2 non-finite), vectorised over blocks of 512
points (``_block_keys``: a multiply by 1 / size, redone with the division next to cell borders), and the
counts of non-finite and kept points.

Small grids (at most ``DENSE_MAX_CELLS``, e.g. the 540 x 540 pillar grid) keep a dense per-cell table:

1. ``_keys_and_head`` (two threads) — ``_head`` (serial): first-seen numbering, each point's voxel and slot,
   until ``max_voxels`` voxels are open, chunk by chunk, while the other thread computes the chunks' keys
   ahead of it; afterwards no voxel can open, so
2. ``_tail``  (parallel segments) — the remaining points are read-only lookups, counted per segment and voxel;
   a prefix over segments gives each tail point its slot;
3. ``_slot_starts`` (serial, over voxels) — each voxel's first entry in a slot-ordered list of point indices;
4. ``_fill``  (parallel) — point → voxel map and that list, then ``_write_rows``: each voxel row written once,
   in row order (its points gathered, each prefetched ``_GATHER_AHEAD`` list entries before its copy, zeros
   after them), coords and counts.

Larger grids group points in buckets small enough for L2:

0. ``_keys``       (parallel over chunks) — the keys, and a histogram of hash buckets (top bits of a
   multiplicative hash of the key) per chunk.
1. ``_partition``  (parallel over chunks) — stable counting-sort of (key, point index) by bucket.
2. ``_buckets``    (parallel over fixed groups of buckets) — each bucket's open-addressing hash table lives in
   L2. Reading the bucket in input order numbers its voxels in first-seen order; each point's voxel in the
   bucket and each voxel's key, first point and count are written in the bucket's own rows (sequential
   stores), and each voxel's first point is set in its group's bitmap of first points.
3. ``_rank_firsts`` (serial, over ceil(n / 64) words) — the bitmaps merged, set bits counted per word: the
   voxel of first point f is the number of first points before f (first-seen order).
4. ``_place``      (parallel over buckets) — each bucket's voxels numbered by that rank; each kept voxel's key
   and count; ``_slot_starts`` as above.
5. ``_emit``       (parallel) — point → voxel map and the slot-ordered list from the buckets' rows, then
   ``_write_rows``.

Every step writes each output element from exactly one thread in a fixed order (a chunk's keys computed by
both threads of ``_keys_and_head`` get the same values; bitmaps are merged with an OR), so results are bitwise
independent of the number of threads.

Hot loops index slices from 0 or use unsigned indices: an index like ``start + j`` may be negative as far as
Numba knows, and the wrap-around test it then emits kept LLVM from vectorising the key pass's loops (the
non-finite count ran at a third of its speed) and lengthened every dependent load.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from sensorfuse.ops._binning import point_key
from sensorfuse.ops._grid import VoxelGrid
from sensorfuse.ops._intrinsics import (
    load_acquire,
    load_relaxed,
    popcount,
    prefetch,
    prefetch_write,
    store_relaxed,
    store_release,
)
from sensorfuse.ops._parallel import parallel_kernel

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 16384  # points per chunk in the partition passes (fixed: independent of the thread count)
_BUCKET_POINTS = 2048  # target points per bucket: a 4096-slot table (32 KB with int32 keys) stays in L2
DENSE_MAX_CELLS = 1 << 21  # grids up to 2M cells (pillars: 540 x 540) take the dense-table path


_point_key = njit(inline="always")(point_key)


@njit(inline="always")
def _hash(key):  # type: ignore[no-untyped-def]
    return np.uint64(key) * _HASH_MUL


@njit(inline="always")
def _bucket(key, bucket_bits):  # type: ignore[no-untyped-def]
    return np.int64(_hash(key) >> np.uint64(64 - bucket_bits)) if bucket_bits > 0 else 0


_GROUPS = 8  # groups of buckets in ``_buckets``, each with its own bitmap of first points (fixed)
_AHEAD = 16  # points between a scattered store's prefetch and the store
_GATHER_AHEAD = 32  # entries of the slot-ordered point list between a point's prefetch and its copy
_BLOCK = 512  # points per block in ``_keys``: three float64 columns of a block (12 KB) stay in L1
_NEAR = (
    2.0**-48
)  # relative distance to a cell border under which ``_block_keys`` redoes an axis with the division


@njit(inline="always")
def _block_keys(pts, lo, size, inv, dims_f, buf, keys):  # type: ignore[no-untyped-def]
    """Keys of the (m <= _BLOCK, C) rows ``pts`` into ``keys`` (m,): the binning rule in a form LLVM vectorises.

    x, y, z are copied column-wise into ``buf`` (3, _BLOCK) float64, so the arithmetic runs four points per
    AVX2 instruction. ``q = floor((p - lo) / size)`` is taken as ``floor((p - lo) * (1 / size))``, which
    differs from the quotient by under ``|t| * 2**-51``: wherever a block has a product within
    ``|t| * 2**-48`` of an integer (a point on or next to a cell border) that axis of the block is redone with
    the division, so the result is the division's. ``np.floor`` (not ``math.floor``, which returns an int) keeps
    ``q`` a float: the range test is exact in float64 for every grid (dims < 2**53), and NaN or inf
    coordinates simply fail it (key -1; non-finite points are re-marked -2 by the caller). Same values as
    ``point_key``. The callers pass slices: an index ``start + j`` may be negative as far as Numba knows, and
    its wrap-around test stops LLVM from vectorising the loop.
    """
    m = pts.shape[0]
    for j in range(m):
        for a in range(3):
            buf[a, j] = pts[j, a]
    for a in range(3):
        lo_a, inv_a = lo[a], inv[a]
        near = 0
        for j in range(m):
            t = (buf[a, j] - lo_a) * inv_a
            q = np.floor(t)
            tol = abs(t) * _NEAR
            near += (t - q <= tol) | (q + 1.0 - t <= tol)
            buf[a, j] = q
        if near:
            size_a = size[a]
            for j in range(m):
                buf[a, j] = np.floor((np.float64(pts[j, a]) - lo_a) / size_a)
    nx, ny, nz = dims_f[0], dims_f[1], dims_f[2]
    for j in range(m):
        qx, qy, qz = buf[0, j], buf[1, j], buf[2, j]
        inside = (qx >= 0.0) & (qx < nx) & (qy >= 0.0) & (qy < ny) & (qz >= 0.0) & (qz < nz)
        # keys < 2**31 (the caller checks the grid): float64 → int32 converts four lanes per instruction
        # on AVX2, float64 → int64 has no vector form before AVX-512
        keys[j] = np.int32((qz * ny + qy) * nx + qx if inside else -1.0)


@njit(inline="always")
def _chunk_keys(points, t, lo, size, dims, keys):  # type: ignore[no-untyped-def]
    """Keys of chunk ``t`` (points ``t * _CHUNK`` on) into ``keys``; returns (non-finite points, kept points).

    Grids under 2**31 cells take the vectorised ``_block_keys`` (``keys`` int32); larger ones the scalar
    ``point_key`` (``keys`` int64). Loops run over slices of the chunk (see ``_block_keys``)."""
    n, c = points.shape
    narrow = dims[0] * dims[1] * dims[2] < 2**31
    flat = points.reshape(-1)
    start, stop = t * _CHUNK, min(n, (t + 1) * _CHUNK)
    chunk, chunk_keys = points[start:stop], keys[start:stop]
    found = 0
    if narrow:
        buf = np.empty((3, _BLOCK), np.float64)
        inv, dims_f = 1.0 / size, dims.astype(np.float64)
        for b in range(0, stop - start, _BLOCK):
            e = min(stop - start, b + _BLOCK)
            _block_keys(chunk[b:e], lo, size, inv, dims_f, buf, chunk_keys[b:e])
        # any non-finite value in the chunk's rows (features too)? a vectorised count; rarely taken
        values = flat[start * c : stop * c]
        bad = 0
        for k in range(values.shape[0]):
            bad += not math.isfinite(values[k])
        if bad:
            for i in range(chunk.shape[0]):
                finite = True
                for j in range(c):
                    finite &= math.isfinite(chunk[i, j])
                if not finite:
                    chunk_keys[i] = -2
                    found += 1
    else:
        for i in range(chunk.shape[0]):
            chunk_keys[i] = _point_key(points, start + i, lo, size, dims)
            found += chunk_keys[i] == -2
    kept = 0
    for i in range(chunk_keys.shape[0]):
        kept += chunk_keys[i] >= 0
    return found, kept


@parallel_kernel
def _keys(points, lo, size, dims, bucket_bits, count, keys, hist):  # type: ignore[no-untyped-def]
    """Linear key per point (-1 out of range, -2 non-finite) and, if ``count``, each chunk's bucket histogram
    (``_chunk_keys`` per chunk). Returns (non-finite points, kept points)."""
    n_chunks = hist.shape[0]
    nonfinite = 0
    valid = 0
    for t in prange(n_chunks):
        found, kept = _chunk_keys(points, t, lo, size, dims, keys)
        nonfinite += found
        valid += kept
        # bucket histogram in its own loop over the chunk's L2-resident keys; none on the dense path
        if count:
            h = hist[t]
            chunk_keys = keys[t * _CHUNK : (t + 1) * _CHUNK]
            for i in range(chunk_keys.shape[0]):
                if chunk_keys[i] >= 0:
                    h[_bucket(chunk_keys[i], bucket_bits)] += 1
    return nonfinite, valid


@parallel_kernel
def _partition(keys, bucket_bits, offsets, part):  # type: ignore[no-untyped-def]
    """Stable counting sort of (key, point index) by bucket; chunk t's points of bucket b go from
    ``offsets[t, b]`` on. Indices are unsigned or run over slices: no wrap-around tests (see ``_block_keys``).
    Each chunk writes ~256 streams at once, more than the hardware prefetcher follows: every store asks for
    its stream's line two lines (16 rows) ahead, for writing (``tools/ab_voxelize.py``, 0.075 m rows:
    1.00-1.08x, medians of six runs 1.03x)."""
    for t in prange(offsets.shape[0]):
        pos = offsets[t].astype(np.uint64)
        chunk_keys = keys[t * _CHUNK : (t + 1) * _CHUNK]
        for j in range(chunk_keys.shape[0]):
            k = chunk_keys[j]
            if k >= 0:
                b = np.uint64(_bucket(k, bucket_bits))
                at = pos[b]
                prefetch_write(part, (at + np.uint64(16), 0))
                part[at, 0] = k
                part[at, 1] = t * _CHUNK + j
                pos[b] = at + np.uint64(1)


@parallel_kernel
def _buckets(part, starts, bucket_bits, loc, bkey, bfirst, bcount, nvb, firsts):  # type: ignore[no-untyped-def]
    """Each bucket grouped with its own open-addressing table (at most half full, ~48 KB: L2-resident).

    ``part`` (m, 2): (key, point index) rows in bucket order, bucket b in ``starts[b]:starts[b + 1]``. Reading a
    bucket in order (= input order) numbers its voxels ``u`` in first-seen order. Everything is written in the
    bucket's own rows, sequentially: ``loc`` (m,) each point's ``u``; ``bkey``/``bfirst``/``bcount`` (m,) at
    ``starts[b] + u`` each voxel's key, first point and point count; ``nvb[b]`` its voxel count. The one
    scattered write is a bit per voxel: its first point's bit in ``firsts[g]`` ((G, ceil(n / 64)) uint64, one
    bitmap per group of buckets, 37.5 KB for 300k points, so no two threads share a word; ``_rank_firsts``
    merges them). Groups are fixed, not per thread: the result is the same for any thread count.
    """
    n_b = starts.shape[0] - 1
    n_groups = firsts.shape[0]
    per = -(-n_b // n_groups)
    one = np.uint64(1)
    for g in prange(n_groups):
        bm = firsts[g]
        bm[:] = 0
        for b in range(g * per, min(n_b, (g + 1) * per)):
            lo, m = starts[b], starts[b + 1] - starts[b]
            # the table sized by the bucket's own count (at most half full): the slots to clear follow the points
            table_bits = 4
            while (1 << table_bits) < 2 * m:
                table_bits += 1
            umask = np.uint64((1 << table_bits) - 1)
            shift = np.uint64(64 - bucket_bits - table_bits)
            t_keys = np.full(1 << table_bits, -1, part.dtype)
            t_voxel = np.empty(1 << table_bits, np.int32)
            # the bucket's slices, unsigned table slots: no wrap-around tests in the loop (see ``_block_keys``)
            b_keys, b_idx, b_loc = part[lo : lo + m, 0], part[lo : lo + m, 1], loc[lo : lo + m]
            b_key, b_first, b_count = bkey[lo : lo + m], bfirst[lo : lo + m], bcount[lo : lo + m]
            nv = 0
            for j in range(m):
                k = b_keys[j]
                h = (_hash(k) >> shift) & umask
                while t_keys[h] != k and t_keys[h] != -1:
                    h = (h + one) & umask
                if t_keys[h] == -1:
                    t_keys[h] = k
                    t_voxel[h] = nv
                    i = np.uint64(b_idx[j])
                    b_key[nv] = k
                    b_first[nv] = i
                    b_count[nv] = 1
                    bm[i >> np.uint64(6)] |= one << (i & np.uint64(63))
                    b_loc[j] = nv
                    nv += 1
                else:
                    u = np.uint32(t_voxel[h])
                    b_count[u] += 1
                    b_loc[j] = u
            nvb[b] = nv


@njit(cache=True)
def _rank_firsts(firsts, word_rank):  # type: ignore[no-untyped-def]
    """Merge the groups' bitmaps into ``firsts[0]`` and set ``word_rank[w]`` = first points before word w.

    The rank of a first point f, i.e. its voxel's number in first-seen order, is then ``word_rank[f >> 6]`` plus
    the set bits of ``firsts[0, f >> 6]`` below bit ``f & 63`` (``_first_rank``). Returns the number of voxels.
    Serial: ceil(n / 64) words (4,700 for 300k points)."""
    run = 0
    for w in range(firsts.shape[1]):
        x = np.uint64(0)
        for g in range(firsts.shape[0]):
            x |= firsts[g, w]
        firsts[0, w] = x
        word_rank[w] = run
        run += popcount(x)
    return run


@njit(inline="always")
def _first_rank(bits, word_rank, f):  # type: ignore[no-untyped-def]
    """Number of first points before point ``f`` (a uint64), from ``_rank_firsts``' merged bitmap ``bits``."""
    w = f >> np.uint64(6)
    below = (np.uint64(1) << (f & np.uint64(63))) - np.uint64(1)
    return word_rank[w] + popcount(bits[w] & below)


@parallel_kernel
def _place(starts, nvb, bits, word_rank, n_vox, bkey, bfirst, bcount, vkey, cnt):  # type: ignore[no-untyped-def]
    """Each bucket's voxels numbered globally by their first point's rank; voxel v < ``n_vox`` (the kept ones)
    gets ``vkey[v]`` and ``cnt[v]``. ``bfirst`` is overwritten with each voxel's number, -1 if not kept.

    A bucket's voxels are numbered in first-seen order, so their first points, hence their ranks, increase
    with ``u``: from the first voxel past the cap on, none of the bucket's voxels is kept, and they are marked
    without their ranks (the uniform cloud on the 0.075 m grid keeps 120k of its 299k voxels)."""
    for b in prange(starts.shape[0] - 1):
        lo = starts[b]
        b_key, b_first, b_count = bkey[lo:], bfirst[lo:], bcount[lo:]
        for u in range(nvb[b]):
            r = _first_rank(bits, word_rank, np.uint64(b_first[u]))
            if r >= n_vox:
                b_first[u : nvb[b]] = -1
                break
            vkey[r] = b_key[u]
            cnt[r] = b_count[u]
            b_first[u] = r


@njit(inline="always")
def _divmod(k, d):  # type: ignore[no-untyped-def]
    """(k // d, k % d) for k >= 0, d >= 1. Below 2**53 a float64 quotient corrected by one step: an integer
    division by a run-time divisor does not vectorise and cost 3x as much in the coords loop."""
    if k >= 2**53:
        return k // d, k % d
    q = np.int64(np.float64(k) / np.float64(d))
    r = k - q * d
    if r < 0:
        q -= 1
        r += d
    elif r >= d:
        q += 1
        r -= d
    return q, r


@njit(inline="always")
def _decode(k, nx, ny, out):  # type: ignore[no-untyped-def]
    """(z, y, x) of linear key ``k = (z * ny + y) * nx + x`` into ``out`` (3,)."""
    z, rest = _divmod(np.int64(k), nx * ny)
    y, x = _divmod(rest, nx)
    out[0] = z
    out[1] = y
    out[2] = x


@njit(cache=True)
def _head(keys, nv, cell, v_cap, p_cap, vid, pos, cnt, vkey):  # type: ignore[no-untyped-def]
    """Serial first-seen numbering with a dense per-cell table, up to the point that opens voxel ``v_cap``.

    ``cell[k]`` = 1 + voxel of cell k, 0 for none yet (uint16 when ``v_cap`` < 2**16: the pillar grid's table
    is 580 KB and a zero-filled allocation; int32 otherwise). Writes ``vid[i]`` (voxel, -1 dropped) and
    ``pos[i]`` (slot in the voxel) of each point read, ``cnt[v]`` and ``vkey[v]`` of each voxel opened.
    Continues from ``nv`` voxels open. Returns (voxels open, points read): once ``v_cap`` voxels are open no
    cell can open another, so the remaining points need only read-only lookups (``_tail``, parallel).
    """
    n = keys.shape[0]
    i = 0
    while i < n and nv < v_cap:
        k = keys[i]
        v = -1
        s = 0
        if k >= 0:
            v = int(cell[k]) - 1
            if v < 0:
                v = nv
                cell[k] = nv + 1
                cnt[nv] = 1
                vkey[nv] = k
                nv += 1
            else:
                s = cnt[v]
                cnt[v] = s + 1
                if s >= p_cap:
                    v = -1
        vid[i] = v
        pos[i] = s
        i += 1
    return nv, i


@njit(inline="always")
def _keys_of_chunk(points, ch, lo, size, dims, keys, counts, ready):  # type: ignore[no-untyped-def]
    """``_chunk_keys`` of chunk ``ch`` with its counts into ``counts[ch]``, then ``ready[ch]`` set (release)."""
    found, kept = _chunk_keys(points, ch, lo, size, dims, keys)
    counts[ch, 0] = found
    counts[ch, 1] = kept
    store_release(ready, ch, 1)


@parallel_kernel
def _keys_and_head(
    points, lo, size, dims, keys, counts, ready, cell, v_cap, p_cap, vid, pos, cnt, vkey, state
):  # type: ignore[no-untyped-def]
    """The dense path's key pass and serial head at once, on two threads.

    Thread 0 runs ``_head`` chunk by chunk, computing a chunk's keys itself where they are not ready yet, then
    computes keys from the last chunk down; thread 1 computes keys from chunk 1 up. Each stops where the other
    has been (``state[2]``: chunks below it done by thread 1; ``state[3]``: chunks from it on done by thread 0),
    so every chunk's keys are computed at least once; a chunk computed by both gets the same keys and counts.
    (Each key is stored once per computation, with its final value, except that a non-finite point's -1 becomes
    -2: the head reading either drops the point, so a chunk the other thread is still writing is read right.)
    Neither waits for the other, so it also runs on one thread (forked workers, ``sensorfuse.ops.set_kernel_threads(1)``).
    ``counts`` (chunks, 2): non-finite and kept points per chunk; ``ready`` (chunks,) zeros in; ``state`` in
    (-1, -1, 1, chunks), out[:2]: (voxels open, points read by the head).
    """
    n = points.shape[0]
    n_chunks = ready.shape[0]
    for t in prange(2):
        if t == 0:
            nv = 0
            read = 0
            for ch in range(n_chunks):
                if load_acquire(ready, ch) == 0:
                    _keys_of_chunk(points, ch, lo, size, dims, keys, counts, ready)
                a, b = ch * _CHUNK, min(n, (ch + 1) * _CHUNK)
                nv, r = _head(keys[a:b], nv, cell, v_cap, p_cap, vid[a:b], pos[a:b], cnt, vkey)
                read += r
                if nv >= v_cap:
                    break
            state[0] = nv
            state[1] = read
            for ch in range(n_chunks - 1, -1, -1):
                if ch < load_relaxed(state, 2):
                    break
                if load_acquire(ready, ch) == 0:
                    _keys_of_chunk(points, ch, lo, size, dims, keys, counts, ready)
                store_relaxed(state, 3, ch)
        else:
            for ch in range(1, n_chunks):
                if ch >= load_relaxed(state, 3):
                    break
                if load_acquire(ready, ch) == 0:
                    _keys_of_chunk(points, ch, lo, size, dims, keys, counts, ready)
                store_relaxed(state, 2, ch + 1)


@parallel_kernel
def _tail(keys, start, cell, seg_len, base, vid, pos, cnt):  # type: ignore[no-untyped-def]
    """Points ``start:`` after the voxel cap: read-only lookups in parallel segments of ``seg_len`` points.

    Each segment counts its points per voxel (``base[s]``; ``pos[i]`` = rank inside the segment), then a
    prefix over segments turns the counts into each segment's first slot per voxel, and ``cnt`` into the
    totals. The slot of a tail point is ``base[segment, v] + pos[i]`` (added in ``_fill``): the same for
    every segment length, so the result does not depend on the thread count.
    """
    n = keys.shape[0]
    n_seg = base.shape[0]
    for s in prange(n_seg):
        h = base[s]
        h[:] = 0
        for i in range(start + s * seg_len, min(n, start + (s + 1) * seg_len)):
            k = keys[i]
            v = int(cell[k]) - 1 if k >= 0 else -1
            if v >= 0:
                pos[i] = h[v]
                h[v] += 1
            vid[i] = v
    for v in prange(cnt.shape[0]):
        run = cnt[v]
        for s in range(n_seg):
            c = base[s, v]
            base[s, v] = run
            run += c
        cnt[v] = run


@njit(cache=True)
def _slot_starts(cnt, p_cap, starts):  # type: ignore[no-untyped-def]
    """starts[v] = sum over u < v of min(cnt[u], p_cap): voxel v's first entry in the slot-ordered point list."""
    run = 0
    for v in range(cnt.shape[0]):
        starts[v] = run
        run += min(cnt[v], p_cap)
    starts[cnt.shape[0]] = run


@parallel_kernel
def _fill(
    points,
    start,
    seg_len,
    base,
    vid,
    pos,
    vkey,
    nx,
    ny,
    p_cap,
    starts,
    order,
    voxels,
    coords,
    num_points,
    p2v,
):  # type: ignore[no-untyped-def]
    """Point → voxel map and the slot-ordered point list ``order`` from ``vid``/``pos`` (tail points: slot offset
    ``base``), then the voxels row by row (``_write_rows``)."""
    copy = voxels.shape[1] > 0
    for i in prange(start):  # head points: final slots
        v = vid[i]
        p2v[i] = v
        if copy and v >= 0:
            order[starts[v] + pos[i]] = i
    for s in prange(base.shape[0]):  # tail segment s: slots offset by the earlier points of each voxel
        first = base[s]
        lo = start + s * seg_len
        hi = min(points.shape[0], lo + seg_len)
        seg_vid, seg_pos, seg_p2v = vid[lo:hi], pos[lo:hi], p2v[lo:hi]  # slices: see ``_block_keys``
        for j in range(seg_vid.shape[0]):
            v = seg_vid[j]
            if v >= 0:
                slot = seg_pos[j] + first[np.uint64(v)]
                if slot >= p_cap:
                    v = -1
                elif copy:
                    order[np.uint64(starts[np.uint64(v)] + slot)] = lo + j
            seg_p2v[j] = v
    _write_rows(points, starts, order, vkey, nx, ny, voxels, coords, num_points)


@njit(inline="always")
def _gather_row(points, members, row):  # type: ignore[no-untyped-def]
    """``row[s] = points[members[s]]`` for each member (the rest of ``row`` untouched)."""
    for s in range(members.shape[0]):
        i = np.uint64(members[s])  # unsigned: no wrap-around test (see ``_block_keys``)
        for j in range(points.shape[1]):
            row[s, j] = points[i, j]


@njit(inline="always")
def _write_rows(points, starts, order, vkey, nx, ny, voxels, coords, num_points):  # type: ignore[no-untyped-def]
    """Each voxel row written once, in row order: its points gathered through ``order``, zeros after them.
    Sequential stores instead of points scattered into rows that a zeroing pass had pushed out of the cache."""
    copy = voxels.shape[1] > 0
    n_order = order.shape[0]
    # nearly one point a voxel (the uniform cloud on the 0.075 m grid): the list is then the input order, which
    # the hardware prefetcher follows, and the software prefetch only costs (``tools/ab_voxelize.py``: 1.05-1.11x
    # without it there, 0.87-0.89x without it on the real cloud's 1.7 points a voxel)
    ahead = n_order > coords.shape[0] + coords.shape[0] // 4
    last = points.shape[1] - 1
    for v in prange(coords.shape[0]):
        if copy:
            if ahead:
                # the points come from anywhere in the input: ask for those _GATHER_AHEAD entries on now, both
                # ends of each row (a 20-byte row crosses a line boundary one time in four)
                for q in range(starts[v] + _GATHER_AHEAD, min(starts[v + 1] + _GATHER_AHEAD, n_order)):
                    i = np.uint64(order[q])
                    prefetch(points, (i, 0))
                    prefetch(points, (i, last))
            members = order[starts[v] : starts[v + 1]]
            voxels[v, members.shape[0] :] = 0
            _gather_row(points, members, voxels[v])
        _decode(vkey[v], nx, ny, coords[v])
        num_points[v] = starts[v + 1] - starts[v]


@parallel_kernel
def _emit(
    points, part, starts_b, loc, vnum, vkey, nx, ny, p_cap, starts, order, voxels, coords, num_points, p2v
):  # type: ignore[no-untyped-def]
    """Point → voxel map and the slot-ordered point list ``order`` from the buckets' rows, then the voxels row by
    row (``_write_rows``). ``p2v`` is first set to -1 sequentially (out-of-range points are in no bucket), then
    each bucket's points store their voxel there: a scattered store, its line asked for ``_AHEAD`` points early.
    A point's slot is its rank among its voxel's points in the bucket (= input order)."""
    n = points.shape[0]
    copy = voxels.shape[1] > 0
    for t in prange(-(-n // _CHUNK)):
        p2v[t * _CHUNK : (t + 1) * _CHUNK] = -1
    for b in prange(starts_b.shape[0] - 1):
        lo, m = starts_b[b], starts_b[b + 1] - starts_b[b]
        b_idx, b_loc, b_vnum = part[lo : lo + m, 1], loc[lo : lo + m], vnum[lo:]
        seen = np.zeros(m, np.int32)  # per voxel of the bucket: at most its point count
        for j in range(m):
            if j + _AHEAD < m:
                prefetch_write(p2v, np.uint64(b_idx[j + _AHEAD]))
            u = np.uint32(b_loc[j])
            s = seen[u]
            seen[u] = s + 1
            v = b_vnum[u]
            if v >= 0 and s < p_cap:
                i = np.uint64(b_idx[j])
                p2v[i] = v
                if copy:
                    order[np.uint64(starts[v] + s)] = i
    _write_rows(points, starts, order, vkey, nx, ny, voxels, coords, num_points)


def voxelize_numba(
    points: np.ndarray, grid: VoxelGrid, max_points: int, max_voxels: int, hard: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Same outputs and order as ``voxelize_reference`` for a C-contiguous (N, C) float array, N < 2**31."""
    n, c = points.shape
    keys = np.empty(n, np.int32 if grid.num_cells < 2**31 else np.int64)
    p2v = np.empty(n, np.int64)
    if grid.num_cells <= DENSE_MAX_CELLS:
        return _voxelize_dense(points, keys, grid, max_points, max_voxels, hard, p2v)
    bucket_bits = max(0, math.ceil(math.log2(max(1, n // _BUCKET_POINTS))))
    hist = np.zeros((max(1, -(-n // _CHUNK)), 1 << bucket_bits), np.int64)
    nonfinite, n_valid = _keys(
        points, grid.lo_array(), grid.size_array(), grid.dims_array(), bucket_bits, True, keys, hist
    )
    # every voxel has a kept point: min(max_voxels, kept points) rows hold them all (sliced to the count)
    voxels = np.empty((min(max_voxels, int(n_valid)), max_points if hard else 0, c), dtype=points.dtype)
    # large grids: bucketed grouping, voxels numbered through a bitmap of first points, emit (all parallel)
    part, starts_b = _partitioned(keys, hist, bucket_bits)
    m = part.shape[0]
    loc, bfirst, bcount = np.empty(m, np.int32), np.empty(m, np.int32), np.empty(m, np.int32)
    bkey = np.empty(m, keys.dtype)
    nvb = np.empty(len(starts_b) - 1, np.int64)
    firsts = np.empty((_GROUPS, -(-n // 64)), np.uint64)
    _buckets(part, starts_b, bucket_bits, loc, bkey, bfirst, bcount, nvb, firsts)
    word_rank = np.empty(firsts.shape[1], np.int64)
    n_vox = min(int(_rank_firsts(firsts, word_rank)), max_voxels)
    vkey = np.empty(n_vox, keys.dtype)
    cnt = np.empty(n_vox, np.int32)
    _place(starts_b, nvb, firsts[0], word_rank, n_vox, bkey, bfirst, bcount, vkey, cnt)
    starts = np.empty(n_vox + 1, np.int32)
    _slot_starts(cnt, max_points, starts)
    coords = np.empty((n_vox, 3), np.int32)
    num_points = np.empty(n_vox, np.int32)
    order = np.empty(int(starts[n_vox]) if hard else 0, np.int32)
    nx, ny = grid.dims[0], grid.dims[1]
    out = (starts, order, voxels[:n_vox], coords, num_points, p2v)
    _emit(points, part, starts_b, loc, bfirst, vkey, nx, ny, max_points, *out)
    return _trimmed(voxels, n_vox), coords, num_points, p2v, int(nonfinite)


def _trimmed(voxels: np.ndarray, n_vox: int) -> np.ndarray:
    """``voxels[:n_vox]``, copied when that is under half the buffer: the buffer was sized before the count
    was known (min(max_voxels, kept points) rows), and a view would keep all of it alive."""
    return voxels[:n_vox].copy() if 2 * n_vox < voxels.shape[0] else voxels[:n_vox]


def _voxelize_dense(
    points: np.ndarray,
    keys: np.ndarray,
    grid: VoxelGrid,
    p_cap: int,
    v_cap: int,
    hard: bool,
    p2v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Dense-table path: keys and the serial head side by side up to the voxel cap, parallel tail, parallel
    fill. Returns ``voxelize_numba``'s outputs."""
    n, c = points.shape
    cap_rows = min(v_cap, n)  # voxels the head can open
    cell = np.zeros(grid.num_cells, np.uint16 if v_cap < 2**16 else np.int32)
    vid = np.empty(n, np.int32)
    pos = np.empty(n, np.int32)
    cnt = np.empty(cap_rows, np.int32)
    vkey = np.empty(cap_rows, keys.dtype)
    n_chunks = max(1, -(-n // _CHUNK))
    counts, ready = np.zeros((n_chunks, 2), np.int64), np.zeros(n_chunks, np.int64)
    state = np.array([-1, -1, 1, n_chunks], np.int64)
    lo, size, dims = grid.lo_array(), grid.size_array(), grid.dims_array()
    _keys_and_head(
        points, lo, size, dims, keys, counts, ready, cell, v_cap, p_cap, vid, pos, cnt, vkey, state
    )
    n_vox, stop = int(state[0]), int(state[1])
    nonfinite = int(counts[:, 0].sum())
    # every voxel has a kept point: min(v_cap, kept points) rows hold them all (sliced to the count)
    voxels = np.empty((min(v_cap, int(counts[:, 1].sum())), p_cap if hard else 0, c), dtype=points.dtype)
    n_seg = max(1, min(numba.get_num_threads(), n - stop))
    seg_len = max(1, -(-(n - stop) // n_seg))
    base = np.empty((n_seg, n_vox), np.int32)
    if stop < n:
        _tail(keys, stop, cell, seg_len, base, vid, pos, cnt[:n_vox])
    coords = np.empty((n_vox, 3), np.int32)
    num_points = np.empty(n_vox, np.int32)
    starts = np.empty(n_vox + 1, np.int32)
    _slot_starts(cnt[:n_vox], p_cap, starts)
    order = np.empty(int(starts[-1]) if voxels.shape[1] else 0, np.int32)
    nx, ny = grid.dims[0], grid.dims[1]
    tail = (stop, seg_len, base)
    out = (voxels[:n_vox], coords, num_points, p2v)
    _fill(points, *tail, vid, pos, vkey, nx, ny, p_cap, starts, order, *out)
    return _trimmed(voxels, n_vox), coords, num_points, p2v, nonfinite


def _partitioned(keys: np.ndarray, hist: np.ndarray, bucket_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Kept points' (key, point index) rows sorted by hash bucket (stable), and each bucket's first row."""
    flat = hist.T.ravel()  # chunk t of bucket b starts after all earlier buckets and earlier chunks of b
    offsets = (np.cumsum(flat) - flat).reshape(hist.T.shape).T.copy()
    per_bucket = hist.sum(axis=0)
    starts = np.concatenate([[0], np.cumsum(per_bucket)])
    # (key, point index) rows, in the keys' dtype (int32 for grids under 2**31 cells): one write stream per
    # bucket in the partition instead of two
    part = np.empty((int(starts[-1]), 2), keys.dtype)
    _partition(keys, bucket_bits, offsets, part)
    return part, starts
