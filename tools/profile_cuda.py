"""Where a CUDA voxelize call's time goes, on a GPU machine (the one run that `tools/device_check.sh` makes).

    python tools/profile_cuda.py OUT_DIR

For each grid on the benchmark's uniform 300k-point cloud: the latency a caller sees (host clock around
each call; the call ends with its one host read), the GPU time of the same calls (CUDA events), and a
torch.profiler trace of 10 calls: the GPU activities one call queues (kernels, memsets, copies), the time
the GPU is busy with them, and the host time spent queuing them. Writes OUT_DIR/profile_cuda.txt (tables) and profile_cuda.json (the numbers). Exit 2 without
a CUDA device. Each part is guarded: a profiler problem is reported, not fatal, so the timings still come back.
"""

from __future__ import annotations

import statistics
import sys
import traceback
from pathlib import Path
from typing import Any

import torch

from sensorfuse.bench.ops import GRIDS, RANGE, time_cuda_ms, time_ms, uniform_cloud
from sensorfuse.ops import voxelize
from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text


def profile(fn: Any, calls: int = 10) -> tuple[str, dict[str, Any]]:
    """torch.profiler over ``calls`` calls: the kernel table and per-call kernel count / GPU time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    averages = prof.key_averages()
    sort_key = "device_time_total" if hasattr(averages[0], "device_time_total") else "cuda_time_total"
    table = averages.table(sort_by=sort_key, row_limit=40)
    kernels = [e for e in prof.events() if str(getattr(e, "device_type", "")).endswith("CUDA")]
    gpu_us = sum(float(getattr(e, "device_time_total", 0.0)) for e in kernels)
    # GPU activities: kernels (torch's and numba's), memsets and copies
    summary = {"gpu_activities_per_call": len(kernels) / calls, "gpu_busy_ms_per_call": gpu_us / calls / 1e3}
    return table, summary


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 1
    if not torch.cuda.is_available():
        print("no CUDA device seen by torch")
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    cloud = torch.from_numpy(uniform_cloud()).cuda()
    result: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": []}
    text = [f"{result['device']}, torch {torch.__version__}, uniform 300k-point cloud"]
    for name, grid in GRIDS.items():
        args = (grid["voxel_size"], RANGE, grid["max_points"], grid["max_voxels"])

        def call(args: tuple[Any, ...] = args) -> Any:
            return voxelize(cloud, *args)

        for _ in range(10):  # JIT compile and warm the caching allocator
            call()
        torch.cuda.synchronize()
        row: dict[str, Any] = {"grid": name}
        # host clock per call (each call synchronises itself before it returns)
        row["host_ms_median"] = statistics.median(time_ms(call, min_reps=50, budget_s=0.0, warmup=0))
        row["event_ms_median"] = statistics.median(time_cuda_ms(call))
        text.append(
            f"\n## {name}: host {row['host_ms_median']:.3f} ms, CUDA events {row['event_ms_median']:.3f} ms"
        )
        try:
            table, summary = profile(call)
            row.update(summary)
            text += [f"GPU activities (kernels, memsets, copies) per call {summary['gpu_activities_per_call']:.1f},"
                     f" GPU busy per call {summary['gpu_busy_ms_per_call']:.3f} ms", table]  # fmt: skip
        except Exception:  # the profiler is a diagnostic: keep the timings whatever it does
            text.append("profiler failed:\n" + traceback.format_exc())
        result["rows"].append(row)
        print(f"{name}: {row}", flush=True)
    atomic_write_text(out / "profile_cuda.txt", "\n".join(text) + "\n")
    atomic_write_json(out / "profile_cuda.json", result, indent=2)
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
