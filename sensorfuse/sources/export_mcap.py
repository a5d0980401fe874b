"""Any :class:`~sensorfuse.sources.base.Drive` (a nuScenes-format scene, real or synthetic; another bag) →
a recording: MCAP with ROS 2 messages, a rosbag2 folder with sqlite3 storage (``.db3``), or MCAP in the
Foxglove protobuf layout.

What is written (topics; frames ``map`` → ``base_link`` → one frame per sensor, named after the sensor):

=============================  ==========================================================================
``/tf_static``                 ``base_link → <sensor>`` (``ego_from_sensor``), once, at the first message
``/tf``                        ``map → base_link`` (``global_from_ego``) at every distinct message time
``/<LIDAR>``                   ``PointCloud2`` ``x, y, z, intensity`` float32 (+ ``ring`` uint16 when the
                               drive's LiDAR rows have a fifth column, the nuScenes ``.pcd.bin`` layout)
``/<RADAR>``                   ``PointCloud2`` ``x, y, z, vx_comp, vy_comp, rcs`` float32 (what
                               :meth:`Drive.read_radar` returns: the nuScenes filters already applied)
``/<CAM>/image_rect_compressed``  ``CompressedImage``: the drive's own JPEG bytes (no re-encode); raw RGB is
                               written as lossless PNG
``/<CAM>/camera_info``         ``CameraInfo`` (K, size; rectified: D = 0) with every image
``/gt/boxes``                  ``MarkerArray`` of each keyframe's ground truth, **global frame** (``map``),
                               float64 centres/sizes, the box's attribute, point counts and annotation
                               token in each marker's JSON ``text`` (:mod:`sensorfuse.sources.markers`)
=============================  ==========================================================================

Every message is stamped with its sensor time (µs × 1000 ns, so the reader gets the same µs back) and logged
at that time. Poses are float64 in the messages. The rig (:mod:`sensorfuse.sources.drive_rig`) and the
token map (the drive's message tokens per sensor, in time order, and keyframe → sample token) are stored
in the recording itself: an MCAP metadata record ``sensorfuse`` (keys ``rig``, ``tokens``; written before the
first message, so a truncated file keeps them) or the rosbag2 ``metadata.yaml`` ``custom_data``
(``sensorfuse.rig``, ``sensorfuse.tokens``). :func:`~sensorfuse.sources.bag_drive.open_drive` therefore
replays an exported file with no rig file and gives the messages the drive's own tokens; a scene exported
and read back assembles to the same samples as the drive it came from (same float32 points, same JPEG
bytes, same K, poses equal up to float64 round-off).

The Foxglove layout (``foxglove.PointCloud``, ``foxglove.CompressedImage``, ``foxglove.CameraCalibration``,
``foxglove.FrameTransforms`` on ``/tf``, static extrinsics republished there once) has no ground truth
(Foxglove has no box message sensorfuse reads back).

Writing is atomic (the writers of :mod:`sensorfuse.sources.bag_writer`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sensorfuse.classes import ATTRIBUTES, DETECTION_CLASSES
from sensorfuse.errors import ConfigError, DataError
from sensorfuse.geometry import Transform
from sensorfuse.io.jpeg import jpeg_size
from sensorfuse.sources import ros_build as rb
from sensorfuse.sources.bag_drive import TOKENS_METADATA_KEY
from sensorfuse.sources.base import CameraImage, Drive
from sensorfuse.sources.drive_rig import RIG_METADATA_KEY, DriveRig, RigSensor, rig_to_yaml
from sensorfuse.sources.markers import marker_array
from sensorfuse.sources.ros_msgs import StampedTransform
from sensorfuse.structures import Boxes3D
from sensorfuse.sync.core import Message

log = logging.getLogger(__name__)

CONTAINERS: tuple[str, ...] = ("mcap", "db3", "foxglove")
EGO_FRAME, GLOBAL_FRAME = "base_link", "map"
GT_TOPIC = "/gt/boxes"
RADAR_FIELDS: tuple[str, ...] = ("x", "y", "z", "vx_comp", "vy_comp", "rcs")
#: Largest difference (m, or rotation-matrix entry) tolerated between two poses or extrinsics that must agree.
POSE_TOL = 1e-9


@dataclass
class ExportReport:
    """What :func:`export_drive` wrote.

    Attributes:
        path, container: the recording written.
        counts: topic → messages written.
        skipped: sensor → reason → messages not written (``skip_bad=True`` only).
        pose_conflicts: messages at one time whose ego poses differ (the first is written).
        notes: what else the reader should know.
    """

    path: Path
    container: str
    rig: DriveRig
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    pose_conflicts: int = 0
    notes: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [
            f"wrote {self.path} ({self.container}), rig {self.rig.name!r} (reference {self.rig.reference})"
        ]
        lines += [f"  {t:<40} {n:>7}" for t, n in sorted(self.counts.items())]
        for name, reasons in sorted(self.skipped.items()):
            lines += [f"  skipped {name}: {n} ({r})" for r, n in sorted(reasons.items())]
        if self.pose_conflicts:
            lines.append(
                f"  pose conflicts (same time, different ego pose; first kept): {self.pose_conflicts}"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def topic_of(name: str, modality: str) -> str:
    """The topic a sensor is written on (the nuScenes→MCAP converters' layout)."""
    return f"/{name}/image_rect_compressed" if modality == "camera" else f"/{name}"


def _reference(drive: Drive, by_token: Mapping[str, Message], reference: str | None) -> str:
    """The given reference, else the (first) LiDAR among the keyframes' channels, else the first LiDAR."""
    if reference is not None:
        if reference not in drive.sensors:
            raise ConfigError(
                f"export: reference {reference!r} is not a sensor of {drive.name} ({', '.join(drive.sensors)})"
            )
        return reference
    keyed = {by_token[t].channel for t in drive.keyframes() if t in by_token}
    have = {m.channel for m in by_token.values()}
    lidars = [n for n, s in drive.sensors.items() if s.modality == "lidar" and n in have]
    for pool in ([n for n in lidars if n in keyed], sorted(keyed), lidars, sorted(have)):
        if pool:
            return pool[0]
    raise DataError(drive.name, "the drive has no messages", "messages", reason="empty file")


def export_rig(drive: Drive, reference: str, with_gt: bool, have: set[str] | None = None) -> DriveRig:
    """The rig of an exported drive (topics of :func:`topic_of`, frames named after the sensors); ``have``:
    the sensors with messages (default all)."""
    sensors = {}
    for name, spec in drive.sensors.items():  # the drive's order: the replay lists sensors in it
        if have is not None and name not in have:
            continue
        topic = topic_of(name, spec.modality)
        info = f"/{name}/camera_info" if spec.modality == "camera" else ""
        sensors[name] = RigSensor(name, spec.modality, topic, frame_id=name, info_topic=info)
    return DriveRig(
        name=drive.name,
        sensors=sensors,
        reference=reference,
        ego_frame=EGO_FRAME,
        global_frame=GLOBAL_FRAME,
        annotations=GT_TOPIC if with_gt else "",
        source="export",
    )


def _image_bytes(img: CameraImage) -> tuple[bytes, str, tuple[int, int]]:
    """(encoded bytes, format, (w, h)): the drive's bytes as they are, raw RGB as lossless PNG."""
    if img.encoded is not None:
        data = bytes(img.encoded)
        fmt = "jpeg" if data[:2] == b"\xff\xd8" else "png"
        size = tuple(img.size) if img.size[0] and img.size[1] else None
        if size is None:
            if fmt != "jpeg":
                decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
                if decoded is None:
                    raise DataError(img.where, "image bytes do not decode", "image", reason="corrupt")
                size = (decoded.shape[1], decoded.shape[0])
            else:
                size = jpeg_size(data, img.where)
        return data, fmt, (int(size[0]), int(size[1]))
    if img.rgb is None:
        raise DataError(img.where, "camera image has neither encoded bytes nor pixels", "image")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(img.rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise DataError(img.where, "could not encode the image as PNG", "image")
    return buf.tobytes(), "png", (int(img.rgb.shape[1]), int(img.rgb.shape[0]))


def _lidar_columns(pts: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    p = np.asarray(pts)
    if p.ndim != 2 or p.shape[1] < 4:
        raise DataError("read_lidar", f"expected (N, >=4) points, got {p.shape}", "points")
    names, codes = ["x", "y", "z", "intensity"], ["f4"] * 4
    ring = p[:, 4] if p.shape[1] >= 5 else None
    if (
        ring is not None
        and np.isfinite(ring).all()
        and (ring == np.round(ring)).all()
        and (ring >= 0).all()
        and (ring < 65536).all()
    ):
        return p[:, :5], [*names, "ring"], [*codes, "u2"]
    return p[:, :4], names, codes


def _gt_markers(boxes: Boxes3D, stamp: int) -> Any:
    b = np.asarray(boxes.boxes, np.float64).reshape(len(boxes), -1)
    labels = [DETECTION_CLASSES[int(k)] for k in boxes.labels]
    extra = [
        {
            "attribute": ATTRIBUTES[int(a)] if 0 <= int(a) < len(ATTRIBUTES) else "",
            "num_lidar_pts": int(boxes.num_lidar_pts[j]),
            "num_radar_pts": int(boxes.num_radar_pts[j]),
            "token": boxes.tokens[j] if boxes.tokens else "",
        }
        for j, a in enumerate(boxes.attributes)
    ]
    return marker_array(b, labels, np.asarray(boxes.scores, np.float32), stamp, GLOBAL_FRAME, extra)


class _Sink:
    """One writer interface over the three containers: ROS 2 objects, or Foxglove protobuf."""

    def __init__(self, out: Path, container: str) -> None:
        from sensorfuse.sources.bag_writer import FoxgloveMcapWriter, McapRos2Writer, Rosbag2Writer

        self.container = container
        self.counts: dict[str, int] = {}
        self.w: Any
        if container == "mcap":
            self.w = McapRos2Writer(out)
        elif container == "db3":
            self.w = Rosbag2Writer(out, "sqlite3", overwrite=True)
        else:
            self.w = FoxgloveMcapWriter(out)

    def metadata(self, metadata: dict[str, str]) -> None:
        """``"record.key": value`` entries (a later record's key wins when read back)."""
        records: dict[str, dict[str, str]] = {}
        for full, value in metadata.items():  # "sensorfuse.rig" → record "sensorfuse", key "rig"
            record, _, key = full.partition(".")
            records.setdefault(record, {})[key] = value
        for record, data in records.items():
            self.w.add_metadata(record, data)

    @property
    def foxglove(self) -> bool:
        return self.container == "foxglove"

    def put(self, topic: str, msgtype: str, msg: Any, stamp: int) -> None:
        if self.foxglove:
            self.w.write(topic, msg, stamp)
        else:
            self.w.write(topic, msgtype, msg, stamp)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def tf(self, topic: str, edges: list[StampedTransform], stamp: int) -> None:
        if self.foxglove:
            from sensorfuse.sources.foxglove_msgs import build_frame_transforms

            self.put("/tf", "", build_frame_transforms(edges), stamp)
        else:
            self.put(topic, "tf2_msgs/msg/TFMessage", rb.tf_message(edges), stamp)

    def points(
        self, topic: str, cols: np.ndarray, names: list[str], codes: list[str], stamp: int, frame: str
    ) -> None:
        if self.foxglove:
            from sensorfuse.sources.foxglove_msgs import build_pointcloud

            self.put(topic, "", build_pointcloud(cols, names, stamp, frame, codes), stamp)
        else:
            self.put(
                topic, "sensor_msgs/msg/PointCloud2", rb.pointcloud2(cols, names, stamp, frame, codes), stamp
            )

    def camera(self, name: str, img: CameraImage, stamp: int) -> None:
        data, fmt, (w, h) = _image_bytes(img)
        k = np.asarray(img.intrinsics, np.float64)
        image_topic, info_topic = topic_of(name, "camera"), f"/{name}/camera_info"
        if self.foxglove:
            from sensorfuse.sources.foxglove_msgs import build_calibration, build_compressed_image

            self.put(image_topic, "", build_compressed_image(data, stamp, name, fmt), stamp)
            self.put(info_topic, "", build_calibration(k, w, h, stamp, name), stamp)
        else:
            self.put(
                image_topic,
                "sensor_msgs/msg/CompressedImage",
                rb.compressed_image(data, stamp, name, fmt),
                stamp,
            )
            self.put(info_topic, "sensor_msgs/msg/CameraInfo", rb.camera_info(k, w, h, stamp, name), stamp)

    def close(self) -> None:
        self.w.close()

    def abort(self) -> None:
        self.w.abort()


def _global_from_ego(drive: Drive, m: Message) -> Transform:
    """The ego pose of a message: ``global_from_sensor @ inverse(ego_from_sensor)`` (float64 round-off)."""
    return drive.global_from_sensor(m) @ drive.ego_from_sensor(m).inverse()


def _token_map(msgs: list[Message], keyframes: Mapping[str, str]) -> str:
    """The JSON token map (see :data:`~sensorfuse.sources.bag_drive.TOKENS_METADATA_KEY`) of ``msgs``."""
    per_sensor: dict[str, list[str]] = {}
    for m in msgs:
        per_sensor.setdefault(m.channel, []).append(m.token)
    tokens = {m.token for m in msgs}
    data = {
        "messages": per_sensor,
        "samples": {k: v for k, v in keyframes.items() if k in tokens},
        "keyframes": [m.token for m in msgs if m.is_key_frame],
    }
    return json.dumps(data, separators=(",", ":"))


def _extrinsics(drive: Drive, msgs: list[Message]) -> dict[str, Transform]:
    """Each sensor's mounting, checked constant over the drive (``/tf_static`` holds one)."""
    out: dict[str, Transform] = {}
    for m in msgs:
        e = drive.ego_from_sensor(m)
        first = out.setdefault(m.channel, e)
        if np.abs(first.matrix - e.matrix).max() > POSE_TOL:
            raise DataError(
                m.filename or m.token,
                f"extrinsics of {m.channel} change within {drive.name}; /tf_static holds one mounting per sensor",
                "ego_from_sensor",
                reason="bad calibration",
            )
    return out


def export_drive(
    drive: Drive,
    out: str | Path,
    *,
    container: str = "mcap",
    reference: str | None = None,
    skip_bad: bool = False,
    progress: bool = True,
) -> ExportReport:
    """Write ``drive`` to ``out`` (see the module docstring).

    Args:
        drive: any Drive (the nuScenes drive of one scene, a BagDrive, a test drive).
        out: the ``.mcap`` file, or the rosbag2 folder (``container="db3"``).
        container: ``mcap`` (ROS 2 CDR), ``db3`` (rosbag2, sqlite3) or ``foxglove`` (protobuf MCAP).
        reference: the rig's reference sensor; default the LiDAR among the drive's keyframe channels, else
            the first LiDAR. Ground truth is written at the reference's keyframes.
        skip_bad: a message whose payload does not read is skipped and counted (default: the DataError
            propagates and nothing is written).
        progress: a progress bar.

    Raises:
        DataError: a payload does not read (unless ``skip_bad``), a sensor's extrinsics change within the
            drive (``/tf_static`` holds one), or the drive has no messages.
        ConfigError: an unknown container or reference.
    """
    from tqdm import tqdm

    if container not in CONTAINERS:
        raise ConfigError(f"export: container {container!r}, expected one of {', '.join(CONTAINERS)}")
    msgs = list(drive.messages())
    if not msgs:
        raise DataError(drive.name, "the drive has no messages to export", "messages", reason="empty file")
    by_token = {m.token: m for m in msgs}
    keyframes = dict(drive.keyframes())
    ref = _reference(drive, by_token, reference)
    gt_at = {
        t for t in keyframes if t in by_token and by_token[t].channel == ref
    }  # the reference's keyframes
    with_gt = bool(gt_at) and container != "foxglove"
    rig = export_rig(drive, ref, with_gt, {m.channel for m in msgs})
    report = ExportReport(Path(out), container, rig)
    if gt_at and container == "foxglove":
        report.notes.append("ground truth is not written in the Foxglove layout")
    meta = {RIG_METADATA_KEY: rig_to_yaml(rig), TOKENS_METADATA_KEY: _token_map(msgs, keyframes)}
    extrinsics = _extrinsics(drive, msgs)
    sink = _Sink(Path(out), container)
    try:
        sink.metadata(meta)  # first: a truncated file keeps its rig and tokens
        t0 = msgs[0].timestamp * 1000
        static = [StampedTransform(EGO_FRAME, n, t0, e) for n, e in extrinsics.items()]
        sink.tf("/tf_static", static, t0)
        poses: dict[int, Transform] = {}
        written = [
            m
            for m in tqdm(msgs, desc=f"export {drive.name}", unit="msg", disable=not progress)
            if _write_one(drive, sink, m, poses, report, skip_bad, gt_at if with_gt else set())
        ]
        if len(written) < len(msgs):  # skipped messages: the token map of what was written replaces the first
            sink.metadata({TOKENS_METADATA_KEY: _token_map(written, keyframes)})
    except BaseException:
        sink.abort()
        raise
    sink.close()
    report.counts = dict(sink.counts)
    return report


def _write_one(
    drive: Drive,
    sink: _Sink,
    m: Message,
    poses: dict[int, Transform],
    report: ExportReport,
    skip_bad: bool,
    gt_at: set[str],
) -> bool:
    """Write one message (its ego pose first, its ground truth after); False when skipped."""
    stamp = m.timestamp * 1000
    modality = drive.sensors[m.channel].modality
    try:
        pose = _global_from_ego(drive, m)
        if modality == "lidar":
            cols, names, codes = _lidar_columns(drive.read_lidar(m))
            payload: Callable[[], None] = lambda: sink.points(  # noqa: E731
                topic_of(m.channel, "lidar"), cols, names, codes, stamp, m.channel
            )
        elif modality == "radar":
            r = np.asarray(drive.read_radar(m), np.float32).reshape(-1, 6)
            payload = lambda: sink.points(  # noqa: E731
                topic_of(m.channel, "radar"), r, list(RADAR_FIELDS), ["f4"] * 6, stamp, m.channel
            )
        else:
            img = drive.read_camera(m)
            payload = lambda: sink.camera(m.channel, img, stamp)  # noqa: E731
        gt = drive.ground_truth(m) if m.token in gt_at else None
    except DataError as e:
        if not skip_bad:
            raise
        per = report.skipped.setdefault(m.channel, {})
        per[e.reason] = per.get(e.reason, 0) + 1
        log.warning("export: %s %s skipped: %s", m.channel, m.token, e)
        return False
    have = poses.get(stamp)
    if have is None:
        poses[stamp] = pose
        sink.tf("/tf", [StampedTransform(GLOBAL_FRAME, EGO_FRAME, stamp, pose)], stamp)
    elif np.abs(have.matrix - pose.matrix).max() > POSE_TOL * max(1.0, float(np.abs(pose.translation).max())):
        report.pose_conflicts += 1
    payload()
    if gt is not None:
        sink.put(GT_TOPIC, "visualization_msgs/msg/MarkerArray", _gt_markers(gt, stamp), stamp)
    return True
