"""Synthetic world generator in the nuScenes on-disk format: ``generate(out_dir, SynthConfig(...))``."""

from sensorfuse.synth.config import SynthConfig
from sensorfuse.synth.generate import SynthSummary, generate

__all__ = ["SynthConfig", "SynthSummary", "generate"]
