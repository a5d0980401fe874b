"""Kernels: ``voxelize`` (hard / dynamic / pillars) and ``bev_pool`` (camera frustum → BEV sum pooling).

Each op is a checking wrapper over plain kernels (Numba CPU, CUDA via numba.cuda) with a torch reference in
the same package; see docs/ops.md for the conventions and the backend choice.
"""

import numba
import torch

from sensorfuse.ops.bev_pool import bev_pool
from sensorfuse.ops.voxelize import VoxelResult, voxelize

__all__ = ["VoxelResult", "bev_pool", "set_kernel_threads", "voxelize"]


def set_kernel_threads(n: int) -> None:
    """Threads of the parallel Numba CPU kernels (at most ``NUMBA_NUM_THREADS``, the core count by default;
    results do not depend on it). Several processes on one machine (torchrun ranks) should each take their
    share, as torch's threads do: two ranks with two kernel threads each on two cores ran an evaluation 2x
    slower than with one each (``docs/training.md``)."""
    torch_threads = torch.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    torch.set_num_threads(torch_threads)  # starting Numba's OpenMP layer resets the process's OpenMP threads
