"""Run by ``torchrun --nproc_per_node 2`` from test_ddp.py: 2 DDP steps of a toy model on the CPU (gloo)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from sensorfuse.engine.config import load_config
from sensorfuse.engine.distributed import cleanup_distributed, setup_distributed
from sensorfuse.engine.loop import fit


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1)

    def forward(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": ((self.lin(batch[:, :4]).squeeze(-1) - batch[:, 4]) ** 2).mean()}


def main(out: Path) -> None:
    cfg = load_config(
        None,
        [
            f"runtime.out_dir={out}",
            "optim.max_steps=2",
            "runtime.batch_size=2",
            "runtime.device=cpu",
            "runtime.progress=false",
            "optim.schedule=constant",
            "optim.warmup_steps=0",
        ],
    )
    info = setup_distributed("cpu")
    import numba

    (out / f"threads{info.rank}.txt").write_text(f"{torch.get_num_threads()} {numba.get_num_threads()}")
    torch.manual_seed(0)
    data = list(torch.randn(16, 5, generator=torch.Generator().manual_seed(1)))
    model = Toy()
    fit(model, data, torch.stack, cfg, info)
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, out / f"rank{info.rank}.pt")
    cleanup_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
