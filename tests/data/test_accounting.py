"""Class: silent degradation — every dropped sensor is counted per channel and reason, and too many fail a run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sensorfuse.data import NuScenesIndex, SampleConfig, load_sample
from sensorfuse.data.accounting import INTENDED, MissingTally, missing_entry, reason_of
from sensorfuse.data.preflight import scan_files
from sensorfuse.errors import DataQualityError


def test_tally_counts_per_channel_and_reason_and_merges() -> None:
    a = MissingTally()
    a.add({"LIDAR_TOP": missing_entry("truncated", "x.bin: 7 bytes")})
    a.add(
        {"LIDAR_TOP": missing_entry("missing file", "y.bin"), "CAM_FRONT": missing_entry("corrupt", "c.jpg")}
    )
    a.add({})
    b = MissingTally.from_dict(a.to_dict())
    b.add({"lidar": missing_entry(INTENDED, "sensor subset")})
    a.merge(b)
    assert a.frames == 7
    assert a.counts["LIDAR_TOP"] == {"truncated": 2, "missing file": 2}
    assert a.dropped("LIDAR_TOP") == 4 and a.fraction("CAM_FRONT") == pytest.approx(2 / 7)
    # intended drops are reported but are no data fault
    assert a.dropped("lidar") == 0 and a.dropped("lidar", include_intended=True) == 1
    assert a.total_dropped == 6
    assert "| LIDAR_TOP | truncated | 2 |" in a.format_markdown()
    assert "LIDAR_TOP 4 (missing file 2, truncated 2)" in a.summary_line()
    assert reason_of("stale: 80000 µs") == "stale"


def test_check_fails_over_the_limit_and_names_the_sensor() -> None:
    t = MissingTally()
    for i in range(10):
        t.add({"LIDAR_TOP": missing_entry("missing file", f"f{i}.bin")} if i < 3 else {})
    t.check(0.3, "run x")  # 30% is not more than 30%
    with pytest.raises(
        DataQualityError, match=r"(?s)run x.*LIDAR_TOP: 3 of 10 samples \(30.0%\).*missing file 3"
    ):
        t.check(0.25, "run x")
    t.add({"lidar": missing_entry(INTENDED, "sensor subset")})
    t.check(0.3, "intended drops never fail")


def test_present_is_false_when_every_sample_lost_the_channel() -> None:
    t = MissingTally()
    t.add({"LIDAR_TOP": missing_entry("missing file", "a")})
    t.add({"LIDAR_TOP": missing_entry("truncated", "b")})
    assert not t.present(["LIDAR_TOP"])
    assert t.present(["CAM_FRONT"])
    assert not MissingTally().present(["CAM_FRONT"])


@pytest.fixture
def world_copy(synth_world: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    root, version = synth_world
    dst = tmp_path / "w"
    shutil.copytree(root, dst)
    return dst, version


def test_scan_files_finds_deleted_empty_and_truncated_files(world_copy: tuple[Path, str]) -> None:
    root, version = world_copy
    index = NuScenesIndex(root, version)
    tokens = index.split_tokens("all")
    clean = scan_files(index, tokens, SampleConfig(), progress=False)
    assert clean.frames == len(tokens) and clean.total_dropped == 0
    lidar = [index.path(index.sample(t)["data"]["LIDAR_TOP"]) for t in tokens]
    lidar[0].unlink()
    lidar[1].write_bytes(b"")
    lidar[2].write_bytes(lidar[3].read_bytes()[:-7])
    cam = index.path(index.sample(tokens[4])["data"]["CAM_FRONT"])
    cam.unlink()
    t = scan_files(index, tokens, SampleConfig(), progress=False)
    assert t.counts["LIDAR_TOP"] == {"missing file": 1, "empty file": 1, "truncated": 1}
    assert t.counts["CAM_FRONT"] == {"missing file": 1}
    assert str(lidar[0]) in t.examples["LIDAR_TOP"]
    # a LiDAR-only model does not care about the camera
    assert "CAM_FRONT" not in scan_files(index, tokens, SampleConfig(), False, ("lidar",)).counts


def test_every_lidar_deleted_fails_before_any_sample(world_copy: tuple[Path, str]) -> None:
    root, version = world_copy
    shutil.rmtree(root / "samples" / "LIDAR_TOP")
    index = NuScenesIndex(root, version)
    tally = scan_files(index, index.split_tokens("all"), SampleConfig(), progress=False)
    with pytest.raises(DataQualityError, match=r"LIDAR_TOP: \d+ of \d+ samples \(100.0%\)"):
        tally.check(0.05, str(root))


def test_load_sample_records_the_reason_of_a_dropped_sensor(world_copy: tuple[Path, str]) -> None:
    root, version = world_copy
    index = NuScenesIndex(root, version)
    token = index.split_tokens("all")[0]
    index.path(index.sample(token)["data"]["RADAR_FRONT"]).unlink()
    sample = load_sample(index, token, SampleConfig(on_missing="drop_sensor"))
    assert reason_of(sample.meta.missing["RADAR_FRONT"]) == "missing file"
    t = MissingTally()
    t.add(sample.meta.missing)
    assert t.dropped("RADAR_FRONT") == 1
