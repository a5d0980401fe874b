"""torch.distributed set-up for runs launched by ``torchrun`` (gloo on the CPU, NCCL on CUDA).

Without ``WORLD_SIZE`` > 1 in the environment everything runs in one process and these helpers are no-ops.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from sensorfuse.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """rank / world_size / local_rank of this process and the device it computes on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → ``cuda:<local_rank>`` when CUDA is available, else ``cpu``; otherwise the named device."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"runtime.device={name!r} but CUDA is not available (use 'cpu' or 'auto')")
    if name == "cuda":
        return torch.device(f"cuda:{local_rank}")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"runtime.device: {e}") from e


def setup_distributed(device: str) -> DistInfo:
    """Initialise the process group if launched by torchrun (env WORLD_SIZE > 1); idempotent.

    On the CPU each rank's Numba kernels get as many threads as its torch (torchrun's default: 1), so that the
    ranks do not oversubscribe the cores.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world > 1 and dev.type == "cpu":  # the kernels take this rank's share of the cores, as torch does
        from sensorfuse.ops import set_kernel_threads

        set_kernel_threads(torch.get_num_threads())
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (JSON-able data), in rank order; ``[obj]`` when not distributed."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
