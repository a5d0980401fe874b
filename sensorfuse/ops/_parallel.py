"""Numba parallel kernels that stay usable in forked child processes.

Numba's default threading layer here is GNU OpenMP, which aborts a forked child that enters a parallel
region after the parent did ("fork() called from a process already using GNU OpenMP"): exactly what a
fork-based torch DataLoader worker would do. Every parallel kernel therefore has a serial twin (same code,
``prange`` acting as ``range``), compiled on first use in a forked child; results are identical because the
kernels are independent of the thread count by construction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from numba import njit

_FORKED = False


def _mark_forked() -> None:
    global _FORKED
    _FORKED = True


os.register_at_fork(after_in_child=_mark_forked)


class ParallelKernel:
    """``njit(parallel=True, cache=True)`` of ``fn`` in the main process, plain ``njit`` in forked children."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.parallel = njit(parallel=True, cache=True)(fn)
        self._serial: Any = None

    def __call__(self, *args: Any) -> Any:
        if not _FORKED:
            return self.parallel(*args)
        if self._serial is None:
            self._serial = njit(self.fn)
        return self._serial(*args)


def parallel_kernel(fn: Callable[..., Any]) -> ParallelKernel:
    return ParallelKernel(fn)
