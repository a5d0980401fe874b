"""Ops benchmark: ``voxelize`` against its peers, and ``bev_pool`` against the torch reference.

    python -m sensorfuse.bench.ops --out docs/bench/ops.json        (= make bench-ops; < 5 min on 2 cores)

One run, the same inputs for every implementation, medians of many repeats, ratios taken inside the run.
Inputs: (1) 300,000 points x 5 uniform in [-54, 54]^2 x [-5, 3] m (nearly every point its own voxel);
(2) the real nuScenes keyframe merged with 9 earlier sweeps simulated by ego motion (skipped if absent).
Peers (optional, never runtime dependencies): a torch.unique implementation (below), spconv's PointToVoxel,
open3d.ml.torch.ops.voxelize, mmcv's Voxelization. When ``.venv-bench`` (tools/setup_bench_env.sh) has spconv
and this interpreter does not, the whole benchmark reruns there, so that every row is timed interleaved in one
process (``--here`` keeps it in this interpreter and times such a peer alone in ``.venv-bench`` through
``--worker``); a peer found nowhere is reported "not installed".
The bandwidth bound is one streaming pass over input + output at the copy bandwidth measured here.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RANGE = (-54.0, -54.0, -5.0, 54.0, 54.0, 3.0)
BEV_SHAPES = {"LSS 6x41x8x22 C64": (6, 41, 8, 22, 64), "BEVDet 6x59x16x44 C80": (6, 59, 16, 44, 80)}
GRIDS: dict[str, dict[str, Any]] = {
    "voxel 0.075x0.075x0.2 P10 V120k": {
        "voxel_size": (0.075, 0.075, 0.2),
        "max_points": 10,
        "max_voxels": 120_000,
    },
    "pillar 0.2x0.2x8 P32 V40k": {"voxel_size": (0.2, 0.2, 8.0), "max_points": 32, "max_voxels": 40_000},
}
PEERS = ("torch.unique", "spconv", "open3d.ml", "mmcv")
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"


def uniform_cloud(n: int = 300_000, seed: int = 0) -> np.ndarray:
    """(n, 5) float32 uniform in [-54, 54]^2 x [-5, 3] m, features uniform in [0, 1)."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array([-54, -54, -5, 0, 0]), np.array([54, 54, 3, 1, 1])
    return (lo + (hi - lo) * rng.random((n, 5))).astype(np.float32)


def realistic_cloud(sweeps: int = 10, seed: int = 0) -> np.ndarray | None:
    """The real keyframe + (sweeps - 1) earlier sweeps seen from poses 50 ms apart (8 m/s, 0.1 rad/s yaw).

    Column 4 becomes the time lag (s), as in nuScenes multi-sweep clouds. None if the file is absent.
    """
    root = Path(os.environ.get("SENSORFUSE_REALDATA", REPO.parent / "shared" / "realdata"))
    files = sorted((root / "nuscenes-mini-sample").glob("*LIDAR_TOP*.pcd.bin"))
    if not files:
        return None
    key = np.fromfile(files[0], dtype=np.float32).reshape(-1, 5)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(sweeps):
        dt = 0.05 * k
        yaw = -0.1 * dt
        rot = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        sweep = key[rng.random(len(key)) < 0.9].copy()  # each sweep sees a slightly different subset
        sweep[:, :3] = sweep[:, :3] @ rot.T.astype(np.float32) + np.array([-8.0 * dt, 0, 0], dtype=np.float32)
        sweep[:, 4] = dt
        out.append(sweep)
    return np.concatenate(out)


def torch_unique_voxelize(points: Any, voxel_size: Any, max_points: int, max_voxels: int) -> Any:
    """The usual torch peer: torch.unique of linear keys, voxels in key order (not first-seen)."""
    import torch

    dev = points.device
    lo = torch.tensor(RANGE[:3], device=dev)
    size = torch.tensor(voxel_size, dtype=torch.float32, device=dev)
    dims = torch.round((torch.tensor(RANGE[3:], device=dev) - lo) / size).long()
    q = torch.floor((points[:, :3] - lo) / size).long()
    ok = ((q >= 0) & (q < dims)).all(1)
    q, pts = q[ok], points[ok]
    keys = (q[:, 2] * dims[1] + q[:, 1]) * dims[0] + q[:, 0]
    uniq, inv, counts = torch.unique(keys, return_inverse=True, return_counts=True)
    order = torch.argsort(inv, stable=True)
    slot = torch.empty_like(inv)
    slot[order] = torch.arange(len(inv), device=dev) - (torch.cumsum(counts, 0) - counts)[inv[order]]
    keep = (inv < max_voxels) & (slot < max_points)
    voxels = torch.zeros(min(len(uniq), max_voxels), max_points, points.shape[1], device=dev)
    voxels[inv[keep], slot[keep]] = pts[keep]
    return voxels, uniq[:max_voxels], torch.clamp(counts[:max_voxels], max=max_points)


def make_peer(name: str, grid: dict[str, Any], n_features: int) -> Callable[[np.ndarray], Any]:
    """A callable running peer ``name`` on (N, C) float32 numpy points; ImportError if not installed."""
    import torch

    vs, p_max, v_max = grid["voxel_size"], grid["max_points"], grid["max_voxels"]
    if name == "torch.unique":
        return lambda p: torch_unique_voxelize(torch.from_numpy(p), vs, p_max, v_max)
    if name == "spconv":
        from spconv.pytorch.utils import PointToVoxel

        gen = PointToVoxel(list(vs), list(RANGE), n_features, v_max, p_max, device=torch.device("cpu"))
        return lambda p: gen(torch.from_numpy(p))
    if name == "open3d.ml":
        import open3d.ml.torch as ml3d

        args = (
            torch.tensor(vs, dtype=torch.float32),
            torch.tensor(RANGE[:3]),
            torch.tensor(RANGE[3:]),
            p_max,
            v_max,
        )
        return lambda p: ml3d.ops.voxelize(
            torch.from_numpy(p[:, :3].copy()), torch.tensor([0, len(p)]), *args
        )
    if name == "mmcv":
        from mmcv.ops import Voxelization

        layer = Voxelization(list(vs), list(RANGE), p_max, v_max)
        return lambda p: layer(torch.from_numpy(p))
    raise ValueError(name)


def time_ms(fn: Callable[[], Any], min_reps: int = 7, budget_s: float = 2.0, warmup: int = 2) -> list[float]:
    """Wall times (ms) of ``fn``: ``warmup`` untimed calls, then at least ``min_reps`` within ~``budget_s``."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < budget_s and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return times


def time_interleaved(
    fns: dict[str, Callable[[], Any]], min_rounds: int = 7, budget_s: float = 4.0
) -> dict[str, list[float]]:
    """Wall times (ms) of several functions measured in rounds (one call of each per round), so that load
    from other processes on a shared machine hits all of them alike; 2 warm-up calls each."""
    for fn in fns.values():
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < min_rounds or (time.perf_counter() - start < budget_s and rounds < 100):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t0))
        rounds += 1
    return times


def copy_bandwidth_gbs(mb: int = 256) -> float:
    """Streaming copy bandwidth (GB/s, read + write bytes) of this machine, median of 7."""
    src = np.ones(mb * 2**20 // 8)
    dst = np.empty_like(src)
    times = time_ms(lambda: np.copyto(dst, src), min_reps=7, budget_s=0.0)
    return float(2 * src.nbytes / (np.median(times) * 1e-3) / 1e9)


def summary(times: list[float], n_points: int) -> dict[str, Any]:
    med = float(np.median(times))
    return {
        "median_ms": med,
        "min_ms": float(np.min(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "reps": len(times),
        "mpts_per_s": n_points / med / 1e3,
    }


def peer_callable(name: str, grid_name: str, cloud: np.ndarray) -> Callable[[], Any] | str:
    """A zero-argument call of peer ``name`` on ``cloud`` in this interpreter, or why it is unavailable."""
    try:
        fn = make_peer(name, GRIDS[grid_name], cloud.shape[1])
    except ImportError as exc:
        return f"not installed ({exc.name or exc})"
    return partial(fn, cloud)


def _in_bench_venv() -> bool:
    return Path(sys.prefix).resolve() == BENCH_PYTHON.parents[1].resolve()


def rerun_in_bench_venv(argv: list[str]) -> int | None:
    """Exit status of this benchmark rerun in ``.venv-bench``, or None to run it here.

    It reruns there when that venv has spconv and this interpreter lacks it: then spconv is timed in the same
    rounds as every other row, instead of alone in a worker process with its caches warm.
    """
    if _in_bench_venv() or not BENCH_PYTHON.exists() or importlib.util.find_spec("spconv") is not None:
        return None
    probe = subprocess.run([str(BENCH_PYTHON), "-c", "import spconv"], capture_output=True)
    if probe.returncode != 0:
        return None
    print(f"running the benchmark in {BENCH_PYTHON.parents[1].name} (it has spconv)", file=sys.stderr)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [str(BENCH_PYTHON), "-m", "sensorfuse.bench.ops", *argv], cwd=REPO, env=env
    ).returncode


def run_peer_elsewhere(name: str, grid_name: str, cloud_path: Path, why: str) -> dict[str, Any]:
    """Time a peer missing here in .venv-bench (same saved input); {"status": why} when that fails too."""
    if not BENCH_PYTHON.exists() or _in_bench_venv():
        return {"status": why}
    cmd = [str(BENCH_PYTHON), "-m", "sensorfuse.bench.ops", "--worker", name, grid_name, str(cloud_path)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"status": f"failed in .venv-bench: {proc.stderr.strip().splitlines()[-1:]}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]), where=".venv-bench")


def bench_voxelize(clouds: dict[str, np.ndarray], workdir: Path) -> list[dict[str, Any]]:
    """One row per (input, grid, implementation), with speedup vs the best peer and the bytes of one pass
    over input + output (``apply_bound`` turns them into x the bandwidth bound)."""
    from tqdm import tqdm

    rows = []
    cases = [(c, g) for c in clouds for g in GRIDS]
    for cloud_name, grid_name in tqdm(cases, desc="voxelize", file=sys.stderr):
        path = workdir / f"{cloud_name}.npy"
        np.save(path, clouds[cloud_name])
        rows += _bench_case(cloud_name, clouds[cloud_name], grid_name, path)
    return rows


def apply_bound(rows: list[dict[str, Any]], bandwidth_gbs: float) -> None:
    """``bound_ms`` (one streaming pass over ``bound_bytes`` at ``bandwidth_gbs``) and ``x_bandwidth_bound``
    (median / bound) of each row, in place."""
    for r in rows:
        r["bound_ms"] = r["bound_bytes"] / (bandwidth_gbs * 1e9) * 1e3
        if r["status"] == "ok":
            r["x_bandwidth_bound"] = r["median_ms"] / r["bound_ms"]


def _bench_case(cloud_name: str, cloud: np.ndarray, grid_name: str, path: Path) -> list[dict[str, Any]]:
    import torch

    from sensorfuse.ops import voxelize

    grid = GRIDS[grid_name]
    args = (grid["voxel_size"], RANGE, grid["max_points"], grid["max_voxels"])
    res = voxelize(cloud, *args)
    out_bytes = sum(a.nbytes for a in (res.voxels, res.coords, res.num_points, res.point_to_voxel))
    tcloud = torch.from_numpy(cloud)
    fns: dict[str, Callable[[], Any]] = {
        "sensorfuse numba": partial(voxelize, cloud, *args),
        "sensorfuse torch reference": partial(voxelize, tcloud, *args, backend="reference"),
    }
    missing = {}
    for peer in PEERS:
        fn = peer_callable(peer, grid_name, cloud)
        if isinstance(fn, str):
            missing[peer] = fn
        else:
            fns[peer] = fn
    impls = {name: {"status": "ok", **summary(t, len(cloud))} for name, t in time_interleaved(fns).items()}
    for peer, why in missing.items():
        impls[peer] = run_peer_elsewhere(peer, grid_name, path, why)
    peer_ms = [impls[p]["median_ms"] for p in PEERS if impls[p]["status"] == "ok"]
    best = min(peer_ms) if peer_ms else float("nan")
    best_min = min((impls[p]["min_ms"] for p in PEERS if impls[p]["status"] == "ok"), default=float("nan"))
    rows = []
    for name, r in impls.items():
        if r["status"] == "ok":
            r["speedup_vs_best_peer"] = best / r["median_ms"]
            r["speedup_vs_best_peer_min"] = best_min / r["min_ms"]
        meta = {"input": cloud_name, "grid": grid_name, "impl": name, "n_points": len(cloud)}
        rows.append({**meta, "num_voxels": res.num_voxels, "bound_bytes": cloud.nbytes + out_bytes, **r})
    return rows


GPU_TARGET_MS = 0.1  # the target per 300k-point frame (on an H100)


def time_cuda_ms(fn: Callable[[], Any], reps: int = 50, warmup: int = 5) -> list[float]:
    """GPU times (ms) of ``fn`` between two CUDA events, one call at a time (host work and any
    synchronisation inside ``fn`` included: the latency a caller sees)."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(float(start.elapsed_time(end)))
    return times


def bench_gpu(clouds: dict[str, np.ndarray]) -> dict[str, Any]:
    """CUDA backends of both ops, when torch sees a GPU: voxelize (checked identical to the Numba backend
    first) against the torch reference and torch.unique on the same GPU, and bev_pool against its
    reference. Without a GPU: ``{"status": "not measured: ..."}``."""
    import torch

    if not torch.cuda.is_available():
        return {"status": "not measured: torch.cuda.is_available() is False on this machine"}
    from sensorfuse.ops import bev_pool, voxelize
    from sensorfuse.ops.bev_pool import bev_pool_reference

    dev = torch.device("cuda")
    out: dict[str, Any] = {"status": "ok", "device": torch.cuda.get_device_name(dev), "voxelize": []}
    for cloud_name, cloud in clouds.items():
        tcloud = torch.from_numpy(cloud).to(dev)
        for grid_name, grid in GRIDS.items():
            args = (grid["voxel_size"], RANGE, grid["max_points"], grid["max_voxels"])
            gpu, cpu = voxelize(tcloud, *args), voxelize(cloud, *args)
            same = all(
                np.array_equal(getattr(gpu, f).cpu().numpy(), getattr(cpu, f))
                for f in ("voxels", "coords", "num_points", "point_to_voxel")
            )
            fns = {
                "sensorfuse cuda": partial(voxelize, tcloud, *args),
                "sensorfuse torch reference (cuda)": partial(voxelize, tcloud, *args, backend="reference"),
                "torch.unique (cuda)": partial(torch_unique_voxelize, tcloud, *args[:1], *args[2:]),
            }
            rows = {name: summary(time_cuda_ms(fn), len(cloud)) for name, fn in fns.items()}
            for name, r in rows.items():
                meta: dict[str, Any] = {"input": cloud_name, "grid": grid_name, "impl": name}
                meta["identical_to_numba"] = same if name == "sensorfuse cuda" else None
                out["voxelize"].append({**meta, **r, "target_met": r["median_ms"] <= GPU_TARGET_MS})
    out["bev_pool"] = []
    for name, (n_cam, d, h, w, c) in BEV_SHAPES.items():
        idx = lss_geometry(n_cam, d, h, w).to(dev)
        feats = torch.randn(1, n_cam, d, h, w, c, device=dev)
        ref = time_cuda_ms(partial(bev_pool_reference, feats, idx, (200, 200)))
        ours = time_cuda_ms(partial(bev_pool, feats, idx, (200, 200)))
        r, o = summary(ref, idx.numel()), summary(ours, idx.numel())
        out["bev_pool"].append(
            {"shape": name, "cuda_forward_ms": o["median_ms"], "reference_forward_ms": r["median_ms"]}
            | {"speedup_forward": r["median_ms"] / o["median_ms"]}
        )
    return out


def lss_geometry(n_cam: int, d: int, h: int, w: int, grid: int = 200, res: float = 0.5) -> Any:
    """cell_index (1, n_cam, d, h, w) of a ring of cameras: depth bins 1-60 m, 60 deg fields of view."""
    import torch

    depth = torch.linspace(1.0, 60.0, d)[:, None, None]
    ang = torch.linspace(-0.5, 0.5, w)[None, None, :]
    cams = []
    for k in range(n_cam):
        yaw = 2 * np.pi * k / n_cam + ang
        x = (depth * torch.cos(yaw)).expand(d, h, w)
        y = (depth * torch.sin(yaw)).expand(d, h, w)
        ix, iy = torch.floor(x / res + grid / 2).long(), torch.floor(y / res + grid / 2).long()
        ok = (ix >= 0) & (ix < grid) & (iy >= 0) & (iy < grid)
        cams.append(torch.where(ok, iy * grid + ix, torch.full_like(ix, -1)))
    return torch.stack(cams)[None]


def bench_bev_pool() -> list[dict[str, Any]]:
    """bev_pool forward and forward + backward, Numba kernel vs torch reference (float32)."""
    import torch

    from sensorfuse.ops import bev_pool
    from sensorfuse.ops.bev_pool import bev_pool_reference

    rows = []
    for name, (n_cam, d, h, w, c) in BEV_SHAPES.items():
        idx = lss_geometry(n_cam, d, h, w)
        feats = torch.randn(1, n_cam, d, h, w, c, requires_grad=True)
        fns: dict[str, Callable[[], torch.Tensor]] = {
            "sensorfuse numba": partial(bev_pool, feats, idx, (200, 200)),
            "torch reference": partial(bev_pool_reference, feats, idx, (200, 200)),
        }
        n = feats[..., 0].numel()
        fwd = time_interleaved({k: partial(_forward_only, fn) for k, fn in fns.items()}, min_rounds=5)
        both = time_interleaved({k: partial(_forward_backward, fn) for k, fn in fns.items()}, min_rounds=5)
        for impl in fns:
            f, b = summary(fwd[impl], n), summary(both[impl], n)
            rows.append(
                {
                    "shape": name,
                    "impl": impl,
                    "forward_ms": f["median_ms"],
                    "fwd_bwd_ms": b["median_ms"],
                    "forward_min_ms": f["min_ms"],
                    "fwd_bwd_min_ms": b["min_ms"],
                }
            )
        ref = rows[-1]
        for r in rows[-2:]:
            r["speedup_forward"] = ref["forward_ms"] / r["forward_ms"]
            r["speedup_fwd_bwd"] = ref["fwd_bwd_ms"] / r["fwd_bwd_ms"]
    return rows


def _forward_only(fn: Callable[[], Any]) -> None:
    fn().detach()


def _forward_backward(fn: Callable[[], Any]) -> None:
    fn().sum().backward()


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Ops benchmark (`voxelize`, `bev_pool`)",
        "",
        f"Command: `{result['command']}` (= `make bench-ops`). Machine: {result['machine']}.",
        f"Interpreter: {result['interpreter']}; every row of a case is timed in the same interleaved rounds"
        " of this one process, except a row marked `(alone in .venv-bench)`.",
        f"Load average before/after: {result['loadavg_before']} / {result['loadavg_after']}"
        " (a shared machine: compare only rows of one run).",
        f"Copy bandwidth measured in this run: {result['copy_bandwidth_gbs']:.1f} GB/s (the higher of"
        f" {' and '.join(f'{b:.1f}' for b in result.get('copy_bandwidth_runs_gbs', []))}, before and after the"
        " voxelizers); `x bandwidth bound` = median / (one streaming pass over input + output at that bandwidth).",
        "`speedup vs best peer` = fastest peer's median / this row's median (peers: torch.unique, spconv,"
        " open3d.ml, mmcv; a peer that is not installed is marked so: see tools/setup_bench_env.sh).",
        "",
        "| input | grid | implementation | median ms | min ms | Mpts/s | speedup vs best peer (median / min)"
        " | x bandwidth bound |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["voxelize"]:
        if r["status"] != "ok":
            lines.append(f"| {r['input']} | {r['grid']} | {r['impl']} | {r['status']} | | | | |")
            continue
        impl = r["impl"] + (" (alone in .venv-bench)" if r.get("where") == ".venv-bench" else "")
        lines.append(
            f"| {r['input']} | {r['grid']} | {impl} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | "
            f"{r['mpts_per_s']:.1f} | {r['speedup_vs_best_peer']:.2f} / {r['speedup_vs_best_peer_min']:.2f} | "
            f"{r['x_bandwidth_bound']:.1f} |"
        )
    lines += [
        "",
        "| bev_pool shape | implementation | forward ms median (min) | fwd+bwd ms median (min) | speedup fwd | speedup fwd+bwd |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in result["bev_pool"]:
        lines.append(
            f"| {r['shape']} | {r['impl']} | {r['forward_ms']:.2f} ({r['forward_min_ms']:.2f}) | "
            f"{r['fwd_bwd_ms']:.2f} ({r['fwd_bwd_min_ms']:.2f}) | "
            f"{r['speedup_forward']:.1f} | {r['speedup_fwd_bwd']:.1f} |"
        )
    return "\n".join(lines + _gpu_markdown(result.get("gpu", {"status": "not run"})))


_IDENTICAL = {True: "yes", False: "NO", None: "-"}


def _gpu_markdown(gpu: dict[str, Any]) -> list[str]:
    if gpu["status"] != "ok":
        return ["", f"GPU: {gpu['status']}."]
    lines = [
        "",
        f"GPU: {gpu['device']} (CUDA event times, one call at a time; target <= {GPU_TARGET_MS} ms per frame"
        " on an H100).",
        "",
        "| input | grid | implementation | median ms | min ms | identical to numba | target met |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for r in gpu["voxelize"]:
        lines.append(
            f"| {r['input']} | {r['grid']} | {r['impl']} | {r['median_ms']:.3f} | {r['min_ms']:.3f} | "
            f"{_IDENTICAL[r['identical_to_numba']]} | {'yes' if r['target_met'] else 'no'} |"
        )
    lines += [
        "",
        "| bev_pool shape | cuda forward ms | reference forward ms | speedup |",
        "|---|---:|---:|---:|",
    ]
    for r in gpu["bev_pool"]:
        lines.append(
            f"| {r['shape']} | {r['cuda_forward_ms']:.3f} | {r['reference_forward_ms']:.3f} |"
            f" {r['speedup_forward']:.1f} |"
        )
    return lines


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _shown(path: Path) -> str:
    """``path`` as the user would type it from the repository root (the rerun in .venv-bench gets it absolute)."""
    return str(path.relative_to(REPO)) if path.is_absolute() and path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "ops.json")
    parser.add_argument(
        "--here", action="store_true", help="run in this interpreter even if .venv-bench has more peers"
    )
    parser.add_argument("--worker", nargs=3, metavar=("PEER", "GRID", "CLOUD_NPY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.here and not args.worker:
        code = rerun_in_bench_venv(["--out", str(args.out.resolve())])  # it runs from the repository root
        if code is not None:
            return code
    if args.worker:
        peer, grid_name, path = args.worker
        fn = peer_callable(peer, grid_name, np.load(path))
        n = len(np.load(path))
        print(
            json.dumps({"status": fn} if isinstance(fn, str) else {"status": "ok", **summary(time_ms(fn), n)})
        )
        return 0
    import numba
    import torch

    from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text

    result: dict[str, Any] = {
        "command": "python -m sensorfuse.bench.ops --out " + _shown(args.out),
        "interpreter": f"{Path(sys.prefix).name} (python {platform.python_version()})",
        "machine": f"{_cpu_name()}, {os.cpu_count()} cores, numba threads "
        f"{numba.get_num_threads()}, torch threads {torch.get_num_threads()}, python {platform.python_version()}",
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }
    bandwidth = [copy_bandwidth_gbs()]
    clouds = {"uniform 300k": uniform_cloud()}
    real = realistic_cloud()
    if real is None:
        print("realistic input skipped: no LIDAR_TOP .pcd.bin under ../shared/realdata", file=sys.stderr)
    else:
        clouds[f"real keyframe + 9 sweeps ({len(real) // 1000}k)"] = real
    with tempfile.TemporaryDirectory() as tmp:
        result["voxelize"] = bench_voxelize(clouds, Path(tmp))
    # measured before and after the voxelizers: a passing disturbance lowers one of them (10.5 instead of
    # ~23 GB/s seen once), and the bound is the machine's, so the higher one is used
    bandwidth.append(copy_bandwidth_gbs())
    result["copy_bandwidth_runs_gbs"] = bandwidth
    result["copy_bandwidth_gbs"] = max(bandwidth)
    apply_bound(result["voxelize"], result["copy_bandwidth_gbs"])
    result["bev_pool"] = bench_bev_pool()
    result["gpu"] = bench_gpu(clouds)
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    table = markdown(result)
    print(table)
    atomic_write_json(args.out, result, indent=2)
    atomic_write_text(args.out.with_suffix(".md"), table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
