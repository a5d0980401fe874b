"""The dataclass reader of the configs, re-exported: it lives in :mod:`sensorfuse.utils.dataclass_io`, below
both the engine (training config) and the models (model config), which read their YAML with it."""

from sensorfuse.utils.dataclass_io import coerce, field_type, from_dict, to_dict

__all__ = ["coerce", "field_type", "from_dict", "to_dict"]
