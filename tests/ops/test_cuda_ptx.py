"""Every CUDA kernel compiles for a real GPU (sm_90), checked on the CPU with NVIDIA's NVVM compiler.

The simulator test (test_cuda_sim.py) checks what the kernels compute but runs them as Python; this one
checks that Numba's CUDA target types and compiles them. NVVM comes from the ``nvidia-cuda-nvcc-cu12`` wheel
(the dev extra); without it the test skips.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).with_name("cuda_ptx_check.py")


def nvvm_home() -> Path | None:
    """The directory holding nvvm/lib64/libnvvm.so and nvvm/libdevice: $CUDA_HOME, else the pip wheel's."""
    candidates = [Path(os.environ["CUDA_HOME"])] if os.environ.get("CUDA_HOME") else []
    spec = importlib.util.find_spec("nvidia")
    for root in spec.submodule_search_locations if spec and spec.submodule_search_locations else []:
        candidates.append(Path(root) / "cuda_nvcc")
    for home in candidates:
        if (home / "nvvm" / "lib64" / "libnvvm.so").is_file() and (home / "nvvm" / "libdevice").is_dir():
            return home
    return None


def test_cuda_kernels_compile_to_ptx() -> None:
    home = nvvm_home()
    if home is None:
        pytest.skip("no NVVM (pip install nvidia-cuda-nvcc-cu12, part of the dev extra)")
    env = dict(os.environ, CUDA_HOME=str(home))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    proc = subprocess.run([sys.executable, str(CHECK)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kernels compiled to PTX for sm_90" in proc.stdout
