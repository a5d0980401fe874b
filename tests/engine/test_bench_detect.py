"""The detection benchmark's variants are valid config overrides, and its target checks compare correctly."""

from __future__ import annotations

from sensorfuse.bench.detect import CONFIG, VARIANTS, checks, mean_over_seeds
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


def test_mean_over_seeds() -> None:
    def run(nds: float, rob: float, seconds: float) -> dict:
        tp = {"trans_err": nds, "vel_err": 1.0}
        return {
            "rows": {
                "lidar+radar": {"NDS": nds, "mAP": nds / 2, "tp_errors": tp},
                "lidar": {"NDS": rob, "mAP": 0.0, "tp_errors": tp},
            },
            "train_seconds": seconds,
        }

    out = mean_over_seeds("x", {0: run(0.4, 0.2, 10.0), 1: run(0.6, 0.3, 30.0)})
    row = out["rows"]["lidar+radar"]
    assert abs(row["NDS"] - 0.5) < 1e-12 and abs(row["mAP"] - 0.25) < 1e-12
    assert row["NDS_per_seed"] == [0.4, 0.6] and abs(row["tp_errors"]["trans_err"] - 0.5) < 1e-12
    assert abs(out["rows"]["lidar"]["NDS"] - 0.25) < 1e-12
    assert out["seeds"] == [0, 1] and out["train_seconds"] == 20.0
    assert list(out["rows"]) == ["lidar+radar", "lidar"]  # the variant's own sensor set stays first
