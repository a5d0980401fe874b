"""The Numba kernels keep working in fork-based worker processes after the parent used them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_kernels_work_in_forked_children() -> None:
    script = Path(__file__).with_name("fork_check.py")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "forked children ok" in proc.stdout
