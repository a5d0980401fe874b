"""Two versions of ``sensorfuse/ops/_bev_numba.py`` timed against each other in one process, interleaved.

    git show HEAD~1:sensorfuse/ops/_bev_numba.py > /tmp/old_bev_numba.py
    NUMBA_CACHE_DIR=$(mktemp -d) .venv/bin/python tools/ab_bev_pool.py /tmp/old_bev_numba.py \\
        sensorfuse/ops/_bev_numba.py

Each round calls the torch reference, then version A's ``pool_forward``, the reference again, then B's, on the
ops benchmark's two frustum shapes (LSS, BEVDet) — the state the benchmark leaves the caches in — after checking
that both versions give the same output. Prints medians, minima and A/B ratios (> 1: B is faster).
"""

from __future__ import annotations

import sys
import time
from functools import partial

import torch
from ab_voxelize import load, print_ab  # a sibling script: tools/ is on sys.path when run as above

from sensorfuse.bench.ops import BEV_SHAPES, lss_geometry
from sensorfuse.ops.bev_pool import bev_pool_reference

ROUNDS = 60
GRID = (200, 200)


def main(argv: list[str]) -> int:
    files = [a for a in argv if a.endswith(".py")]
    if len(files) != 2:
        raise SystemExit(__doc__)
    a_mod, b_mod = load(files[0], "bev_numba_a"), load(files[1], "bev_numba_b")
    for name, (n_cam, d, h, w, c) in BEV_SHAPES.items():
        idx = lss_geometry(n_cam, d, h, w)
        feats = torch.randn(1, n_cam, d, h, w, c)
        flat_f, flat_i, cells = feats.reshape(1, -1, c), idx.reshape(1, -1), GRID[0] * GRID[1]
        fns = {"A": partial(a_mod.pool_forward, flat_f, flat_i, cells)}
        fns["B"] = partial(b_mod.pool_forward, flat_f, flat_i, cells)
        if not torch.equal(fns["A"]()[0], fns["B"]()[0]):
            raise SystemExit(f"{name}: the two versions' outputs differ")
        reference = partial(bev_pool_reference, feats, idx, GRID)
        times: dict[str, list[float]] = {"A": [], "B": []}
        for _ in range(ROUNDS):
            for key, fn in fns.items():
                reference()
                t0 = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - t0) * 1e3)
        print_ab(f"{name:24s}", times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
