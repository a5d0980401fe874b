"""The CUDA kernels, run on the CPU in Numba's CUDA simulator (a subprocess: the simulator is process-wide)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHECK = Path(__file__).with_name("cuda_sim_check.py")


def test_cuda_kernels_in_simulator_equal_reference() -> None:
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, str(CHECK)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "equal the references" in proc.stdout
