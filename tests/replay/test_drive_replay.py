"""Recorded drives replay like the nuScenes files (issue 23's round trip), through the real CLI.

A synthetic scene exported to MCAP (ROS 2 CDR), to a rosbag2 .db3 folder and to the Foxglove layout replays
with the same checkpoint to the same detections as the scene replayed from its nuScenes files (``--speed 0``,
every sweep); a drive of another rig replays with the nuScenes-trained model, its absent sensors reported.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from sensorfuse.cli import main
from sensorfuse.data.config import SampleConfig
from sensorfuse.data.sample import nuscenes_drive
from sensorfuse.replay.outputs import read_jsonl
from sensorfuse.sources.export_mcap import export_drive
from sensorfuse.sources.nuscenes import NuScenesIndex

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
from drive_fixtures import write_other_rig_bag

SCENE = "scene-0103"
FRAMES = [
    "--max-frames",
    "4",
    "--trigger",
    "sweep",
    "--speed",
    "0",
    "--min-score",
    "0",
    "--no-rerun",
    "--no-mp4",
]
#: what may differ between two replays of the same frames: how long they took
TIMING = ("latency_ms", "wall_time")


def _replay(argv: list[str], ckpt: Path, out: Path) -> list[dict[str, Any]]:
    assert main(["replay", *argv, "--checkpoint", str(ckpt), "--out", str(out), *FRAMES]) == 0
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_jsonl(out / "detections.jsonl")]


@pytest.fixture(scope="module")
def from_files(
    synth_world: tuple[Path, str], tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory
) -> list:
    root, version = synth_world
    out = tmp_path_factory.mktemp("files")
    return _replay(["--dataroot", str(root), "--version", version, "--scene", SCENE], tiny_ckpt, out)


@pytest.mark.parametrize(
    ("container", "name"), [("mcap", "scene.mcap"), ("db3", "scene_bag"), ("foxglove", "fox.mcap")]
)
def test_exported_scene_replays_to_the_same_detections(
    synth_world: tuple[Path, str],
    tiny_ckpt: Path,
    from_files: list,
    tmp_path: Path,
    container: str,
    name: str,
) -> None:
    root, version = synth_world
    drive = nuscenes_drive(NuScenesIndex(root, version), SampleConfig(), SCENE)
    export_drive(drive, tmp_path / name, container=container, progress=False)
    from_bag = _replay(["--drive", str(tmp_path / name)], tiny_ckpt, tmp_path / "out")
    assert len(from_bag) == len(from_files) == 4
    assert any(r["detections"] for r in from_files)  # a test of equal empty lists would prove nothing
    for a, b in zip(from_files, from_bag):
        if container == "foxglove":  # the Foxglove layout carries no ground truth, so no keyframe scores
            a, b = (
                {k: v for k, v in r.items() if k not in ("score", "sample_token", "is_key_frame")}
                for r in (a, b)
            )
        assert a["detections"] == b["detections"]
        assert a == b


def test_other_rig_replays_with_the_nuscenes_model(tiny_ckpt: Path, tmp_path: Path) -> None:
    """One front camera, a LiDAR under another name with per-point time, a RadarScan radar: the model runs on
    them; the nuScenes cameras and radars this rig lacks are reported absent in every frame."""
    bag = tmp_path / "other.mcap"
    write_other_rig_bag(bag, "mcap", frames=4)
    rig = Path(__file__).resolve().parents[2] / "calib" / "rigs" / "other_car.yaml"
    out = tmp_path / "out"
    assert main(["replay", "--drive", str(bag), "--rig", str(rig), "--checkpoint", str(tiny_ckpt),
                 "--out", str(out), "--speed", "0", "--trigger", "sweep", "--min-score", "0",
                 "--no-rerun", "--no-mp4"]) == 0  # fmt: skip
    lines = read_jsonl(out / "detections.jsonl")
    assert len(lines) == 4
    for r in lines:
        assert r["modalities"]["lidar"] and r["missing"]["CAM_BACK"].startswith("absent")
        assert "CAM_BACK" not in r["sensors_used"] and "os_top" in r["sensors_used"]
    # the camera and radar are stamped 20 / 30 ms after each sweep: causally, the first frame has neither
    assert lines[0]["missing"]["CAM_FRONT"] == "absent: no message"
    for r in lines[1:]:
        assert r["modalities"]["camera"] and r["modalities"]["radar"]
        assert {"CAM_FRONT", "RADAR_FRONT"} <= set(r["sensors_used"])


def test_several_drives_in_one_command_are_shared_across_ranks(tiny_ckpt: Path, tmp_path: Path) -> None:
    """``--drive A B``: each recording replays into OUT/<name>/; rank r of a torchrun world takes every
    world-th recording (here checked through :func:`open_recordings` for a world of 2)."""
    import argparse

    from sensorfuse.data.recording import add_recording_arguments, open_recordings

    bags = [tmp_path / "a.mcap", tmp_path / "b.mcap"]
    for bag in bags:
        write_other_rig_bag(bag, "mcap", frames=2)
    rig = Path(__file__).resolve().parents[2] / "calib" / "rigs" / "other_car.yaml"
    parser = argparse.ArgumentParser()
    add_recording_arguments(parser)
    args = parser.parse_args(["--drive", *map(str, bags), "--rig", str(rig)])
    shares = [[n for n, _ in open_recordings(args, SampleConfig(), rank, 2)] for rank in (0, 1)]
    assert shares == [["a.mcap"], ["b.mcap"]]
    out = tmp_path / "out"
    assert main(["replay", "--drive", *map(str, bags), "--rig", str(rig), "--checkpoint", str(tiny_ckpt),
                 "--out", str(out), "--speed", "0", "--no-rerun", "--no-mp4", "--trigger", "sweep"]) == 0  # fmt: skip
    folders = sorted(p.name for p in out.iterdir())
    assert folders == ["a.mcap", "b.mcap"]
    assert all(len(read_jsonl(out / f / "detections.jsonl")) == 2 for f in folders)
