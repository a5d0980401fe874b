"""mRR / mCE as RoboBEV defines them, the table and the heat map (class: wrong benchmark arithmetic)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sensorfuse.corrupt.catalog import get
from sensorfuse.corrupt.report import (
    CLEAN,
    Score,
    corruption_error,
    format_table,
    heatmap,
    levels_for,
    mean,
    resilience,
    summary,
)

FOG, DROP, GONE = get("camera_fog"), get("camera_view_drop"), get("lidar_missing")


def scores(
    clean: float, fog: tuple[float, ...], drop: tuple[float, ...], gone: float
) -> dict[tuple[str, int], Score]:
    out = {CLEAN: Score(clean, clean - 0.1)}
    out |= {("camera_fog", k): Score(v, v - 0.1) for k, v in enumerate(fog, 1)}
    out |= {("camera_view_drop", k): Score(v, v - 0.1) for k, v in enumerate(drop, 1)}
    out[("lidar_missing", 1)] = Score(gone, gone - 0.1)
    return out


def test_resilience_and_corruption_error_follow_robobev() -> None:
    model = scores(0.6, (0.5, 0.4, 0.3), (0.6, 0.55, 0.5), 0.2)
    base = scores(0.5, (0.4, 0.3, 0.2), (0.5, 0.5, 0.5), 0.1)
    cs = [FOG, DROP, GONE]
    rr = resilience(model, cs, (1, 2, 3))
    assert rr["camera_fog"] == pytest.approx((0.5 + 0.4 + 0.3) / (3 * 0.6))
    assert rr["camera_view_drop"] == pytest.approx((0.6 + 0.55 + 0.5) / (3 * 0.6))
    assert rr["lidar_missing"] == pytest.approx(0.2 / 0.6)  # one level
    ce = corruption_error(model, base, cs, (1, 2, 3))
    assert ce["camera_fog"] == pytest.approx((0.5 + 0.6 + 0.7) / (0.6 + 0.7 + 0.8))
    assert ce["lidar_missing"] == pytest.approx(0.8 / 0.9)
    assert mean(rr) == pytest.approx(sum(rr.values()) / 3)
    assert math.isnan(mean({"a": math.nan}))
    # severities asked: only those enter RR and CE (a one-level corruption keeps its level)
    rr2 = resilience(model, cs, (3,))
    assert rr2["camera_fog"] == pytest.approx(0.3 / 0.6) and rr2["lidar_missing"] == pytest.approx(0.2 / 0.6)
    assert levels_for(GONE, (2, 3)) == (1,) and levels_for(FOG, (2, 3)) == (2, 3)


def test_table_and_heatmap(tmp_path: Path) -> None:
    model = scores(0.6, (0.5, 0.4, 0.3), (0.6, 0.55, 0.5), 0.2)
    model[("camera_view_drop", 2)] = Score(0.6, 0.5, applicable=False)
    base = scores(0.5, (0.4, 0.3, 0.2), (0.5, 0.5, 0.5), 0.1)
    s = summary(model, [FOG, DROP, GONE], (1, 2, 3), base)
    assert s["mrr"] == pytest.approx(mean(s["rr"])) and s["mce"] == pytest.approx(mean(s["ce"]))
    assert set(s["family_mrr"]) == {"camera", "failures"}
    text = format_table(s, "suite", [FOG, DROP, GONE])
    assert "| camera_fog | 0.5000 | 0.4000 | 0.3000 |" in text
    assert "0.6000 ·" in text  # the not-applicable row is marked
    assert f"mRR {100 * s['mrr']:.1f}%" in text and f"mCE {100 * s['mce']:.1f}%" in text
    png = heatmap(tmp_path / "h.png", s, [FOG, DROP, GONE], "suite")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_base = summary(model, [FOG], (1, 2, 3))
    assert (
        no_base["mce"] is None
        and "CE" not in format_table(no_base, "t", [FOG]).split("| corruption")[1].split("\n")[0]
    )
