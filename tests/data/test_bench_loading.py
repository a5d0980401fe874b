"""Smoke test of the loading benchmark (both paths run and give the same kind of sample)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorfuse.bench.loading import markdown, run_benchmark

pytestmark = pytest.mark.realdata


def test_loading_benchmark_runs_both_paths(real_world: tuple[Path, str, str]) -> None:
    root, version, _ = real_world
    rep = run_benchmark(str(root), version, samples=2, workers=[0], image_hw=(128, 352), scene_seconds=1.0)
    for path in ("sensorfuse", "naive_devkit"):
        r = rep["results"][path]["0"]
        assert r["samples"] == 2 and r["samples_per_s"] > 0
    assert rep["speedup_per_core"]["0"] > 0
    assert "| 0 |" in markdown(rep)
