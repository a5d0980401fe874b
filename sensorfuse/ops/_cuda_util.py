"""Glue between torch tensors and numba.cuda kernels (real GPU, or Numba's CUDA simulator on the CPU).

Kernels run on torch's current stream and take zero-copy views of torch tensors that do **not** synchronise
that stream: Numba's default for ``__cuda_array_interface__`` imports is to synchronise the exporter's stream,
which would cost one host round trip per kernel argument. Ordering comes from the single stream instead:
every torch op and kernel of a call is queued on it in program order (and torch's caching allocator only
reuses a freed tensor's memory for work queued after it on that stream).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch

THREADS = 256


def simulator() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


def kernel_arg(t: torch.Tensor) -> Any:
    """A zero-copy view of ``t`` that a numba.cuda kernel accepts (a numpy view under the simulator)."""
    if simulator():
        return t.detach().cpu().numpy()
    return _as_cuda_array()(t.detach())


@functools.lru_cache(maxsize=1)
def _as_cuda_array() -> Any:
    """``cuda.as_cuda_array`` without the stream synchronisation (its ``sync`` argument, in numba's built-in
    ``numba.cuda`` and in NVIDIA's ``numba-cuda``; a version without it gets the synchronising call)."""
    import inspect

    from numba import cuda

    if "sync" in inspect.signature(cuda.as_cuda_array).parameters:
        return functools.partial(cuda.as_cuda_array, sync=False)
    return cuda.as_cuda_array


@functools.lru_cache(maxsize=8)
def _numba_stream(ptr: int) -> Any:
    from numba import cuda

    return cuda.external_stream(ptr)


def launch(kernel: Any, n: int, *args: Any) -> None:
    """Launch ``kernel`` with one thread per item over ``n`` items (nothing for n == 0), on torch's current
    CUDA stream (the legacy default stream, Numba's default, when that is torch's)."""
    if n <= 0:
        return
    if simulator():  # the simulator runs one Python thread per CUDA thread: small blocks
        kernel[(n + 15) // 16, 16](*args)
        return
    blocks = (n + THREADS - 1) // THREADS
    ptr = torch.cuda.current_stream().cuda_stream
    if ptr == 0:
        kernel[blocks, THREADS](*args)
    else:
        kernel[blocks, THREADS, _numba_stream(ptr)](*args)
