"""The one YAML file reader: ``yaml.safe_load`` with errors that name the file (rigs, configs, model configs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sensorfuse.errors import ConfigError


def read_yaml(path: str | Path, what: str) -> Any:
    """Parsed content of the YAML file ``path`` (``what`` names it in errors, e.g. "rig file").

    Raises :class:`ConfigError` naming the file when it does not exist, cannot be read or is not valid YAML.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} does not exist")
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: the {what} is not valid YAML: {e}") from e
