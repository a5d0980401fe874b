"""A recorded drive (MCAP, rosbag2 ``.db3``, ROS 1 ``.bag``) as a :class:`~sensorfuse.sources.base.Drive`.

:class:`BagDrive` reads a recording through :func:`~sensorfuse.sources.bagfile.open_bag` and a rig
(:mod:`sensorfuse.sources.drive_rig`: which topic is which sensor). At open it indexes the file once: for
every message of a sensor topic its **sensor time** (``header.stamp``, read from the first bytes of the
serialised message, not by decoding it) and where it sits (log time and rank among messages of that log
time); ``/tf``, ``/tf_static``, odometry, CameraInfo and annotation topics (small) are decoded whole. Payloads
are read and decoded only when asked (``read_lidar`` ...), and the last ``cache_items`` decoded payloads are
kept (a 10-sweep history reads each sweep once).

Frames and times:

* a message's ``timestamp`` is its header stamp in µs (floor of the ns stamp); its token is
  ``"<sensor>#<index>"`` (index in the sensor's time order), or the token the exporter stored
  (``sensorfuse.tokens`` metadata, :mod:`sensorfuse.sources.export_mcap`: nuScenes sample_data tokens);
* ``global_from_sensor(msg) = global_from_ego(t) @ ego_from_sensor``: the ego pose from the rig's odometry
  topic or ``/tf`` (``global_frame → ego_frame``), interpolated at the exact ns stamp (lerp + slerp);
  extrinsics from the rig's override or ``/tf_static`` (``ego_frame → sensor frame``);
* ground truth (MarkerArray on the rig's ``annotations`` topic, :mod:`sensorfuse.sources.markers`) is
  returned in the **global** frame: boxes written in the global frame are taken as they are, boxes in any
  other frame are moved there through TF at the array's stamp. A reference-sensor message is a keyframe
  when an array has its exact stamp (µs).

Degradations (documented, counted, never silent):

* a rig sensor whose topic is absent, of an unknown type, or of a type that is not its modality's is left
  out of :attr:`sensors` and named in :attr:`problems` (the assembler then reports it ``absent``);
* a sensor frame missing from ``/tf_static`` raises a :class:`DataError` (reason ``bad calibration``) naming
  the file, topic and frame when the sensor is read (with ``on_missing="drop_sensor"`` it is dropped and
  counted); :meth:`calibration_problems` lists these up front (``sensorfuse drive info``);
* LiDAR/radar points with a non-finite position are dropped and counted per sensor
  (:attr:`dropped_points`, a warning on the first);
* annotation boxes whose label is not a detection class are dropped and counted (:attr:`dropped_boxes`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from sensorfuse.errors import ConfigError, DataError
from sensorfuse.geometry import Transform
from sensorfuse.sources.bag_payloads import (
    boxes_in_global,
    camera_calibration,
    camera_image,
    deskewed_points,
    frame_of,
    lidar_scan,
    nearest_calibration,
    peek_stamp_ns,
    radar_detections,
    sensor_velocity,
)
from sensorfuse.sources.bagfile import TF_TOPICS, BagMessage, BagReader, open_bag, tf_from_messages
from sensorfuse.sources.base import CameraImage, SensorSpec
from sensorfuse.sources.drive_rig import DriveRig, RigSensor, camera_info_topic, find_rig
from sensorfuse.sources.markers import BoxList, boxes_from_markers
from sensorfuse.sources.ros_images import CameraCalibration
from sensorfuse.sources.ros_msgs import pose_from_odometry
from sensorfuse.sources.ros_radar import RadarDetections
from sensorfuse.sources.tf_buffer import DEFAULT_MAX_EXTRAPOLATION_NS, TransformTrack
from sensorfuse.structures import Boxes3D
from sensorfuse.sync.core import Message

log = logging.getLogger(__name__)

#: Metadata key of the token map an exporter stores: ``{"messages": {sensor: [token, ...]}, "samples":
#: {reference message token: sample token}, "keyframes": [token, ...]}`` (JSON).
TOKENS_METADATA_KEY = "sensorfuse.tokens"
#: Message kinds (:data:`~sensorfuse.sources.bagfile.MESSAGE_KINDS`) each modality reads.
KINDS_OF_MODALITY: dict[str, tuple[str, ...]] = {
    "lidar": ("pointcloud",),
    "radar": ("pointcloud", "radar_scan"),
    "camera": ("compressed_image", "image"),
}


@dataclass(frozen=True)
class _Row:
    """Where one sensor message is: its header stamp, its log time and its rank among that log time's."""

    stamp_ns: int
    log_ns: int
    nth: int


class BagDrive:
    """A ROS 2 / MCAP recording as a :class:`~sensorfuse.sources.base.Drive` (see the module docstring).

    Args:
        path: the recording (``.mcap``, rosbag2 folder or ``.db3``, ROS 1 ``.bag``).
        rig: a rig file, a :class:`DriveRig`, or None (sidecar, embedded, or derived: :func:`find_rig`).
        cache_items: decoded payloads kept (LRU).
        max_extrapolation_ns: how far past the recorded poses a pose is held (else ``stale``).
        check: raise when the reference sensor cannot be read at all (off for ``drive info``).

    Attributes:
        rig: the resolved rig; ``problems``: sensor → why it is left out; ``dropped_points``: sensor →
        non-finite points dropped; ``dropped_boxes``: label → annotation boxes dropped; ``notes``: what else
        was noticed (token map not applied, ...).
    """

    def __init__(
        self,
        path: str | Path,
        rig: str | Path | DriveRig | None = None,
        *,
        cache_items: int = 64,
        max_extrapolation_ns: int = DEFAULT_MAX_EXTRAPOLATION_NS,
        check: bool = True,
    ) -> None:
        self.path = Path(path)
        self._reader: BagReader | None = open_bag(self.path)
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self.cache_items = max(1, cache_items)
        try:
            info = self._reader.info()
            self.info = info
            self.rig = find_rig(self.path, info, self._reader.metadata(), rig)
            self.problems: dict[str, str] = {}
            self.notes: list[str] = list(self.rig.notes)
            self.dropped_points: dict[str, dict[str, int]] = {}
            self.dropped_boxes: dict[str, int] = {}
            specs = self._resolve()
            self._scan(specs, max_extrapolation_ns)
            self._apply_tokens(self._reader.metadata())
        except BaseException:
            self.close()
            raise
        if check and self.rig.reference not in self._sensors:
            raise DataError(
                self.path,
                f"the reference sensor {self.rig.reference!r} cannot be read: "
                f"{self.problems.get(self.rig.reference, 'no messages')}",
                "reference",
                reason="missing file",
            )

    # ------------------------------------------------------------------------------------ setup (once)

    def _where(self, topic: str) -> str:
        return f"{self.path}:{topic}"

    def _topic_problem(self, topic: str, kind: str) -> str:
        """Why the rig's ``topic`` cannot be read as ``kind`` ("" when it can)."""
        t = self.info.topics.get(topic)
        if t is not None and t.kind == kind and t.decodable:
            return ""
        return f"topic {topic} is " + (
            "absent" if t is None else f"a {t.type}" + (f" ({t.problem})" if t.problem else "")
        )

    def _resolve(self) -> dict[str, tuple[RigSensor, str]]:
        """Rig sensors whose topic is present and of a type their modality reads → (sensor, kind)."""
        out = {}
        for name, s in self.rig.sensors.items():
            t = self.info.topics.get(s.topic)
            if t is None:
                self.problems[name] = f"topic {s.topic} is not in the recording"
            elif not t.decodable:
                self.problems[name] = f"topic {s.topic} has type {t.type}, which does not decode: {t.problem}"
            elif t.kind not in KINDS_OF_MODALITY[s.modality]:
                self.problems[name] = (
                    f"topic {s.topic} is a {t.type}, not a {s.modality} message "
                    f"(expected {', '.join(KINDS_OF_MODALITY[s.modality])})"
                )
            elif t.count == 0:
                self.problems[name] = f"topic {s.topic} has no messages"
            else:
                out[name] = (s, t.kind)
        for name, why in self.problems.items():
            log.warning("%s: sensor %s left out: %s", self.path, name, why)
        return out

    def _scan(self, specs: dict[str, tuple[RigSensor, str]], max_extrapolation_ns: int) -> None:
        """The one pass over the file (see the module docstring): sensor messages indexed by header stamp
        (not decoded), TF, odometry, CameraInfo and annotation messages decoded."""
        assert self._reader is not None
        by_topic = {s.topic: name for name, (s, _) in specs.items()}
        infos = self._info_topic_map(specs)
        odom, ann = self.rig.odometry, self.rig.annotations
        if odom and (why := self._topic_problem(odom, "odometry")):
            raise DataError(
                self.path,
                f"the rig's odometry {why}; expected nav_msgs/msg/Odometry",
                "odometry",
                reason="bad calibration",
            )
        if ann and (why := self._topic_problem(ann, "boxes")):
            self.notes.append(f"no ground truth: the rig's annotations {why}; expected a MarkerArray")
            ann = ""
        tf_topics = [t for t in TF_TOPICS if t in self.info.topics]
        wanted = {*by_topic, *infos, *tf_topics, *([odom] if odom else []), *([ann] if ann else [])}
        rows: dict[str, list[_Row]] = {name: [] for name in specs}
        frames: dict[str, str] = {}
        peek_ok: dict[str, bool] = {}
        last: dict[str, tuple[int, int]] = {}  # topic → (last log time, rank of its message at that time)
        tf_msgs: list[BagMessage] = []
        track = (
            TransformTrack(self._where(odom), f"ego pose ({odom})", max_extrapolation_ns) if odom else None
        )
        cal: dict[str, list[tuple[int, CameraCalibration | DataError]]] = {t: [] for t in infos}
        self._gt: dict[int, tuple[BoxList, str]] = {}
        for m in self._reader.messages(sorted(wanted)):
            if m.topic in tf_topics:
                tf_msgs.append(m)
            if m.topic == odom and track is not None:
                st = pose_from_odometry(m.decode(), m.where)
                track.add(st.stamp_ns, st.transform)
            if m.topic in cal:
                try:
                    cal[m.topic].append((m.sensor_time_ns(), camera_calibration(m)))
                except DataError as e:
                    cal[m.topic].append((m.log_time_ns, e))
            if m.topic == ann:
                arr = m.decode()
                boxes = boxes_from_markers(arr, m.where)
                self._gt[(boxes.stamp_ns if len(arr.markers) else m.log_time_ns) // 1000] = (boxes, m.where)
            name = by_topic.get(m.topic)
            if name is None:
                continue
            prev_log, prev_nth = last.get(m.topic, (-1, -1))
            nth = prev_nth + 1 if m.log_time_ns == prev_log else 0
            last[m.topic] = (m.log_time_ns, nth)
            enc = self.info.topics[m.topic].encoding
            if name not in peek_ok:  # first message: decode it, check the byte peek, take the frame id
                frames[name] = frame_of(m.decode())
                peek_ok[name] = peek_stamp_ns(m.data, enc) == m.sensor_time_ns()
            stamp = peek_stamp_ns(m.data, enc) if peek_ok[name] else None
            rows[name].append(_Row(m.sensor_time_ns() if stamp is None else stamp, m.log_time_ns, nth))
        self._tf = tf_from_messages(tf_msgs, str(self.path), max_extrapolation_ns)
        self._odom = track
        self._infos = {
            name: sorted(cal[topic], key=lambda it: it[0])
            for name, topic in self._info_topics.items()
            if topic in cal
        }
        self._rows: dict[str, list[_Row]] = {}
        self._sensors: dict[str, SensorSpec] = {}
        self._kinds: dict[str, str] = {}
        for name, (s, kind) in specs.items():
            r = sorted(rows[name], key=lambda x: (x.stamp_ns, x.log_ns, x.nth))
            if not r:
                self.problems[name] = f"topic {s.topic} has no complete message"
                continue
            self._rows[name] = r
            self._kinds[name] = kind
            self._sensors[name] = SensorSpec(name, s.modality, s.frame_id or frames.get(name, ""))
        self._tokens: dict[str, list[str]] = {
            n: [f"{n}#{i}" for i in range(len(r))] for n, r in self._rows.items()
        }

    def _info_topic_map(self, specs: dict[str, tuple[RigSensor, str]]) -> set[str]:
        """The CameraInfo topics to read (cameras without rig intrinsics); sets ``_info_topics``."""
        self._info_topics: dict[str, str] = {}
        out = set()
        for name, (s, _) in specs.items():
            if s.modality != "camera" or s.intrinsics is not None:
                continue
            topic = s.info_topic or camera_info_topic(s.topic, self.info.topics)
            self._info_topics[name] = topic
            t = self.info.topics.get(topic)
            if topic and t is not None and t.kind == "camera_info" and t.decodable:
                out.add(topic)
        return out

    def _apply_tokens(self, metadata: Mapping[str, str]) -> None:
        """The exporter's tokens (nuScenes sample_data / sample tokens), when they fit the index."""
        self._samples: dict[str, str] = {}
        self._keyflags: set[str] = set()
        text = metadata.get(TOKENS_METADATA_KEY)
        if text:
            try:
                data = json.loads(text)
                messages = {str(k): [str(t) for t in v] for k, v in data["messages"].items()}
                samples = {str(k): str(v) for k, v in data.get("samples", {}).items()}
                keyflags = {str(t) for t in data.get("keyframes", [])}
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                self.notes.append(
                    f"token map ({TOKENS_METADATA_KEY}) does not parse ({e}): tokens are sensor#index"
                )
                messages, samples, keyflags = {}, {}, set()
            for name, toks in messages.items():
                if (
                    name in self._tokens
                    and len(toks) == len(self._tokens[name])
                    and len(set(toks)) == len(toks)
                ):
                    self._tokens[name] = toks
                elif name in self._tokens:
                    self.notes.append(
                        f"token map has {len(toks)} tokens for {name}, the recording {len(self._tokens[name])} "
                        "messages: its tokens are sensor#index"
                    )
            self._samples, self._keyflags = samples, keyflags
        self._messages: list[Message] = []
        self._pos: dict[str, tuple[str, int]] = {}
        for name, rows in self._rows.items():
            spec, topic = self._sensors[name], self.rig.sensors[name].topic
            for i, (row, tok) in enumerate(zip(rows, self._tokens[name], strict=True)):
                if tok in self._pos:
                    raise DataError(self.path, f"message token {tok!r} appears twice", TOKENS_METADATA_KEY)
                self._pos[tok] = (name, i)
                key = tok in self._keyflags or (
                    name == self.rig.reference and row.stamp_ns // 1000 in self._gt
                )
                self._messages.append(
                    Message(name, row.stamp_ns // 1000, tok, key, self._where(topic), spec.modality)
                )
        self._messages.sort(key=lambda m: (m.timestamp, m.channel, m.token))
        self._by_sensor: dict[str, list[Message]] = {n: [] for n in self._rows}
        for m in self._messages:
            self._by_sensor[m.channel].append(m)
        for name in self._by_sensor:  # the same order as the rows (stamp, then file order)
            self._by_sensor[name].sort(key=lambda m: self._pos[m.token][1])

    # --------------------------------------------------------------------------------- Drive protocol

    @property
    def name(self) -> str:
        return self.rig.name

    @property
    def sensors(self) -> Mapping[str, SensorSpec]:
        return self._sensors

    @property
    def reference(self) -> str:
        """The rig's reference sensor (``SampleConfig.reference`` for this drive)."""
        return self.rig.reference

    def messages(self) -> Sequence[Message]:
        return self._messages

    def keyframes(self) -> Mapping[str, str]:
        """Reference messages with annotations at their stamp → sample id (the exported sample token, else
        the message token), plus every other keyframe message of the exporter's token map (a nuScenes
        scene's keyframes of all channels, as its drive gives them)."""
        out = {t: s for t, s in self._samples.items() if t in self._pos}
        for m in self._by_sensor.get(self.rig.reference, []):
            if m.timestamp in self._gt:
                out.setdefault(m.token, m.token)
        return out

    def history(self, msg: Message, n: int) -> list[Message]:
        name, i = self._locate(msg)
        msgs = self._by_sensor[name]
        return [msgs[j] for j in range(i, max(i - n, -1), -1)]

    def global_from_ego(self, t_ns: int) -> Transform:
        """The ego pose at ``t_ns`` (odometry, else ``/tf`` global_frame → ego_frame)."""
        if self._odom is not None:
            return self._odom.at(t_ns)
        g, e = self.rig.global_frame, self.rig.ego_frame
        if g not in self._tf.frames or e not in self._tf.frames:
            raise DataError(
                self.path,
                f"no ego pose: the rig names no odometry topic and /tf has no {g} -> {e} transform "
                f"(frames: {', '.join(sorted(self._tf.frames)) or 'none'}); set odometry/global_frame/ego_frame",
                "/tf",
                reason="broken chain",
            )
        return self._tf.lookup(g, e, t_ns)

    def ego_from_sensor(self, msg: Message) -> Transform:
        name, i = self._locate(msg)
        return self._ego_from_sensor(name, self._rows[name][i].stamp_ns)

    def _ego_from_sensor(self, name: str, t_ns: int) -> Transform:
        s = self.rig.sensors[name]
        if s.ego_from_sensor is not None:
            return s.ego_from_sensor
        frame = self._sensors[name].frame_id
        try:
            if not frame:
                raise DataError(
                    self.path, "its messages have no header.frame_id and the rig gives none", "frame_id"
                )
            return self._tf.lookup(self.rig.ego_frame, frame, t_ns)
        except DataError as e:
            raise DataError(
                self._where(s.topic),
                f"no extrinsics for sensor {name} (frame {frame!r}): missing /tf_static for frame {frame} "
                f"({self.rig.ego_frame} -> {frame}); give ego_from_sensor in the rig. {e}",
                "/tf_static",
                reason="bad calibration",
            ) from None

    def global_from_sensor(self, msg: Message) -> Transform:
        name, i = self._locate(msg)
        t = self._rows[name][i].stamp_ns
        return self.global_from_ego(t) @ self._ego_from_sensor(name, t)

    def read_lidar(self, msg: Message) -> np.ndarray:
        return self._cached(msg, "lidar", self._load_lidar)

    def read_radar(self, msg: Message) -> np.ndarray:
        return self._cached(msg, "radar", self._load_radar)

    def read_camera(self, msg: Message) -> CameraImage:
        return self._cached(msg, "camera", self._load_camera)

    def ground_truth(self, msg: Message) -> Boxes3D | None:
        name, i = self._locate(msg)
        hit = self._gt.get(self._rows[name][i].stamp_ns // 1000)
        if hit is None:
            return None
        boxes, where = hit
        frame, t = boxes.frame_id, boxes.stamp_ns
        to_global = None
        if len(boxes.labels) and frame and frame != self.rig.global_frame:
            to_global = self.global_from_ego(t)
            if frame != self.rig.ego_frame:
                to_global = to_global @ self._tf.lookup(self.rig.ego_frame, frame, t)
        return boxes_in_global(boxes, to_global, self.dropped_boxes, where)

    # ------------------------------------------------------------------------------------ payloads

    def _locate(self, msg: Message) -> tuple[str, int]:
        pos = self._pos.get(msg.token)
        if pos is None:
            raise DataError(
                self.path, f"message token {msg.token!r} ({msg.channel}) is not in this drive", "token"
            )
        return pos

    def _reader_now(self) -> BagReader:
        """The open reader; reopened in a forked or unpickled copy (file offsets are not shared)."""
        if self._reader is None or self._pid != os.getpid():
            self._reader = open_bag(self.path)
            self._pid = os.getpid()
        return self._reader

    def _fetch(self, name: str, i: int) -> BagMessage:
        row, topic = self._rows[name][i], self.rig.sensors[name].topic
        with self._lock:
            m = self._reader_now().message_at(topic, row.log_ns, row.nth)
        if m is not None:
            return m
        raise DataError(
            self._where(topic), f"message at log time {row.log_ns} ns is no longer found", reason="corrupt"
        )

    def _cached(self, msg: Message, modality: str, load: Any) -> Any:
        name, i = self._locate(msg)
        if self._sensors[name].modality != modality:
            raise DataError(
                self._where(self.rig.sensors[name].topic),
                f"sensor {name} is a {self._sensors[name].modality}, not a {modality}",
                "modality",
            )
        with self._lock:
            hit = self._cache.get(msg.token)
            if hit is not None:
                self._cache.move_to_end(msg.token)
                return hit
        value = load(name, i)
        with self._lock:
            self._cache[msg.token] = value
            while len(self._cache) > self.cache_items:
                self._cache.popitem(last=False)
        return value

    def _count_dropped(self, name: str, token: str, n: int, what: str) -> None:
        if n <= 0:
            return
        per = self.dropped_points.setdefault(name, {})
        if not per:
            log.warning(
                "%s: %s: %d %s dropped (non-finite position); counted per sensor", self.path, name, n, what
            )
        per[token] = n

    def dropped_point_counts(self) -> dict[str, int]:
        """Sensor → points dropped for a non-finite position over the messages read so far."""
        return {k: sum(v.values()) for k, v in self.dropped_points.items()}

    def _load_lidar(self, name: str, i: int) -> np.ndarray:
        s = self.rig.sensors[name]
        scan = lidar_scan(self._fetch(name, i), s)
        self._count_dropped(name, self._tokens[name][i], scan.dropped_nonfinite, "LiDAR points")
        ego = (
            self._ego_from_sensor(name, scan.stamp_ns) if s.deskew and scan.time_offset is not None else None
        )
        return deskewed_points(scan, ego is not None, self.global_from_ego, ego or Transform.identity())

    def _radar_detections(self, name: str, i: int) -> tuple[RadarDetections, int]:
        """The radar message and the returns it held (compensated by the radar's own velocity)."""
        t = self._rows[name][i].stamp_ns

        def velocity() -> np.ndarray:
            return sensor_velocity(self.global_from_ego, self._ego_from_sensor(name, t), t)

        return radar_detections(self._fetch(name, i), self._kinds[name], self.rig.sensors[name], velocity)

    def _load_radar(self, name: str, i: int) -> np.ndarray:
        det, n_in = self._radar_detections(name, i)
        self._count_dropped(name, self._tokens[name][i], n_in - len(det), "radar points")
        return np.ascontiguousarray(det.points[:, :6], np.float32)

    def _load_camera(self, name: str, i: int) -> CameraImage:
        k, size = self._intrinsics(name, self._rows[name][i].stamp_ns)
        return camera_image(self._fetch(name, i), self._kinds[name], k, size)

    def _intrinsics(self, name: str, t_ns: int) -> tuple[np.ndarray, tuple[int, int]]:
        """K and (w, h): the rig's override, else the CameraInfo nearest in time (a bad one raises)."""
        s = self.rig.sensors[name]
        if s.intrinsics is not None and s.image_size is not None:
            return np.asarray(s.intrinsics, np.float64), s.image_size
        items = self._infos.get(name)
        if not items:
            topic = self._info_topics.get(name) or "(none found beside the image topic)"
            raise DataError(
                self._where(s.topic),
                f"no intrinsics for camera {name}: no CameraInfo on {topic}; give info_topic or intrinsics in the rig",
                "info_topic",
                reason="bad calibration",
            )
        cal = nearest_calibration(items, t_ns)
        return cal.intrinsics, (cal.width, cal.height)

    # ---------------------------------------------------------------------------------------- report

    def calibration_problems(self) -> dict[str, str]:
        """Sensor → what stops it from being read (extrinsics, intrinsics, ego pose), checked at its first
        message; also the sensors :attr:`problems` left out. Empty when everything resolves."""
        out = dict(self.problems)
        for name, msgs in self._by_sensor.items():
            m = msgs[0]
            try:
                self.global_from_sensor(m)
                if self._sensors[name].modality == "camera":
                    self._intrinsics(name, self._rows[name][0].stamp_ns)
            except DataError as e:
                out[name] = f"{e.reason}: {e}"
        return out

    def close(self) -> None:
        if self._reader is not None and self._pid == os.getpid():
            self._reader.close()
        self._reader = None

    def __enter__(self) -> BagDrive:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_reader=None, _lock=None, _cache=OrderedDict())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


def open_drive(path: str | Path, rig: str | Path | DriveRig | None = None, **kw: Any) -> BagDrive:
    """A recording as a Drive; the rig is ``rig``, else ``FILE.rig.yaml``, else the recording's own, else
    derived from its topic types (:func:`~sensorfuse.sources.drive_rig.find_rig`).

    Raises:
        DataError: the recording does not open (missing, empty, corrupt) or its reference sensor is unreadable.
        ConfigError: the rig file is invalid, or no rig can be derived.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(p, "recording does not exist", reason="missing file")
    try:
        return BagDrive(p, rig, **kw)
    except RecursionError as e:  # a pathological definition in the file
        raise ConfigError(f"{p}: cannot read the recording: {e}") from None
