from pathlib import Path

import numpy as np
import pytest
import yaml

from sensorfuse.calib.rig import load_rig, rig_from_tables, save_rig
from sensorfuse.errors import ConfigError
from sensorfuse.synth.config import DEFAULT_RIG


def test_shipped_rig_is_the_real_nuscenes_rig() -> None:
    rig = load_rig(DEFAULT_RIG)
    assert len(rig.sensors) == 12 and len(rig.channels("camera")) == 6 and len(rig.channels("radar")) == 5
    front = rig.sensors["CAM_FRONT"]
    assert front.intrinsic is not None and front.intrinsic[0, 0] == pytest.approx(1266.417, abs=1e-3)
    assert front.sensor_token == "725903f5b62f56118f4094b46a4470d8"


@pytest.mark.realdata
def test_tables_yaml_roundtrip_matches_info(realdata: Path, tmp_path: Path) -> None:
    import json

    rig = rig_from_tables(realdata / "v1.0-mini-tables", 0)
    save_rig(rig, tmp_path / "r.yaml")
    back = load_rig(tmp_path / "r.yaml")
    assert back.sensors.keys() == rig.sensors.keys()
    for ch in rig.sensors:
        assert np.allclose(back.ego_from_sensor(ch).matrix, rig.ego_from_sensor(ch).matrix, atol=1e-12)
    info = json.loads((realdata / "nuscenes-mini-sample" / "info.json").read_text())["data_list"][0]
    assert np.allclose(back.ego_from_sensor("LIDAR_TOP").matrix, info["lidar_points"]["lidar2ego"], atol=1e-6)
    assert np.allclose(back.sensors["CAM_FRONT"].intrinsic, info["images"]["CAM_FRONT"]["cam2img"], atol=1e-6)


def _write(tmp_path: Path, mutate: object) -> Path:
    data = yaml.safe_load(DEFAULT_RIG.read_text())
    mutate(data)  # type: ignore[operator]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_non_orthonormal_rotation(tmp_path: Path) -> None:
    def skew(d: dict) -> None:
        d["sensors"]["RADAR_FRONT"]["rotation"] = [0.9, 0.3, 0.0, 0.1]

    with pytest.raises(ConfigError, match=r"bad\.yaml \[RADAR_FRONT\.rotation\]"):
        load_rig(_write(tmp_path, skew))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("modality", "sonar", "modality"),
        ("translation", [0, 1], "translation"),
        ("intrinsic", [[0, 0, 1], [0, 1, 1], [0, 0, 1]], "intrinsic"),
        ("sensor_token", "", "sensor_token"),
    ],
)
def test_bad_fields(tmp_path: Path, field: str, value: object, message: str) -> None:
    def bad(d: dict) -> None:
        d["sensors"]["CAM_FRONT"][field] = value

    with pytest.raises(ConfigError, match=rf"CAM_FRONT\.{message}"):
        load_rig(_write(tmp_path, bad))


def test_missing_file_and_channel(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_rig(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="no sensor 'CAM_X'"):
        load_rig(DEFAULT_RIG).ego_from_sensor("CAM_X")
