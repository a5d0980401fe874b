"""Summary tables of several runs of the ops benchmark (the "N runs of the final code" tables of
``docs/benchmarks.md`` §3).

    for i in $(seq 1 10); do .venv/bin/python -m sensorfuse.bench.ops --out /tmp/runs/g$i.json; done
    .venv/bin/python -m sensorfuse.bench.ops_runs /tmp/runs/g*.json

The host's speed drifts between runs by more than most changes, so a single run says little; this prints, per
row, the median and range of our medians, the best peer's median (and which peer was best in how many runs),
every run's speed-up and times-the-bandwidth-bound with their medians, and how many runs meet the issue's
targets (>= 2x the best peer, <= 3x the bound; bev_pool >= 5x the torch reference). Runs are numbered in the
natural order of their file names (g2 before g10).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from sensorfuse.bench.ops import PEERS

OURS = "sensorfuse numba"
SPEEDUP_TARGET, BOUND_TARGET, BEV_TARGET = 2.0, 3.0, 5.0


def _natural(path: str) -> list[Any]:
    """Sort key that puts g2 before g10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def _load(path: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{path}: not a readable ops-benchmark JSON ({exc})") from exc
    for field in ("voxelize", "bev_pool"):
        if field not in data:
            raise SystemExit(
                f"{path}: field {field!r} missing (expected `python -m sensorfuse.bench.ops --out` output)"
            )
    data["path"] = path  # for the errors below
    return data


def _runs(values: list[float], fmt: str) -> str:
    return " / ".join(format(v, fmt) for v in values)


def _which(best_counts: Counter[str], n_runs: int) -> str:
    """'open3d.ml, 8 of 8' when one peer was always best, else 'mmcv 6, spconv 2'."""
    if len(best_counts) == 1:
        ((name, count),) = best_counts.items()
        return f"{name}, {count} of {n_runs}"
    return ", ".join(f"{n} {c}" for n, c in best_counts.most_common()) or "-"


def voxelize_table(runs: list[dict[str, Any]]) -> list[str]:
    cases = list(dict.fromkeys((r["input"], r["grid"]) for r in runs[0]["voxelize"]))
    lines = [
        "| input | grid | sensorfuse numba, median of the run medians (range) | best peer, median (which, runs)"
        f" | speed-up vs best peer, runs 1–{len(runs)} (median) | × bandwidth bound, runs 1–{len(runs)} (median) |",
        "|---|---|---:|---|---:|---:|",
    ]
    for inp, grid in cases:
        ours, best, which, speedup, bound = [], [], Counter[str](), [], []
        for run in runs:
            rows = {r["impl"]: r for r in run["voxelize"] if (r["input"], r["grid"]) == (inp, grid)}
            if rows.get(OURS, {}).get("status") != "ok":
                raise SystemExit(f"{run['path']}: voxelize {inp} / {grid}: no timing of {OURS!r}")
            ours.append(rows[OURS]["median_ms"])
            speedup.append(rows[OURS]["speedup_vs_best_peer"])
            bound.append(rows[OURS]["x_bandwidth_bound"])
            peers = {p: rows[p]["median_ms"] for p in PEERS if rows.get(p, {}).get("status") == "ok"}
            if peers:
                name = min(peers, key=peers.__getitem__)
                best.append(peers[name])
                which[name] += 1
        who = _which(which, len(runs))
        n_fast = sum(s >= SPEEDUP_TARGET for s in speedup)
        n_bound = sum(b <= BOUND_TARGET for b in bound)
        best_ms = f"{np.median(best):.2f} ms" if best else "-"
        lines.append(
            f"| {inp} | {grid} | {np.median(ours):.2f} ms ({min(ours):.2f}–{max(ours):.2f}) | {best_ms} ({who}) | "
            f"{_runs(speedup, '.2f')} (**{np.median(speedup):.2f}x**; ≥ 2x in {n_fast} of {len(runs)}) | "
            f"{_runs(bound, '.1f')} (**{np.median(bound):.1f}**; ≤ 3 in {n_bound} of {len(runs)}) |"
        )
    return lines


def bev_pool_table(runs: list[dict[str, Any]]) -> list[str]:
    shapes = list(dict.fromkeys(r["shape"] for r in runs[0]["bev_pool"]))
    lines = [
        "| bev_pool shape (B=1) | numba forward, median (range) | torch reference forward, median (range) |"
        f" speed-up fwd, runs 1–{len(runs)} (median) | speed-up fwd+bwd, median (range) |",
        "|---|---:|---:|---:|---:|",
    ]
    for shape in shapes:
        ours, ref, fwd, both = [], [], [], []
        for run in runs:
            rows = {r["impl"]: r for r in run["bev_pool"] if r["shape"] == shape}
            mine = rows.get(OURS)
            others = [r for name, r in rows.items() if name != OURS]
            if mine is None or not others:
                raise SystemExit(f"{run['path']}: bev_pool {shape}: our row or the reference row is missing")
            ours.append(mine["forward_ms"])
            ref.append(others[0]["forward_ms"])
            fwd.append(mine["speedup_forward"])
            both.append(mine["speedup_fwd_bwd"])
        n_fast = sum(s >= BEV_TARGET for s in fwd)
        lines.append(
            f"| {shape} | {np.median(ours):.2f} ms ({min(ours):.2f}–{max(ours):.2f}) | "
            f"{np.median(ref):.2f} ms ({min(ref):.2f}–{max(ref):.2f}) | "
            f"{_runs(fwd, '.2f')} (**{np.median(fwd):.2f}x**; ≥ 5x in {n_fast} of {len(runs)}) | "
            f"{np.median(both):.2f}x ({min(both):.2f}–{max(both):.2f}) |"
        )
    return lines


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__)
    runs = [_load(p) for p in sorted(argv, key=_natural)]
    bandwidth = [b for r in runs for b in r.get("copy_bandwidth_runs_gbs", [])]
    load = [x for r in runs for x in r.get("loadavg_before", [])[:1]]
    print(f"{len(runs)} runs", end="")
    print(f"; copy bandwidth {min(bandwidth):.1f}–{max(bandwidth):.1f} GB/s" if bandwidth else "", end="")
    print(f", load average before {min(load):.1f}–{max(load):.1f}" if load else "")
    print()
    print("\n".join(voxelize_table(runs)))
    print()
    print("\n".join(bev_pool_table(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
