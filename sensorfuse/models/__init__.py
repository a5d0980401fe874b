"""Models: per-modality BEV encoders, fusers, the CenterPoint head and :class:`FusionDetector`.

See docs/models.md. Entry points: :func:`build_detector`, :class:`ModelConfig`, :func:`load_model_config`.
"""

from sensorfuse.models.build import FUSERS, build_detector
from sensorfuse.models.config import ModelConfig, load_model_config, model_config_from_dict
from sensorfuse.models.detector import FusionDetector
from sensorfuse.models.grid import BEVGridSpec
from sensorfuse.models.postprocess import to_nuscenes_detections
from sensorfuse.models.presets import bevfusion_config, small_config

__all__ = [
    "FUSERS",
    "BEVGridSpec",
    "FusionDetector",
    "ModelConfig",
    "bevfusion_config",
    "build_detector",
    "load_model_config",
    "model_config_from_dict",
    "small_config",
    "to_nuscenes_detections",
]
