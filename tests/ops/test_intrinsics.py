"""The LLVM intrinsics: prefetches change no result and refuse indices of the wrong rank; relaxed atomics
read and write the element they name."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from sensorfuse.ops._intrinsics import load_relaxed, prefetch, prefetch_write, store_relaxed


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


def test_relaxed_load_is_bounds_checked() -> None:
    @njit
    def outside(a):  # type: ignore[no-untyped-def]
        return load_relaxed(a, 3)

    with pytest.raises(IndexError):
        outside(np.zeros(3, np.int64))
