"""Two versions of ``sensorfuse/ops/_voxel_numba.py`` timed against each other in one process, interleaved.

    git show HEAD~1:sensorfuse/ops/_voxel_numba.py > /tmp/old_voxel_numba.py
    NUMBA_CACHE_DIR=$(mktemp -d) .venv/bin/python tools/ab_voxelize.py /tmp/old_voxel_numba.py \\
        sensorfuse/ops/_voxel_numba.py [--cold] [vox|pil]

Each round calls ``voxelize_numba`` of version A, then of B, on the ops benchmark's inputs (uniform 300k, the
real keyframe + 9 sweeps) and grids, after checking that both give the same outputs; ``--cold`` evicts the
caches (a 256 MB write) before every call. Prints medians, minima and A/B ratios (> 1: B is faster). A fresh
``NUMBA_CACHE_DIR`` keeps Numba from loading a cache entry of a file loaded under another module name. Both
files must import only modules that exist in this checkout (they import ``sensorfuse.ops._*`` helpers).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from functools import partial
from pathlib import Path
from types import ModuleType

import numpy as np

from sensorfuse.bench.ops import GRIDS, RANGE, realistic_cloud, uniform_cloud
from sensorfuse.ops._grid import make_grid

ROUNDS = 50
_EVICT = np.ones(32 * 2**20)


def load(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, Path(path))
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    files = [a for a in argv if a.endswith(".py")]
    if len(files) != 2:
        raise SystemExit(__doc__)
    cold = "--cold" in argv
    only = [a for a in argv if a in ("vox", "pil")]
    a_mod, b_mod = load(files[0], "voxel_numba_a"), load(files[1], "voxel_numba_b")
    clouds = {"uniform": uniform_cloud(), "real": realistic_cloud()}
    for cloud_name, pts in clouds.items():
        if pts is None:
            continue
        for grid_name, g in GRIDS.items():
            if only and grid_name[:3] not in only:
                continue
            grid = make_grid(g["voxel_size"], RANGE)
            args = (pts, grid, g["max_points"], g["max_voxels"], True)
            fns = {"A": partial(a_mod.voxelize_numba, *args), "B": partial(b_mod.voxelize_numba, *args)}
            out_a, out_b = fns["A"](), fns["B"]()
            if not all(np.array_equal(x, y) for x, y in zip(out_a[:4], out_b[:4], strict=True)):
                raise SystemExit(f"{cloud_name} {grid_name}: the two versions' outputs differ")
            times: dict[str, list[float]] = {"A": [], "B": []}
            for _ in range(ROUNDS):
                for key, fn in fns.items():
                    if cold:
                        np.add(_EVICT, 1.0, out=_EVICT)
                    t0 = time.perf_counter()
                    fn()
                    times[key].append((time.perf_counter() - t0) * 1e3)
            print_ab(f"{cloud_name:8s} {grid_name:32s}", times)
    return 0


def print_ab(label: str, times: dict[str, list[float]]) -> None:
    """One line: medians and minima (ms) of versions A and B, and their ratios (> 1: B is faster)."""
    a, b = np.array(times["A"]), np.array(times["B"])
    print(
        f"{label} A {np.median(a):6.2f} (min {a.min():6.2f})  B {np.median(b):6.2f} (min {b.min():6.2f})"
        f"  A/B median {np.median(a) / np.median(b):.2f}  min {a.min() / b.min():.2f}"
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
