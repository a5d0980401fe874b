"""The 13 nuScenes tables of a generated world, as plain lists of records, plus the static ones."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sensorfuse.calib.rig import Rig
from sensorfuse.classes import CATEGORY_TO_CLASS, CLASS_ATTRIBUTES
from sensorfuse.geometry import scale_intrinsics
from sensorfuse.synth.config import token
from sensorfuse.synth.taxonomy import TAXONOMY

TABLE_NAMES = (
    "category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose", "log",
    "scene", "sample", "sample_data", "sample_annotation", "map",
)  # fmt: skip
CATEGORY_TOKEN = {c["name"]: c["token"] for c in TAXONOMY["category"]}
ATTRIBUTE_TOKEN = {a["name"]: a["token"] for a in TAXONOMY["attribute"]}


@dataclass
class Tables:
    """The records of one scene (or the static tables), filled in order."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {n: [] for n in TABLE_NAMES})

    def add(self, table: str, record: dict[str, Any]) -> None:
        self.records[table].append(record)

    def chunk(self) -> TableChunk:
        """The records as :class:`TableWriter` appends them (serialised where they were made: a worker)."""
        recs = {name: r for name, r in self.records.items() if r}
        return TableChunk(
            {name: ",\n".join(json.dumps(x, indent=0) for x in r) for name, r in recs.items()},
            {name: len(r) for name, r in recs.items()},
            [rec["token"] for rec in self.records["log"]],
        )


@dataclass(frozen=True)
class TableChunk:
    """Serialised records of some tables: table → JSON text of its records, record counts, log tokens."""

    text: dict[str, str]
    count: dict[str, int]
    log_tokens: list[str]


class TableWriter:
    """Writes ``<root>/<version>/<table>.json`` a scene at a time, so the generator never holds all records.

    The files are byte for byte what ``json.dumps(records, indent=0)`` of each whole table gives (with
    ``indent=0`` a record's text does not depend on its nesting level, so fragments join with ``",\n"``).
    """

    def __init__(self, root: Path, version: str) -> None:
        (root / version).mkdir(parents=True, exist_ok=True)
        self.root, self.version = root, version
        self.files = {
            name: (root / version / f"{name}.json").open("w", encoding="utf-8") for name in TABLE_NAMES
        }
        self.count = dict.fromkeys(TABLE_NAMES, 0)
        self.log_tokens: list[str] = []

    def add(self, chunk: TableChunk) -> None:
        """Append the records of a chunk (a scene's, or the static tables)."""
        self.log_tokens += chunk.log_tokens
        for name, text in chunk.text.items():
            self.files[name].write((",\n" if self.count[name] else "[\n") + text)
            self.count[name] += chunk.count[name]

    def close(self, seed: int) -> None:
        """Write the map record (it lists every log) and its placeholder image, and close every table."""
        map_token = token(seed, "map")
        maps = Tables()
        maps.add(
            "map",
            {"category": "semantic_prior", "token": map_token, "filename": f"maps/{map_token}.png",
             "log_tokens": self.log_tokens},
        )  # fmt: skip
        self.add(maps.chunk())
        (self.root / "maps").mkdir(parents=True, exist_ok=True)
        _, png = cv2.imencode(".png", np.zeros((20, 20), dtype=np.uint8))
        (self.root / "maps" / f"{map_token}.png").write_bytes(png.tobytes())
        for name, f in self.files.items():
            f.write("\n]" if self.count[name] else "[]")
            f.close()

    def abort(self) -> None:
        for f in self.files.values():
            f.close()


def static_tables(tables: Tables, rig: Rig, width: int, height: int, seed: int) -> dict[str, str]:
    """Fill category/attribute/visibility/sensor/calibrated_sensor; returns channel → calibrated_sensor token."""
    for name in ("category", "attribute", "visibility"):
        for rec in TAXONOMY[name]:
            tables.add(name, dict(rec))
    cs_tokens: dict[str, str] = {}
    for ch, s in rig.sensors.items():
        tables.add("sensor", {"token": s.sensor_token, "channel": ch, "modality": s.modality})
        intrinsic: list[list[float]] = []
        cs_token = s.calibrated_sensor_token or token(seed, "calibrated_sensor", ch)
        if s.intrinsic is not None:
            w0, h0 = s.image_size or (width, height)
            k = scale_intrinsics(s.intrinsic, width / w0, height / h0)
            intrinsic = k.tolist()
            if (w0, h0) != (width, height):
                cs_token = token(cs_token, width, height)
        cs_tokens[ch] = cs_token
        tables.add(
            "calibrated_sensor",
            {
                "token": cs_token,
                "sensor_token": s.sensor_token,
                "translation": list(s.translation),
                "rotation": list(s.rotation),
                "camera_intrinsic": intrinsic,
            },
        )
    return cs_tokens


def attribute_for(category: str, speed: float, given: str) -> list[str]:
    """The one attribute token of an annotation (none for classes without attributes)."""
    cls = CATEGORY_TO_CLASS.get(category)
    if cls not in CLASS_ATTRIBUTES:
        return []
    if cls == "pedestrian":
        name = "pedestrian.moving" if speed > 0.3 else (given or "pedestrian.standing")
    elif cls in ("bicycle", "motorcycle"):
        name = "cycle.with_rider" if speed > 0.3 else (given or "cycle.without_rider")
    else:
        name = "vehicle.moving" if speed > 0.5 else (given or "vehicle.stopped")
    return [ATTRIBUTE_TOKEN[name]]


def visibility_token(fraction: float) -> str:
    """nuScenes visibility level '1'..'4' (0-40, 40-60, 60-80, 80-100 %) of a visible fraction."""
    if not np.isfinite(fraction) or fraction < 0.4:
        return "1"
    return "2" if fraction < 0.6 else "3" if fraction < 0.8 else "4"


def link(records: list[dict[str, Any]]) -> None:
    """Chain records (in order) through their ``prev`` / ``next`` fields."""
    for i, rec in enumerate(records):
        rec["prev"] = records[i - 1]["token"] if i > 0 else ""
        rec["next"] = records[i + 1]["token"] if i + 1 < len(records) else ""
