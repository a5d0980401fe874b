"""TrainConfig: YAML + one-level base + dotted overrides, type-checked with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorfuse.engine.config import load_config, save_config
from sensorfuse.errors import ConfigError


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_yaml_base_and_overrides(tmp_path: Path) -> None:
    _write(tmp_path / "base.yaml", "optim:\n  lr: 0.5\n  max_steps: 10\nruntime:\n  batch_size: 3\n")
    cfg_path = _write(tmp_path / "run.yaml", "base: base.yaml\noptim:\n  max_steps: 20\n")
    cfg = load_config(cfg_path, ["optim.lr=1e-3", "runtime.out_dir=runs/x", "optim.betas=[0.8, 0.9]"])
    assert cfg.optim.lr == pytest.approx(1e-3)  # "1e-3" is a YAML string: coerced to float
    assert cfg.optim.max_steps == 20 and cfg.runtime.batch_size == 3
    assert cfg.runtime.out_dir == "runs/x" and cfg.optim.betas == (0.8, 0.9)


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(None, ["optim.max_steps=7", "model.fuser.kind=concat"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("optim.max_steps=many", "optim.max_steps: expected int"),
        ("optim.lr=fast", "optim.lr: expected float"),
        ("runtime.amp=maybe", "runtime.amp: expected bool"),
        ("optim.schedule=linear", "expected one of"),
        ("optim.betas=[0.9]", "expected 2 values"),
        ("optim.learning_rate=1", "unknown key 'learning_rate' in optim"),
        ("nosuch.key=1", "unknown key 'nosuch'"),
        ("optim.lr", "expected key=value"),
    ],
)
def test_override_errors_name_key_and_type(override: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        load_config(None, [override])


def test_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(_write(tmp_path / "a.yaml", "optim:\n  lrr: 1\n"))
    with pytest.raises(ConfigError, match=r"missing\.yaml: config file does not exist"):
        load_config(tmp_path / "missing.yaml")
    _write(tmp_path / "b0.yaml", "optim: {}\n")
    _write(tmp_path / "b1.yaml", "base: b0.yaml\n")
    with pytest.raises(ConfigError, match="one level"):
        load_config(_write(tmp_path / "b2.yaml", "base: b1.yaml\n"))
    with pytest.raises(ConfigError, match="expected int"):
        load_config(_write(tmp_path / "c.yaml", "runtime:\n  batch_size: two\n"))


def test_augmentation_is_configurable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(None, ["data.augment=true", "data.augmentation.flip_x_prob=0.25"])
    assert cfg.data.augment is True and cfg.data.augmentation.flip_x_prob == 0.25
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml", []).data.augmentation.flip_x_prob == 0.25
    with pytest.raises(ConfigError):
        load_config(None, ["data.augmentation.flip_x_prob=2.0"])
