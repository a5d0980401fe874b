"""StageTimer (sensorfuse.utils.timing): stages add up to end to end, statistics, Markdown and the PNG."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sensorfuse.errors import ConfigError
from sensorfuse.utils.timing import StageStats, StageTimer, markdown_table, plot_stacked


def _busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1e3
    while time.perf_counter() < end:
        pass


class _FakeClock:
    """Stands in for ``time``: each busy() advances wall and CPU clocks by exactly ``ms`` (no flakiness)."""

    def __init__(self) -> None:
        self.ns = 1_000_000

    def perf_counter_ns(self) -> int:
        self.ns += 1_000  # 1 µs of bookkeeping per clock read: the glue between stages
        return self.ns

    process_time_ns = perf_counter_ns

    def busy(self, ms: float) -> None:
        self.ns += int(ms * 1e6)


def test_stage_times_add_up_to_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    import sensorfuse.utils.timing as timing

    clock = _FakeClock()
    monkeypatch.setattr(timing, "time", clock)
    timer = StageTimer("cpu")
    for _ in range(5):
        with timer.frame():
            with timer.stage("load"):
                clock.busy(3)
            with timer.stage("lidar_encoder"):
                clock.busy(2)
            with timer.stage("head"):
                clock.busy(1)
    s = timer.summary()
    assert s.n_frames == 5
    assert s.cpu_time.n == 5 and s.cpu_time.mean > 0  # busy loops burn CPU time
    assert set(s.stages) == {"load", "lidar_encoder", "head"}
    assert s.stages["load"].p50 == pytest.approx(3.0, abs=0.01) and s.stages["head"].p50 == pytest.approx(
        1.0, abs=0.01
    )
    stage_sum = sum(st.mean_per_frame for st in s.stages.values())
    assert stage_sum == pytest.approx(6.0, abs=0.01)
    assert s.end_to_end.mean == pytest.approx(stage_sum, abs=0.02)  # only the µs of clock reads are glue
    # without pre-processing = end to end minus load
    assert s.end_to_end_no_preprocessing.mean == pytest.approx(
        s.end_to_end.mean - s.stages["load"].mean, abs=1e-6
    )
    d = s.as_dict()
    json.dumps(d)
    assert d["units"] == "ms" and d["stages"]["load"]["n"] == 5


def test_stage_outside_frame_is_not_recorded_and_unknown_stage_rejected() -> None:
    timer = StageTimer()
    with timer.stage("load"):
        pass
    assert timer.frames == []
    with pytest.raises(ConfigError, match="unknown timing stage"), timer.frame(), timer.stage("warp_drive"):
        pass


def test_stats_percentiles_and_absent_stage_frames() -> None:
    st = StageStats.of(list(range(1, 101)), n_frames=200)
    assert st.p50 == pytest.approx(50.5) and st.p99 == pytest.approx(99.01)
    assert st.mean == pytest.approx(50.5) and st.mean_per_frame == pytest.approx(25.25)
    assert StageStats.of([], 3).n == 0


def test_markdown_and_plot(tmp_path: Path) -> None:
    timer = StageTimer()
    for _ in range(3):
        with timer.frame(), timer.stage("fuser"):
            _busy(0.5)
    table = markdown_table({"small": timer.summary(), "other": timer.summary()})
    assert "| fuser |" in table and "small p50" in table and "end to end" in table and "glue" in table
    plot_stacked({"small": timer.summary()}, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.cuda
def test_cuda_event_timing_adds_up() -> None:
    import torch

    timer = StageTimer("cuda")
    x = torch.randn(512, 512, device="cuda")
    for _ in range(3):
        with timer.frame():
            with timer.stage("lidar_encoder"):
                y = x @ x
            with timer.stage("head"):
                y = y @ x
    s = timer.summary()
    assert sum(v.mean_per_frame for v in s.stages.values()) <= s.end_to_end.mean * 1.05 + 0.1


def test_run_times_the_call_as_a_stage_and_returns_its_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The timer is the detector's stage hook: ``run(name, fn, *args)`` = ``fn(*args)`` under ``stage(name)``."""
    import sensorfuse.utils.timing as timing

    clock = _FakeClock()
    monkeypatch.setattr(timing, "time", clock)
    timer = StageTimer()

    def work(a: int, *, b: int) -> int:
        clock.busy(2)
        return a + b

    with timer.frame():
        assert timer.run("fuser", work, 1, b=2) == 3
    assert timer.frames[0]["fuser"] == pytest.approx(2.0, abs=0.01)
    with pytest.raises(ConfigError, match="unknown timing stage"), timer.frame():
        timer.run("warp_drive", work, 1, b=2)
