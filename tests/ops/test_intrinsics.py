"""The LLVM intrinsics: prefetches change no result and refuse indices of the wrong rank; relaxed atomics
read and write the element they name; popcount counts set bits."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from sensorfuse.ops._intrinsics import (
    LINE_BYTES,
    line_aligned_empty,
    load_acquire,
    load_relaxed,
    popcount,
    prefetch,
    prefetch_write,
    store_fence,
    store_relaxed,
    store_release,
    stream_line,
)


@njit
def _gather_sum(a, order):  # type: ignore[no-untyped-def]
    total = 0.0
    for p in range(order.shape[0]):
        prefetch(a, (order[min(p + 4, order.shape[0] - 1)], 0))
        for c in range(a.shape[1]):
            total += a[order[p], c]
    return total


@njit
def _scatter(out, order, values):  # type: ignore[no-untyped-def]
    for p in range(order.shape[0]):
        prefetch_write(out, order[min(p + 4, order.shape[0] - 1)])
        out[order[p]] = values[p]


def test_prefetch_changes_no_result() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1000, 16))
    order = rng.permutation(1000)
    assert _gather_sum(a, order) == pytest.approx(float(a.sum()))
    out = np.zeros(1000)
    _scatter(out, order, np.arange(1000.0))
    np.testing.assert_array_equal(out[order], np.arange(1000.0))


def test_prefetch_refuses_wrong_index_rank() -> None:
    @njit
    def bad(a):  # type: ignore[no-untyped-def]
        prefetch(a, 3)  # a is 2-D: needs (i, j)

    with pytest.raises(TypingError):
        bad(np.zeros((4, 4)))


@njit
def _flag_roundtrip(a):  # type: ignore[no-untyped-def]
    store_relaxed(a, 1, 7)
    return load_relaxed(a, 1) + load_relaxed(a, 0)


def test_relaxed_load_store_roundtrip() -> None:
    a = np.array([5, -1, 0], np.int64)
    assert _flag_roundtrip(a) == 12 and a.tolist() == [5, 7, 0]


@njit
def _published(a):  # type: ignore[no-untyped-def]
    store_release(a, 2, 3)
    return load_acquire(a, 2) * 10 + load_acquire(a, 0)


def test_acquire_release_roundtrip_int32() -> None:
    a = np.array([4, 0, 0], np.int32)
    assert _published(a) == 34 and a.tolist() == [4, 0, 3]


def test_relaxed_load_is_bounds_checked() -> None:
    @njit
    def outside(a):  # type: ignore[no-untyped-def]
        return load_relaxed(a, 3)

    with pytest.raises(IndexError):
        outside(np.zeros(3, np.int64))


@njit
def _stream_copy(dst, i, src, j):  # type: ignore[no-untyped-def]
    stream_line(dst, i, src, j)
    store_fence()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stream_line_writes_one_line_and_nothing_else(dtype: type) -> None:
    lanes = LINE_BYTES // np.dtype(dtype).itemsize
    dst = line_aligned_empty((1, 1, 4 * lanes), np.dtype(dtype)).reshape(-1)
    assert dst.ctypes.data % LINE_BYTES == 0
    dst[:] = -1
    src = np.arange(3 * lanes, dtype=dtype)
    _stream_copy(dst, 2 * lanes, src, 5)  # source need not be aligned
    np.testing.assert_array_equal(dst[2 * lanes : 3 * lanes], src[5 : 5 + lanes])
    assert (dst[: 2 * lanes] == -1).all() and (dst[3 * lanes :] == -1).all()


def test_stream_line_checks_both_ranges() -> None:
    dst = line_aligned_empty((1, 1, 32), np.dtype(np.float32)).reshape(-1)
    with pytest.raises(IndexError):
        _stream_copy(dst, 16, np.zeros(20, np.float32), 5)  # source line ends at 21 > 20
    with pytest.raises(IndexError):
        _stream_copy(dst, 17, np.zeros(40, np.float32), 0)  # destination line ends at 33 > 32


def test_stream_line_refuses_mixed_or_integer_arrays() -> None:
    with pytest.raises(TypingError):
        _stream_copy(np.zeros(16, np.float32), 0, np.zeros(16, np.float64), 0)
    with pytest.raises(TypingError):
        _stream_copy(np.zeros(16, np.int32), 0, np.zeros(16, np.int32), 0)


@njit
def _popcounts(words):  # type: ignore[no-untyped-def]
    out = np.empty(words.shape[0], np.int64)
    for i in range(words.shape[0]):
        out[i] = popcount(words[i])
    return out


@pytest.mark.parametrize("dtype", [np.uint64, np.int64, np.uint32, np.int32])
def test_popcount_counts_set_bits(dtype: type) -> None:
    rng = np.random.default_rng(0)
    bits = np.iinfo(dtype).bits
    words = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, 200, dtype=dtype, endpoint=True)
    words[:3] = np.array([0, -1 if np.iinfo(dtype).min < 0 else np.iinfo(dtype).max, 1], dtype=dtype)
    expected = [bin(int(w) & ((1 << bits) - 1)).count("1") for w in words]
    assert _popcounts(words).tolist() == expected
    assert expected[:3] == [0, bits, 1]
