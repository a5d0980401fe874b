"""rosbag2 (folder or bare ``.db3``, sqlite3 or mcap storage) and ROS 1 ``.bag`` through ``rosbags``.

``rosbags`` reads the container (metadata, the sqlite3 ``messages`` table ordered by timestamp, ROS 1
chunks and index); sensorfuse builds its own type store per file (:func:`~sensorfuse.sources.bagfile.
make_decoder`) so that one bad or missing definition makes one topic unknown instead of failing the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sensorfuse.errors import DataError
from sensorfuse.sources import ros_types
from sensorfuse.sources.bagfile import MESSAGE_KINDS, BagInfo, BagReader, ChannelSpec, TopicInfo, make_decoder

_FORMAT = {1: "ros2msg", 2: "ros2idl"}  # rosbags MessageDefinitionFormat values (NONE = 0)


class RosbagsBag(BagReader):
    """A rosbag2 folder / ``.db3`` file, or a ROS 1 ``.bag``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._ros1 = path.suffix == ".bag"
        try:
            if self._ros1:
                from rosbags.rosbag1 import Reader as Reader1

                self._r: Any = Reader1(path)
            else:
                from rosbags.rosbag2 import Reader as Reader2

                self._r = Reader2(path)
            self._r.open()
        except Exception as e:  # rosbags ReaderError, sqlite errors, yaml errors, FileNotFoundError
            what = "ROS 1 bag" if self._ros1 else "rosbag2 recording (folder with metadata.yaml, or .db3)"
            raise DataError(path, f"cannot open as a {what}: {e}", reason="corrupt") from None
        self._build()

    def _build(self) -> None:
        store = ros_types.empty_typestore()
        topics: dict[str, TopicInfo] = {}
        notes: list[str] = []
        self._conns: dict[str, list[Any]] = {}
        for c in self._r.connections:
            self._conns.setdefault(c.topic, []).append(c)
            if c.topic in topics:
                topics[c.topic] = _with_count(topics[c.topic], c.msgcount)
                continue
            enc = "ros1" if self._ros1 else getattr(c.ext, "serialization_format", "cdr")
            fmt = c.msgdef.format.value
            spec = ChannelSpec(c.topic, c.msgtype, enc, _FORMAT.get(fmt, ""), c.msgdef.data if fmt else "")
            dec, problem = make_decoder(spec, store, None)
            self._decoders[c.topic] = (dec, problem)
            mtype = ros_types.normalize_type(c.msgtype)
            topics[c.topic] = TopicInfo(c.topic, mtype, enc, c.msgcount, MESSAGE_KINDS.get(mtype), problem)
        count = sum(t.count for t in topics.values())
        start = int(self._r.start_time) if count else 0
        end = int(self._r.end_time) - 1 if count else 0  # rosbags' end is exclusive
        container = "ros1 bag" if self._ros1 else f"rosbag2 ({self._storage()})"
        self._info = BagInfo(self.path, container, start, end, topics, False, tuple(notes))

    def _storage(self) -> str:
        if self.path.is_dir():
            meta = self.path / "metadata.yaml"
            text = meta.read_text(errors="replace") if meta.is_file() else ""
            return "mcap" if "storage_identifier: mcap" in text else "sqlite3"
        return "sqlite3" if self.path.suffix == ".db3" else self.path.suffix

    def info(self) -> BagInfo:
        return self._info

    def close(self) -> None:
        self._r.close()

    def metadata(self) -> dict[str, str]:
        # rosbag2 custom_data (metadata version 6+), kept by rosbags' directory reader behind the Reader
        holder = getattr(self._r, "storage", self._r)
        custom = getattr(getattr(holder, "metadata", None), "custom", None)
        return {str(k): str(v) for k, v in (custom or {}).items()}

    def _raw(
        self, topics: set[str] | None, start_ns: int | None, stop_ns: int | None
    ) -> Iterator[tuple[str, str, int, bytes | memoryview]]:
        conns = [c for t, cs in self._conns.items() if topics is None or t in topics for c in cs]
        if not conns:
            return
        try:
            for c, t, data in self._r.messages(connections=conns, start=start_ns, stop=stop_ns):
                yield c.topic, self._info.topics[c.topic].type, int(t), data
        except Exception as e:
            raise DataError(
                self.path, f"read failed ({type(e).__name__}: {e}); expected intact records", reason="corrupt"
            ) from None


def _with_count(t: TopicInfo, extra: int) -> TopicInfo:
    return TopicInfo(t.name, t.type, t.encoding, t.count + extra, t.kind, t.problem)
