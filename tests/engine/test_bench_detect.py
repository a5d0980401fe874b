"""The detection benchmark's variants are valid config overrides, and its target checks compare correctly."""

from __future__ import annotations

from sensorfuse.bench.detect import CONFIG, VARIANTS, checks
from sensorfuse.engine.config import load_config


def test_every_variant_is_a_valid_config() -> None:
    for v in VARIANTS:
        cfg = load_config(CONFIG, v.overrides())
        assert cfg.model.sensors == v.sensors and cfg.model.fuser.kind == v.fuser
        assert (cfg.model.dropout.lidar > 0) == v.dropout


def _res(nds: float, **rows: float) -> dict:
    return {"rows": {"all": {"NDS": nds, "mAP": 0.0}, **{k: {"NDS": x, "mAP": 0.0} for k, x in rows.items()}}}


def test_checks_pass_and_fail() -> None:
    res = {
        "transformer": _res(0.5),
        "lidar_only": _res(0.4),
        "gated": _res(0.6),
        "lidar+camera": _res(0.5),
        "transformer+dropout": _res(0.5, **{"lidar+camera": 0.46, "lidar+radar": 0.1}),
        "lidar+radar": _res(0.5),
    }
    lines = "\n".join(checks(res))
    assert "> lidar_only NDS: PASS" in lines and "> gated NDS: FAIL" in lines and "> concat NDS: n/a" in lines
    assert "only lidar+camera ≥ 90% of the lidar+camera specialist's NDS: PASS" in lines
    assert "only lidar+radar ≥ 90% of the lidar+radar specialist's NDS: FAIL" in lines
