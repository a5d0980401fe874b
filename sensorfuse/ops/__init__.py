"""Kernels: ``voxelize`` (hard / dynamic / pillars) and ``bev_pool`` (camera frustum → BEV sum pooling).

Each op is a checking wrapper over plain kernels (Numba CPU, CUDA via numba.cuda) with a torch reference in
the same package; see docs/ops.md for the conventions and the backend choice.
"""

from sensorfuse.ops.bev_pool import bev_pool
from sensorfuse.ops.voxelize import VoxelResult, voxelize

__all__ = ["VoxelResult", "bev_pool", "voxelize"]
