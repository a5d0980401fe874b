"""Generator parameters, errors and determinism."""

import hashlib
from pathlib import Path

import pytest
import yaml

from sensorfuse.errors import ConfigError
from sensorfuse.synth import SynthConfig, generate
from sensorfuse.synth.config import DEFAULT_RIG, MINI_TRAIN, MINI_VAL, scene_names

TINY = dict(
    scenes=1, scene_seconds=1.0, image_width=64, image_height=36, lidar_azimuth_steps=200, progress=False
)


def test_mini_names_equal_devkit() -> None:
    from nuscenes.utils.splits import create_splits_scenes

    s = create_splits_scenes()
    assert list(MINI_TRAIN) == s["mini_train"] and list(MINI_VAL) == s["mini_val"]
    names = scene_names(SynthConfig(scenes=10))
    assert [n for n, _ in names] == list(MINI_VAL) + list(MINI_TRAIN)
    trainval = scene_names(SynthConfig(version="v1.0-trainval", scenes=20))
    assert {n for n, sp in trainval if sp == "val"} <= set(s["val"]) and len(trainval) == 20


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    two = {**TINY, "scenes": 2}
    a = generate(tmp_path / "a", SynthConfig(seed=3, workers=1, **two))  # type: ignore[arg-type]
    generate(tmp_path / "b", SynthConfig(seed=3, workers=2, **two))  # type: ignore[arg-type]
    generate(tmp_path / "c", SynthConfig(seed=4, **TINY))  # type: ignore[arg-type]
    da, db, dc = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert da == db and len(da) > 50
    assert da["v1.0-mini/sample_annotation.json"] != dc["v1.0-mini/sample_annotation.json"]
    assert a.samples == 4 and a.sweeps["LIDAR_TOP"] == 22 and a.sweeps_per_second > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": ("car", "spaceship")}, "unknown class name"),
        ({"scenes": 0}, "at least 1 scene"),
        ({"scenes": 11}, "only 2 val and 8 train"),
        ({"image_width": 5}, "image size"),
    ],
)
def test_bad_parameters(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        generate(tmp_path / "w", SynthConfig(**{**TINY, **kwargs}))  # type: ignore[arg-type]
    assert not (tmp_path / "w").exists()


def test_existing_and_unwritable_output(tmp_path: Path) -> None:
    (tmp_path / "exists").mkdir()
    with pytest.raises(ConfigError, match=r"already exists.*--overwrite"):
        generate(tmp_path / "exists", SynthConfig(**TINY))  # type: ignore[arg-type]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        generate(tmp_path / "file" / "w", SynthConfig(**TINY))  # type: ignore[arg-type]
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    try:
        import os

        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that can write to read-only folders (root)")
        with pytest.raises(ConfigError, match="not writable"):
            generate(ro / "w", SynthConfig(**TINY))  # type: ignore[arg-type]
    finally:
        ro.chmod(0o700)


def test_non_orthonormal_rig(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_RIG.read_text())
    data["sensors"]["CAM_BACK"]["rotation"] = [1.0, 0.2, 0.0, 0.0]
    (tmp_path / "rig.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"rig\.yaml \[CAM_BACK\.rotation\]"):
        generate(tmp_path / "w", SynthConfig(rig_path=tmp_path / "rig.yaml", **TINY))  # type: ignore[arg-type]


def test_cli_error_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sensorfuse.cli import main

    assert main(["synth", "--out", str(tmp_path / "w"), "--classes", "car", "ufo"]) == 2
    assert "unknown class name" in capsys.readouterr().err
