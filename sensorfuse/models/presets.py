"""The two shipped model presets, read from ``sensorfuse/configs/model_*.yaml``."""

from __future__ import annotations

from pathlib import Path

from sensorfuse.models.config import ModelConfig, load_model_config

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def small_config() -> ModelConfig:
    """CPU-trainable in minutes: 128 x 128 BEV at 0.8 m, 0.4 m pillars, tiny ResNets, 32 depth bins."""
    return load_model_config(CONFIG_DIR / "model_small.yaml")


def bevfusion_config() -> ModelConfig:
    """BEVFusion-sized: 180 x 180 BEV at 0.6 m over 54 m, 0.075 m pillars, 256 x 704 images."""
    return load_model_config(CONFIG_DIR / "model_bevfusion.yaml")
