"""Opening a recorded drive: MCAP (ROS 2 CDR or Foxglove protobuf), rosbag2 (sqlite3 ``.db3`` / folder), ROS 1.

:func:`open_bag` returns a :class:`BagReader` with one interface for every container:

* :meth:`BagReader.info` — topics with their types, message counts, mean rates and the time span (what
  ``sensorfuse drive info`` prints, :meth:`BagInfo.format`);
* :meth:`BagReader.messages` — a log-time-ordered iterator over chosen topics; each :class:`BagMessage`
  holds its raw bytes and decodes them only when :meth:`BagMessage.decode` is called.

Decoding uses the definitions stored in the file: ``ros2msg``/``ros2idl`` (and ROS 1) text through a
``rosbags`` type store built per file, protobuf ``FileDescriptorSet`` schemas through
``mcap-protobuf-support``. Topics that carry no definition fall back to ROS 2 Humble's standard types plus
``radar_msgs`` (:mod:`sensorfuse.sources.ros_types`; old ``.db3`` files store no definitions). A topic whose
type cannot be decoded (no definition anywhere, a definition that does not parse, an unsupported encoding
such as JSON or flatbuffers) is **unknown**: :meth:`BagInfo.format` lists it with the reason, its messages
are skipped by :meth:`BagReader.messages` and counted in :attr:`BagReader.skipped`; never a crash.

Every library exception is wrapped into :class:`~sensorfuse.errors.DataError` naming the file, the topic
and what was expected. A truncated MCAP (no footer/summary, e.g. a recorder that was killed) is **read by
scanning**: every complete record up to the cut is used, :attr:`BagInfo.truncated` is set and a note says
where the file ends (see :mod:`sensorfuse.sources.mcap_reader`).

Which container is which: a ``.mcap`` file → the ``mcap`` library; a rosbag2 folder (``metadata.yaml``), a
bare ``.db3`` → ``rosbags``; a ``.bag`` → ``rosbags`` (ROS 1).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from sensorfuse.errors import DataError
from sensorfuse.sources import ros_types
from sensorfuse.sources.tf_buffer import TfBuffer

log = logging.getLogger(__name__)

#: What sensorfuse makes of a message type (ROS 2 and Foxglove names) — the Drive maps kinds to decoders.
MESSAGE_KINDS: dict[str, str] = {
    "sensor_msgs/msg/PointCloud2": "pointcloud",
    "sensor_msgs/msg/Image": "image",
    "sensor_msgs/msg/CompressedImage": "compressed_image",
    "sensor_msgs/msg/CameraInfo": "camera_info",
    "tf2_msgs/msg/TFMessage": "tf",
    "nav_msgs/msg/Odometry": "odometry",
    "radar_msgs/msg/RadarScan": "radar_scan",
    "visualization_msgs/msg/MarkerArray": "boxes",
    "foxglove.PointCloud": "pointcloud",
    "foxglove.CompressedImage": "compressed_image",
    "foxglove.CameraCalibration": "camera_info",
    "foxglove.FrameTransform": "tf",
    "foxglove.FrameTransforms": "tf",
}

#: Topics whose transforms are static (persist for all time).
STATIC_TF_TOPICS: tuple[str, ...] = ("/tf_static",)
#: Topics read as transforms by :func:`read_tf`.
TF_TOPICS: tuple[str, ...] = ("/tf_static", "/tf")

Decoder = Callable[[bytes | memoryview], Any]


@dataclass(frozen=True)
class TopicInfo:
    """One topic of a recording.

    Attributes:
        name, type: topic name and message type (``sensor_msgs/msg/PointCloud2``, ``foxglove.PointCloud``).
        encoding: message encoding (``cdr``, ``ros1``, ``protobuf``, or what the file says).
        count: messages in the file (complete ones, for a truncated file).
        kind: :data:`MESSAGE_KINDS` entry, or None for a type sensorfuse does not read.
        problem: why the type cannot be decoded ("" when it can).
    """

    name: str
    type: str
    encoding: str
    count: int
    kind: str | None
    problem: str = ""

    @property
    def decodable(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class BagInfo:
    """Summary of a recording (see :meth:`format`)."""

    path: Path
    container: str
    start_ns: int
    end_ns: int
    topics: dict[str, TopicInfo]
    truncated: bool = False
    notes: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return max(self.end_ns - self.start_ns, 0) * 1e-9

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics.values())

    def rate_hz(self, topic: str) -> float:
        """Mean rate of ``topic`` over the recording: (count - 1) / duration (0 for < 2 messages)."""
        n = self.topics[topic].count
        return (n - 1) / self.duration_s if n > 1 and self.duration_s > 0 else 0.0

    @property
    def unknown(self) -> dict[str, TopicInfo]:
        """Topics whose type cannot be decoded."""
        return {n: t for n, t in self.topics.items() if not t.decodable}

    def format(self) -> str:
        """A plain-text table for ``sensorfuse drive info``."""
        lines = [
            f"file:      {self.path}",
            f"container: {self.container}" + ("  (TRUNCATED: read by scanning)" if self.truncated else ""),
            f"span:      {self.start_ns} .. {self.end_ns} ns ({self.duration_s:.3f} s), {self.message_count} messages",
            "",
            f"{'topic':<32} {'type':<36} {'count':>7} {'rate Hz':>8}  kind",
        ]
        for name in sorted(self.topics):
            t = self.topics[name]
            what = t.kind or "-"
            if t.problem:
                what = f"UNKNOWN, skipped: {t.problem}"
            lines.append(f"{name:<32} {t.type:<36} {t.count:>7} {self.rate_hz(name):>8.2f}  {what}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class BagMessage:
    """One message: raw bytes now, decoded on demand.

    Attributes:
        topic, type: its topic and message type.
        log_time_ns: the container's timestamp (recording/log time, ns); the sensor time is the decoded
            message's stamp (``header.stamp`` / ``timestamp``).
        data: the serialised payload.
        where: ``file:topic``, for error messages.
    """

    topic: str
    type: str
    log_time_ns: int
    data: bytes | memoryview
    where: str
    _decoder: Decoder = field(repr=False)
    _decoded: Any = field(default=None, repr=False)

    def sensor_time_ns(self) -> int:
        """The message's own time: ``header.stamp`` (ROS), ``timestamp`` (Foxglove), else the log time
        (``TFMessage`` and ``MarkerArray`` have no header; their entries carry their own stamps)."""
        msg = self.decode()
        if hasattr(msg, "header") and hasattr(msg.header, "stamp"):
            return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        ts = getattr(msg, "timestamp", None)
        if ts is not None and hasattr(ts, "seconds"):
            return int(ts.seconds) * 1_000_000_000 + int(ts.nanos)
        return self.log_time_ns

    def decode(self) -> Any:
        """The decoded message object (cached).

        Raises:
            DataError: (reason "corrupt") the bytes do not decode as ``type``.
        """
        if self._decoded is None:
            try:
                self._decoded = self._decoder(self.data)
            except Exception as e:  # rosbags SerdeError, protobuf DecodeError, struct.error, ...
                raise DataError(
                    self.where,
                    f"message at log time {self.log_time_ns} ns does not decode as {self.type}: {e}",
                    self.type,
                    reason="corrupt",
                ) from None
        return self._decoded


@dataclass(frozen=True)
class ChannelSpec:
    """What a container says about one topic's type (input of :func:`make_decoder`)."""

    topic: str
    type: str
    message_encoding: str
    schema_encoding: str
    definition: bytes | str
    schema: Any = None  # the mcap Schema record (protobuf decoding needs it)


def make_decoder(spec: ChannelSpec, file_store: Any, protobuf: Any) -> tuple[Decoder | None, str]:
    """A decoder for one channel, or None and the reason the type is unknown.

    Args:
        spec: the channel.
        file_store: the recording's own ``rosbags`` type store (its definitions are registered into it).
        protobuf: an ``mcap_protobuf.decoder.DecoderFactory``, shared per file.
    """
    enc = spec.message_encoding
    msgtype = ros_types.normalize_type(spec.type) if enc in ("cdr", "ros1") else spec.type
    if enc == "protobuf":
        try:
            dec = protobuf.decoder_for("protobuf", spec.schema)
        except Exception as e:
            return None, f"its protobuf schema does not load: {e}"
        return (
            (dec, "")
            if dec is not None
            else (None, f"schema encoding {spec.schema_encoding!r} is not protobuf")
        )
    if enc not in ("cdr", "ros1"):
        return None, f"message encoding {enc!r} is not read (cdr, ros1 or protobuf expected)"
    text = (
        spec.definition.decode("utf-8", "replace") if isinstance(spec.definition, bytes) else spec.definition
    )
    store = file_store
    if text.strip():
        try:
            ros_types.register_definition(file_store, msgtype, spec.schema_encoding, text)
        except ValueError as e:
            return None, str(e)
    elif msgtype in ros_types.fallback_typestore().fielddefs and enc == "cdr":
        store = ros_types.fallback_typestore()
    else:
        return None, "the file stores no definition and it is not a standard ROS 2 type"
    # a memoryview: rosbags slices the payload, and slicing bytes would copy a whole point cloud
    if enc == "ros1":
        return (lambda raw: store.deserialize_ros1(memoryview(raw), msgtype)), ""
    return (lambda raw: store.deserialize_cdr(memoryview(raw), msgtype)), ""


class BagReader(ABC):
    """A recording opened for reading (use as a context manager, or call :meth:`close`).

    Attributes:
        path: the file or folder.
        skipped: topic → messages skipped by :meth:`messages` because their type is unknown.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.skipped: dict[str, int] = {}
        self._decoders: dict[str, tuple[Decoder | None, str]] = {}

    @abstractmethod
    def info(self) -> BagInfo:
        """Topics, types, counts, rates, time span."""

    @abstractmethod
    def _raw(
        self, topics: set[str] | None, start_ns: int | None, stop_ns: int | None
    ) -> Iterator[tuple[str, str, int, bytes | memoryview]]:
        """(topic, type, log time, payload) in log-time order; library errors wrapped."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the file."""

    def message_at(self, topic: str, log_time_ns: int, nth: int = 0) -> BagMessage | None:
        """Random access: the ``nth`` message of ``topic`` logged at exactly ``log_time_ns`` (0 = the first, in
        the order :meth:`messages` gives them), or None. A drive indexes a file once and fetches payloads
        with this; containers with an index override it (MCAP: the chunk index and a chunk cache)."""
        for k, m in enumerate(self.messages([topic], start_ns=log_time_ns, stop_ns=log_time_ns + 1)):
            if k == nth:
                return m
        return None

    def metadata(self) -> dict[str, str]:
        """Key/value metadata the recording carries (MCAP metadata records as ``"<record name>.<key>"``,
        rosbag2 ``custom_data`` as is; empty for a container without any)."""
        return {}

    def __enter__(self) -> BagReader:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def where(self, topic: str) -> str:
        return f"{self.path}:{topic}"

    def messages(
        self, topics: Iterable[str] | None = None, start_ns: int | None = None, stop_ns: int | None = None
    ) -> Iterator[BagMessage]:
        """Messages of ``topics`` (all when None) with ``start_ns <= log time < stop_ns``, in log-time order.

        Messages of unknown types are skipped and counted in :attr:`skipped`. Asking for a topic the file
        does not have is a DataError naming the topics it has.
        """
        wanted = None if topics is None else set(topics)
        if wanted is not None:
            have = self.info().topics
            if missing := sorted(wanted - set(have)):
                raise DataError(
                    self.path,
                    f"no topic {', '.join(missing)} in the recording (topics: {', '.join(sorted(have))})",
                    missing[0],
                )
        for topic, msgtype, t, data in self._raw(wanted, start_ns, stop_ns):
            dec, _ = self._decoders.get(topic, (None, "no decoder"))
            if dec is None:
                self.skipped[topic] = self.skipped.get(topic, 0) + 1
                continue
            yield BagMessage(topic, msgtype, t, data, self.where(topic), dec)


def open_bag(path: str | Path) -> BagReader:
    """Open a recording: ``.mcap`` file, rosbag2 folder, ``.db3`` file or ROS 1 ``.bag``.

    Raises:
        DataError: missing path ("missing file"), an empty file ("empty file"), an unknown suffix, or a
            file the container library rejects (naming the file and the library's reason).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(p, "recording does not exist", reason="missing file")
    if p.is_file() and p.stat().st_size == 0:
        raise DataError(p, "recording is an empty file", reason="empty file")
    if p.is_file() and p.suffix == ".mcap":
        from sensorfuse.sources.mcap_reader import McapBag

        return McapBag(p)
    if p.is_dir() or p.suffix in (".db3", ".bag"):
        from sensorfuse.sources.rosbag_reader import RosbagsBag

        return RosbagsBag(p)
    raise DataError(
        p, f"unknown recording suffix {p.suffix!r}; expected .mcap, .db3, .bag or a rosbag2 folder"
    )


def read_tf(
    reader: BagReader, topics: Iterable[str] = TF_TOPICS, max_extrapolation_ns: int | None = None
) -> TfBuffer:
    """All transforms of the recording in a :class:`TfBuffer` (see :func:`tf_from_messages`)."""
    present = [t for t in topics if t in reader.info().topics]
    return tf_from_messages(reader.messages(present), str(reader.path), max_extrapolation_ns)


def tf_from_messages(
    messages: Iterable[BagMessage], where: str, max_extrapolation_ns: int | None = None
) -> TfBuffer:
    """The transforms of TF messages (ROS ``TFMessage`` and Foxglove frames, in log-time order) in a
    :class:`TfBuffer` named ``where``.

    Edges from :data:`STATIC_TF_TOPICS` are static. A dynamic edge whose every sample is the same transform
    (the Foxglove layout republishes static extrinsics on ``/tf``) is kept as static too.
    """
    import numpy as np

    from sensorfuse.sources.foxglove_msgs import transforms_from_foxglove
    from sensorfuse.sources.ros_msgs import StampedTransform, transforms_from_tf

    buf = TfBuffer(where) if max_extrapolation_ns is None else TfBuffer(where, max_extrapolation_ns)
    dynamic: dict[tuple[str, str], list[StampedTransform]] = {}
    for m in messages:
        msg = m.decode()
        edges = (
            transforms_from_foxglove(msg, m.where)
            if m.type.startswith("foxglove.")
            else transforms_from_tf(msg, m.where)
        )
        if m.topic in STATIC_TF_TOPICS:
            buf.add_all(edges, static=True)
        else:
            for e in edges:
                dynamic.setdefault((e.parent, e.child), []).append(e)
    for edges in dynamic.values():
        first = edges[0].transform.matrix
        constant = all(np.allclose(e.transform.matrix, first, atol=1e-9) for e in edges)
        buf.add_all(edges[:1] if constant else edges, static=constant)
    return buf
