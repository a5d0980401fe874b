"""Glue between torch tensors and numba.cuda kernels (real GPU, or Numba's CUDA simulator on the CPU)."""

from __future__ import annotations

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
    from numba import cuda

    return cuda.as_cuda_array(t.detach())


def launch(kernel: Any, n: int, *args: Any) -> None:
    """Launch ``kernel`` with one thread per item over ``n`` items (nothing for n == 0)."""
    threads = 16 if simulator() else THREADS  # the simulator runs one Python thread per CUDA thread
    if n > 0:
        kernel[(n + threads - 1) // threads, threads](*args)
