"""DDP on the CPU: torchrun with 2 processes and the gloo backend; both ranks end with the same weights."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import torch


def test_ddp_two_cpu_processes_agree(tmp_path: Path, torchrun: list[str]) -> None:
    worker = Path(__file__).with_name("ddp_worker.py")
    cmd = [
        *torchrun,
        str(worker),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    # the step changed the weights (same init on both ranks via seed 0)
    torch.manual_seed(0)
    init = torch.nn.Linear(4, 1).state_dict()
    assert not torch.equal(init["weight"], r0["lin.weight"])
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
    # each rank's Numba kernels take its share of the cores, as its torch threads do (OMP_NUM_THREADS=1)
    for rank in (0, 1):
        assert (tmp_path / f"threads{rank}.txt").read_text() == "1 1"
