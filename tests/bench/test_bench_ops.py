"""The ops benchmark's plumbing: where it runs, how its table marks a row timed elsewhere, the torch peer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sensorfuse.bench import ops
from sensorfuse.ops import voxelize


def test_no_bench_venv_runs_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ops, "BENCH_PYTHON", tmp_path / "missing" / "bin" / "python")
    assert ops.rerun_in_bench_venv(["--out", str(tmp_path / "x.json")]) is None


def _fake_bench_venv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, status: int) -> Path:
    """A .venv-bench whose python exits with ``status`` (0: `import spconv` works there); none here."""
    fake = tmp_path / "venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f"#!/bin/sh\nexit {status}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(ops, "BENCH_PYTHON", fake)
    monkeypatch.setattr(ops.importlib.util, "find_spec", lambda name: None)
    return fake


def test_bench_venv_without_spconv_runs_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_bench_venv(monkeypatch, tmp_path, status=1)
    assert ops.rerun_in_bench_venv([]) is None


def test_markdown_marks_a_row_timed_alone() -> None:
    row = {"input": "u", "grid": "g", "status": "ok", "median_ms": 2.0, "min_ms": 1.5, "mpts_per_s": 1.0}
    row |= {"speedup_vs_best_peer": 1.0, "speedup_vs_best_peer_min": 1.0, "x_bandwidth_bound": 3.0}
    result = {"command": "c", "machine": "m", "interpreter": "i", "loadavg_before": [0], "loadavg_after": [0]}
    result |= {"copy_bandwidth_gbs": 20.0, "copy_bandwidth_runs_gbs": [20.0, 11.0], "bev_pool": []}
    result["voxelize"] = [dict(row, impl="spconv", where=".venv-bench"), dict(row, impl="sensorfuse numba")]
    table = ops.markdown(result)
    assert "| spconv (alone in .venv-bench) |" in table and "| sensorfuse numba |" in table
    assert "20.0 GB/s (the higher of 20.0 and 11.0, before and after the voxelizers)" in table


def test_torch_unique_peer_finds_the_same_voxels() -> None:
    pts = ops.uniform_cloud(20_000, seed=1)
    vs = ops.GRIDS["pillar 0.2x0.2x8 P32 V40k"]["voxel_size"]
    voxels, keys, counts = ops.torch_unique_voxelize(torch.from_numpy(pts), vs, 32, 40_000)
    ours = voxelize(pts, vs, ops.RANGE, 32, 40_000)
    nx, ny = 540, 540
    our_keys = (ours.coords[:, 0].astype(np.int64) * ny + ours.coords[:, 1]) * nx + ours.coords[:, 2]
    np.testing.assert_array_equal(np.sort(our_keys), keys.numpy())  # same voxels, another order
    order = np.argsort(our_keys)
    np.testing.assert_array_equal(ours.num_points[order], counts.numpy())
    np.testing.assert_array_equal(ours.voxels[order], voxels.numpy())  # input order inside each voxel


def test_rerun_in_bench_venv_gets_an_absolute_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _fake_bench_venv(monkeypatch, tmp_path, status=0)
    calls: list[list[str]] = []
    real_run = ops.subprocess.run

    def run(cmd: list[str], **kw: object) -> object:
        calls.append(list(cmd))
        return real_run(cmd, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(ops.subprocess, "run", run)
    monkeypatch.chdir(tmp_path)
    assert ops.main(["--out", "rel.json"]) == 0  # the fake interpreter "ran" the benchmark
    rerun = calls[-1]
    assert rerun[:3] == [str(fake), "-m", "sensorfuse.bench.ops"]
    assert rerun[3:] == ["--out", str(tmp_path / "rel.json")]


def test_gpu_part_says_not_measured_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gpu = ops.bench_gpu({"u": ops.uniform_cloud(1000)})
    assert gpu["status"].startswith("not measured")
    assert ops._gpu_markdown(gpu) == ["", f"GPU: {gpu['status']}."]


def test_gpu_markdown_flags_a_cuda_result_that_differs_from_numba() -> None:
    row = {"input": "u", "grid": "g", "median_ms": 0.08, "min_ms": 0.07, "target_met": True}
    gpu = {"status": "ok", "device": "dev", "bev_pool": []}
    gpu["voxelize"] = [
        dict(row, impl="sensorfuse cuda", identical_to_numba=False),
        dict(row, impl="torch.unique (cuda)", identical_to_numba=None, target_met=False),
    ]
    table = "\n".join(ops._gpu_markdown(gpu))
    assert "| u | g | sensorfuse cuda | 0.080 | 0.070 | NO | yes |" in table
    assert "| u | g | torch.unique (cuda) | 0.080 | 0.070 | - | no |" in table


@pytest.mark.cuda
def test_gpu_part_runs_and_matches_numba_on_a_gpu() -> None:
    gpu = ops.bench_gpu({"u": ops.uniform_cloud(20_000, seed=2)})
    assert gpu["status"] == "ok"
    assert len(gpu["voxelize"]) == 3 * len(ops.GRIDS)
    assert all(r["identical_to_numba"] for r in gpu["voxelize"] if r["impl"] == "sensorfuse cuda")
    assert [r["shape"] for r in gpu["bev_pool"]] == list(ops.BEV_SHAPES)


def test_apply_bound_is_one_pass_at_the_given_bandwidth() -> None:
    rows = [
        {"status": "ok", "median_ms": 4.0, "bound_bytes": 20e6},  # 20 MB at 10 GB/s = 2 ms
        {"status": "not installed (x)", "bound_bytes": 20e6},
    ]
    ops.apply_bound(rows, 10.0)
    assert rows[0]["bound_ms"] == pytest.approx(2.0) and rows[0]["x_bandwidth_bound"] == pytest.approx(2.0)
    assert rows[1]["bound_ms"] == pytest.approx(2.0) and "x_bandwidth_bound" not in rows[1]


def test_command_shows_paths_inside_the_repository_relative() -> None:
    assert ops._shown(ops.REPO / "docs" / "bench" / "ops.json") == "docs/bench/ops.json"
    assert ops._shown(Path("/tmp/y.json")) == "/tmp/y.json"
    assert ops._shown(Path("out/y.json")) == "out/y.json"
