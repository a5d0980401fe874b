"""Streaming copy bandwidth of this machine, by kind of store and thread count (what the ops bound assumes).

    .venv/bin/python tools/copy_bandwidth.py [--mb 256] [--reps 9]

``sensorfuse.bench.ops`` sets its bandwidth bound with ``np.copyto`` of 256 MB on one thread (glibc's memcpy,
which streams copies above its non-temporal threshold, a fraction of the L3 in glibc 2.36, with
non-temporal stores: no read for ownership of the destination). A
kernel that writes its output with ordinary stores, as every voxelizer here does, first reads each
destination line; this prints both, on 1..N threads, as GB/s of read + written bytes (the benchmark's
convention), medians of ``--reps`` calls. A diagnostic, not a comparison: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numba
import numpy as np
from numba import njit, prange

from sensorfuse.bench.ops import time_ms


@njit(parallel=True)
def _copy_ordinary_stores(dst, src):  # type: ignore[no-untyped-def]
    """``dst[:] = src`` in one contiguous slice per thread, compiled by Numba: ordinary (temporal) stores."""
    n = src.shape[0]
    n_threads = numba.get_num_threads()
    per = -(-n // n_threads)
    for t in prange(n_threads):
        dst[t * per : min(n, (t + 1) * per)] = src[t * per : min(n, (t + 1) * per)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=256, help="bytes per array, MB (default 256)")
    parser.add_argument("--reps", type=int, default=9, help="timed calls per row (default 9)")
    args = parser.parse_args()

    def _median_s(fn: Callable[[], object]) -> float:
        return float(np.median(time_ms(fn, min_reps=args.reps, budget_s=0.0, warmup=1))) / 1e3

    src = np.ones(args.mb * 2**20 // 8)
    dst = np.empty_like(src)
    moved = 2 * src.nbytes

    print("| copy | threads | GB/s (read + write) |\n|---|---:|---:|")
    gbs = moved / _median_s(lambda: np.copyto(dst, src)) / 1e9
    print(f"| np.copyto (the benchmark's bound; non-temporal stores) | 1 | {gbs:.1f} |")
    default_threads = numba.get_num_threads()
    for n_threads in range(1, default_threads + 1):
        numba.set_num_threads(n_threads)
        gbs = moved / _median_s(lambda: _copy_ordinary_stores(dst, src)) / 1e9
        print(f"| Numba slice copy (ordinary stores) | {n_threads} | {gbs:.1f} |")
    numba.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
