"""A toy model and data set for engine tests (no detector, no dataset files needed)."""

from __future__ import annotations

import hashlib
import json
import socket
import sys
from pathlib import Path

import pytest
import torch
from torch import nn


class ToyModel(nn.Module):
    """Linear regression with dropout, so resuming must restore the RNG to repeat a step exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        err = self.net(batch["x"]).squeeze(-1) - batch["y"]
        mse = (err**2).mean()
        return {"loss": mse, "mse": mse.detach()}


def toy_dataset(n: int = 24, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=g)
    return [{"x": x[i], "y": y[i]} for i in range(n)]


def toy_collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


@pytest.fixture
def toy() -> tuple[type[ToyModel], list[dict[str, torch.Tensor]], object]:
    """(model class, 24-item data set, collate function)."""
    return ToyModel, toy_dataset(), toy_collate


def _tok(*parts: object) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def write_tiny_db(root: Path, version: str = "v1.0-mini") -> dict[str, list[str]]:
    """A minimal devkit-loadable DB (notes §8): scenes scene-0103 / scene-0916 (= mini_val) plus scene-0061,
    3 samples each, LIDAR_TOP key frames with ego poses, cars and pedestrians with attributes, a splits.json.
    Returns scene name → sample tokens."""
    tdir = root / version
    tdir.mkdir(parents=True)
    (root / "maps").mkdir()
    (root / "maps" / "m0.png").write_bytes(b"\x89PNG placeholder")  # only existence is checked at init
    cats = [("vehicle.car", _tok("cat", 0)), ("human.pedestrian.adult", _tok("cat", 1))]
    attrs = [("vehicle.moving", _tok("attr", 0)), ("pedestrian.standing", _tok("attr", 1))]
    t = {k: [] for k in ("sample", "sample_data", "ego_pose", "sample_annotation", "instance", "scene")}
    sensor = {"token": _tok("sensor"), "channel": "LIDAR_TOP", "modality": "lidar"}
    calib = {
        "token": _tok("calib"),
        "sensor_token": sensor["token"],
        "translation": [0.9, 0, 1.8],
        "rotation": [1, 0, 0, 0],
        "camera_intrinsic": [],
    }
    log = {
        "token": _tok("log"),
        "logfile": "log0",
        "vehicle": "v",
        "date_captured": "2018-01-01",
        "location": "boston-seaport",
    }
    scenes: dict[str, list[str]] = {}
    for si, name in enumerate(("scene-0103", "scene-0916", "scene-0061")):
        toks = [_tok("sample", si, k) for k in range(3)]
        scenes[name] = toks
        t["scene"].append(
            {
                "token": _tok("scene", si),
                "name": name,
                "description": "",
                "log_token": log["token"],
                "nbr_samples": 3,
                "first_sample_token": toks[0],
                "last_sample_token": toks[-1],
            }
        )
        for k, tok in enumerate(toks):
            ts = 1_500_000_000_000_000 + si * 100_000_000 + k * 500_000
            t["sample"].append(
                {
                    "token": tok,
                    "timestamp": ts,
                    "scene_token": _tok("scene", si),
                    "prev": toks[k - 1] if k else "",
                    "next": toks[k + 1] if k < 2 else "",
                }
            )
            sd = _tok("sd", si, k)
            t["ego_pose"].append(
                {
                    "token": sd,
                    "translation": [100.0 + 5 * k, 50.0, 0.0],
                    "rotation": [1, 0, 0, 0],
                    "timestamp": ts,
                }
            )
            t["sample_data"].append(
                {
                    "token": sd,
                    "sample_token": tok,
                    "ego_pose_token": sd,
                    "calibrated_sensor_token": calib["token"],
                    "filename": f"samples/LIDAR_TOP/{sd}.pcd.bin",
                    "fileformat": "pcd",
                    "width": 0,
                    "height": 0,
                    "timestamp": ts,
                    "is_key_frame": True,
                    "prev": _tok("sd", si, k - 1) if k else "",
                    "next": _tok("sd", si, k + 1) if k < 2 else "",
                }
            )
        for j, (cat_i, off) in enumerate([(0, (10.0, 3.0)), (0, (-15.0, -4.0)), (1, (6.0, -2.0))]):
            inst = _tok("inst", si, j)
            anns = [_tok("ann", si, j, k) for k in range(3)]
            t["instance"].append(
                {
                    "token": inst,
                    "category_token": cats[cat_i][1],
                    "nbr_annotations": 3,
                    "first_annotation_token": anns[0],
                    "last_annotation_token": anns[-1],
                }
            )
            for k in range(3):
                t["sample_annotation"].append(
                    {
                        "token": anns[k],
                        "sample_token": toks[k],
                        "instance_token": inst,
                        "attribute_tokens": [attrs[cat_i][1]],
                        "visibility_token": "4",
                        "translation": [100.0 + off[0] + 2.0 * k, 50.0 + off[1], 1.0],
                        "size": [1.9, 4.5, 1.6] if cat_i == 0 else [0.6, 0.7, 1.8],
                        "rotation": [1, 0, 0, 0],
                        "num_lidar_pts": 10,
                        "num_radar_pts": 1,
                        "prev": anns[k - 1] if k else "",
                        "next": anns[k + 1] if k < 2 else "",
                    }
                )
    tables = {
        **t,
        "category": [{"token": c[1], "name": c[0], "description": ""} for c in cats],
        "attribute": [{"token": a[1], "name": a[0], "description": ""} for a in attrs],
        "visibility": [
            {"token": str(i), "level": lv, "description": ""}
            for i, lv in zip(range(1, 5), ("v0-40", "v40-60", "v60-80", "v80-100"))
        ],
        "sensor": [sensor],
        "calibrated_sensor": [calib],
        "log": [log],
        "map": [
            {
                "token": "m0",
                "log_tokens": [log["token"]],
                "category": "semantic_prior",
                "filename": "maps/m0.png",
            }
        ],
    }
    for name, rows in tables.items():
        (tdir / f"{name}.json").write_text(json.dumps(rows))
    (tdir / "splits.json").write_text(json.dumps({"my_split": ["scene-0061"]}))
    return scenes


@pytest.fixture(scope="session")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, list[str]]]:
    """(dataroot, version, scene → sample tokens) of :func:`write_tiny_db`."""
    root = tmp_path_factory.mktemp("tiny_db")
    return root, "v1.0-mini", write_tiny_db(root)


@pytest.fixture
def torchrun() -> list[str]:
    """``python -m torch.distributed.run`` for 2 local CPU processes on a free loopback port (append the program)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
    ]
