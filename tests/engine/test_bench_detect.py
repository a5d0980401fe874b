"""The detection benchmark's variants are valid config overrides, its target checks compare correctly, and it
refuses to reuse runs or worlds made with other settings."""

from __future__ import annotations

import argparse
import json

import pytest

from sensorfuse.bench.detect import (
    CONFIG,
    VARIANTS,
    _train_overrides,
    add_arguments,
    check_code,
    check_reuse,
    checks,
    make_world,
    mean_over_seeds,
)
from sensorfuse.engine.config import load_config, save_config
from sensorfuse.errors import ConfigError


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


def _args(tmp_path, *argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(["--work", str(tmp_path), *argv])


def test_reuse_refuses_a_run_trained_with_other_steps(tmp_path) -> None:
    v = VARIANTS[0]
    old = _train_overrides(v, _args(tmp_path, "--steps", "400"), tmp_path / "world", "v1.0-trainval", 0)
    saved = tmp_path / "lidar_only" / "train" / "config.yaml"
    saved.parent.mkdir(parents=True)
    save_config(load_config(CONFIG, old), saved)
    check_reuse(saved, old)  # same settings: reused silently
    moved = _train_overrides(
        v, _args(tmp_path / "moved", "--steps", "400"), tmp_path / "w2", "v1.0-trainval", 0
    )
    check_reuse(saved, moved)  # the --work folder moved: paths differ, the training does not
    new = _train_overrides(v, _args(tmp_path, "--steps", "800"), tmp_path / "world", "v1.0-trainval", 0)
    with pytest.raises(ConfigError, match=r"config.yaml.*optim.max_steps: run has 400, benchmark wants 800"):
        check_reuse(saved, new)


def test_reuse_ignores_fuser_fields_the_variant_does_not_read(tmp_path, capsys) -> None:
    """A concat run stays valid when the transformer's depth changes; a transformer run does not."""
    args = _args(tmp_path)
    by_name = {v.name: v for v in VARIANTS}
    for name, reused in (("concat", True), ("transformer", False)):
        v = by_name[name]
        old = _train_overrides(v, args, tmp_path / "world", "v1.0-trainval", 0)
        saved = tmp_path / name / "train" / "config.yaml"
        saved.parent.mkdir(parents=True)
        save_config(load_config(CONFIG, [*old, "model.fuser.layers=7"]), saved)
        if reused:
            check_reuse(saved, old)
            assert (
                "model.fuser.layers differ, but a concat fuser does not read them" in capsys.readouterr().out
            )
        else:
            with pytest.raises(ConfigError, match=r"model\.fuser\.layers: run has 7, benchmark wants"):
                check_reuse(saved, old)
    # a field concat does read is still compared
    saved = tmp_path / "concat" / "train" / "config.yaml"
    with pytest.raises(ConfigError, match=r"model\.fuser\.channels: run has"):
        check_reuse(
            saved,
            [
                *_train_overrides(by_name["concat"], args, tmp_path / "world", "v1.0-trainval", 0),
                "model.fuser.channels=8",
            ],
        )


def test_reuse_refuses_a_world_made_with_other_parameters(tmp_path) -> None:
    world = tmp_path / "world"
    (world / "v1.0-trainval").mkdir(parents=True)
    (world / "v1.0-trainval" / "sample.json").write_text("[]")
    (world / "v1.0-trainval" / "scene.json").write_text(json.dumps([{}] * 14))
    assert make_world(_args(tmp_path), world) == (world, "v1.0-trainval")  # unstamped world, 14 scenes: ok
    with pytest.raises(ConfigError, match="scenes: world has 14, benchmark wants 10"):
        make_world(_args(tmp_path, "--scenes", "10"), world)
    stamp = {"seed": 7, "scenes": 14, "val_scenes": 4, "scene_seconds": 8.0}
    (world / "bench_world.json").write_text(json.dumps(stamp))
    with pytest.raises(ConfigError, match="seed: world has 7, benchmark wants 2026"):
        make_world(_args(tmp_path), world)


def test_reuse_refuses_a_run_trained_by_other_code(tmp_path, capsys) -> None:
    from sensorfuse.engine import provenance

    check_code(tmp_path, allow_change=False)  # no provenance.json (an older run): reused, with a note
    assert "no provenance.json" in capsys.readouterr().out
    provenance.record(tmp_path, 0)
    check_code(tmp_path, allow_change=False)  # trained by this checkout
    entries = json.loads((tmp_path / "provenance.json").read_text())
    entries[0]["source_sha256"]["models/fusers.py"] = "0" * 64
    (tmp_path / "provenance.json").write_text(json.dumps(entries))
    with pytest.raises(ConfigError, match=r"other code.*models/fusers.py.*--allow-code-change"):
        check_code(tmp_path, allow_change=False)
    check_code(tmp_path, allow_change=True)
    assert "across code changes (models/fusers.py)" in capsys.readouterr().out


def _finished_run(work, v, stale: bool) -> None:
    """A finished run of variant ``v`` (seed 0) in ``work``: its config, a metrics summary, provenance."""
    from sensorfuse.engine import provenance

    train = work / v.name.replace("+", "_") / "train"
    train.mkdir(parents=True)
    args = _args(work)
    save_config(
        load_config(CONFIG, _train_overrides(v, args, work / "world", "v1.0-trainval", 0)),
        train / "config.yaml",
    )
    (train.parent / "eval").mkdir()
    summary = {"mean_ap": 0.5, "nd_score": 0.6, "tp_errors": {"trans_err": 0.3}}
    (train.parent / "eval" / "metrics_summary.json").write_text(json.dumps(summary))
    provenance.record(train, 0)
    if stale:
        entries = json.loads((train / "provenance.json").read_text())
        entries[0]["source_sha256"]["models/fusers.py"] = "0" * 64
        (train / "provenance.json").write_text(json.dumps(entries))


def test_a_stale_run_not_asked_for_is_left_out_of_the_table(tmp_path, capsys) -> None:
    """Finished runs of variants not asked for join the table, unless they are stale: then a note, no crash.
    An asked-for stale variant still stops the benchmark."""
    from sensorfuse.bench.detect import main

    world = tmp_path / "world" / "v1.0-trainval"
    world.mkdir(parents=True)
    (world / "sample.json").write_text("[]")
    (world / "scene.json").write_text(json.dumps([{}] * 14))
    by_name = {v.name: v for v in VARIANTS}
    _finished_run(tmp_path, by_name["lidar_only"], stale=False)
    _finished_run(tmp_path, by_name["camera_only"], stale=False)
    _finished_run(tmp_path, by_name["concat"], stale=True)
    argv = ["--work", str(tmp_path), "--out", str(tmp_path / "out"), "--train-seeds", "0"]
    assert main([*argv, "--variants", "lidar_only"]) == 0
    table = json.loads((tmp_path / "out" / "detect.json").read_text())
    assert sorted(table) == ["camera_only", "lidar_only"]  # camera_only joined, concat left out
    assert "note: concat left out of the table" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="other code"):
        main([*argv, "--variants", "concat"])
