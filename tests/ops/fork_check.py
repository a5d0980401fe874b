"""Parent uses the parallel kernels, then fork-based workers call them (like torch DataLoader workers).

Run by test_fork.py in a subprocess: with GNU OpenMP a forked child entering a parallel region aborts the
process, so this must not run inside the test session. Exit status 0 = children's results equal the parent's.
"""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import torch

from sensorfuse.ops import bev_pool, voxelize

PTS = np.random.default_rng(0).uniform(0, 1, (20_000, 4)).astype(np.float32)
FEATS = torch.randn(1, 2, 3, 4, 5, 6, generator=torch.Generator().manual_seed(0))
IDX = torch.randint(-1, 12, (1, 2, 3, 4, 5), generator=torch.Generator().manual_seed(1))


def work(_: int) -> tuple[np.ndarray, np.ndarray]:
    r = voxelize(PTS, (0.05, 0.05, 0.05), (0, 0, 0, 1, 1, 1), 3, 5000)
    return r.point_to_voxel, bev_pool(FEATS, IDX, (3, 4)).numpy()


if __name__ == "__main__":
    p2v, bev = work(0)
    with mp.get_context("fork").Pool(2) as pool:
        for child_p2v, child_bev in pool.map(work, range(2)):
            if not (np.array_equal(child_p2v, p2v) and np.array_equal(child_bev, bev)):
                raise SystemExit("forked child result differs")
    print("forked children ok")
