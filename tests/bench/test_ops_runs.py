"""The summary of several ops-benchmark runs: medians, ranges, which peer was best, runs meeting the targets."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from sensorfuse.bench import ops_runs


def _run(path: Path, ours: float, peers: dict[str, float], bound_ms: float, bev: tuple[float, float]) -> str:
    best = min(peers.values())
    rows = [
        {
            "input": "u",
            "grid": "g",
            "impl": "sensorfuse numba",
            "status": "ok",
            "median_ms": ours,
            "speedup_vs_best_peer": best / ours,
            "x_bandwidth_bound": ours / bound_ms,
        }
    ]
    rows += [{"input": "u", "grid": "g", "impl": p, "status": "ok", "median_ms": t} for p, t in peers.items()]
    rows.append({"input": "u", "grid": "g", "impl": "mmcv", "status": "not installed"})
    fwd, ref = bev
    bev_rows = [
        {
            "shape": "S",
            "impl": "sensorfuse numba",
            "forward_ms": fwd,
            "speedup_forward": ref / fwd,
            "speedup_fwd_bwd": 2.0,
        },
        {"shape": "S", "impl": "torch reference", "forward_ms": ref},
    ]
    data = {
        "voxelize": rows,
        "bev_pool": bev_rows,
        "copy_bandwidth_runs_gbs": [20.0, 25.0],
        "loadavg_before": [1.0],
    }
    path.write_text(json.dumps(data))
    return str(path)


def test_summary_of_three_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        _run(tmp_path / "g1.json", 2.0, {"spconv": 5.0, "open3d.ml": 6.0}, 1.0, (1.0, 6.0)),
        _run(tmp_path / "g2.json", 4.0, {"spconv": 9.0, "open3d.ml": 7.0}, 1.0, (2.0, 8.0)),
        _run(tmp_path / "g10.json", 3.0, {"spconv": 4.0, "open3d.ml": 8.0}, 1.0, (1.0, 5.5)),
    ]
    assert ops_runs.main(list(reversed(files))) == 0
    out = capsys.readouterr().out
    assert "3 runs; copy bandwidth 20.0–25.0 GB/s" in out
    row = next(line for line in out.splitlines() if line.startswith("| u | g |"))
    # ours: median 3.00 of (2, 4, 3); best peer per run 5 (spconv), 7 (open3d.ml), 4 (spconv): median 5
    assert "| 3.00 ms (2.00–4.00) | 5.00 ms (spconv 2, open3d.ml 1) |" in row
    # runs in natural order g1, g2, g10: speed-ups 2.5, 1.75, 1.33; x bound 2, 4, 3
    assert "2.50 / 1.75 / 1.33 (**1.75x**; ≥ 2x in 1 of 3)" in row
    assert "2.0 / 4.0 / 3.0 (**3.0**; ≤ 3 in 2 of 3)" in row
    bev = next(line for line in out.splitlines() if line.startswith("| S |"))
    assert "6.00 / 4.00 / 5.50 (**5.50x**; ≥ 5x in 2 of 3)" in bev


def test_not_a_benchmark_file_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"voxelize": []}))
    with pytest.raises(SystemExit, match=r"x\.json: field 'bev_pool' missing"):
        ops_runs.main([str(bad)])


def test_which_peer_was_best() -> None:
    assert ops_runs._which(Counter({"open3d.ml": 8}), 8) == "open3d.ml, 8 of 8"
    assert ops_runs._which(Counter({"spconv": 2, "mmcv": 6}), 8) == "mmcv 6, spconv 2"
    assert ops_runs._which(Counter(), 8) == "-"


def test_a_run_without_our_timing_is_named(tmp_path: Path) -> None:
    good = _run(tmp_path / "g1.json", 2.0, {"spconv": 5.0}, 1.0, (1.0, 6.0))
    bad = tmp_path / "g2.json"
    data = json.loads(Path(good).read_text())
    data["voxelize"][0]["status"] = "failed"
    bad.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match=r"g2\.json: voxelize u / g: no timing of 'sensorfuse numba'"):
        ops_runs.main([good, str(bad)])


def test_runs_without_bandwidth_or_load_still_summarise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "g1.json"
    data = json.loads(Path(_run(path, 2.0, {"spconv": 5.0}, 1.0, (1.0, 6.0))).read_text())
    del data["copy_bandwidth_runs_gbs"], data["loadavg_before"]
    path.write_text(json.dumps(data))
    assert ops_runs.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "1 runs"
    assert "2.50 (**2.50x**; ≥ 2x in 1 of 1)" in out
