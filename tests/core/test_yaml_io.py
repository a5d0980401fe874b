"""The shared YAML reader: parsed data back, and errors that name the file and what is wrong."""

from pathlib import Path

import pytest

from sensorfuse.errors import ConfigError
from sensorfuse.utils.yaml_io import read_yaml


def test_reads_yaml(tmp_path: Path) -> None:
    p = tmp_path / "a.yaml"
    p.write_text("a: 1\nb: [x, y]\n")
    assert read_yaml(p, "config file") == {"a": 1, "b": ["x", "y"]}


def test_missing_file_names_file_and_kind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: rig file does not exist"):
        read_yaml(tmp_path / "nope.yaml", "rig file")


def test_invalid_yaml_names_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: the model config is not valid YAML"):
        read_yaml(p, "model config")


def test_undecodable_file_names_file(tmp_path: Path) -> None:
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match=r"bin\.yaml: "):
        read_yaml(p, "config file")
