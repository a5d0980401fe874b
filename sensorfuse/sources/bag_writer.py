"""Writing recordings: ROS 2 messages to MCAP or to a rosbag2 ``.db3`` folder, Foxglove protobuf to MCAP.

Every writer is atomic: it writes under a temporary sibling name and renames the result into place on
:meth:`close` (a failed or aborted write leaves nothing at the target). Use them as context managers::

    with open_writer("drive.mcap") as w:                     # or "drive_db3/" with container="db3"
        w.write("/lidar", "sensor_msgs/msg/PointCloud2", ros_build.pointcloud2(pts, names, t, "lidar"), t)

* :class:`McapRos2Writer` — one ``.mcap`` file, profile ``ros2``, ``ros2msg`` schemas (the full definition
  text with dependencies, as ``ros2 bag record`` writes them), CDR payloads, zstd chunks, a summary with
  statistics and chunk indexes (what Foxglove, ``ros2 bag`` and :mod:`sensorfuse.sources.bagfile` read);
* :class:`Rosbag2Writer` — a rosbag2 folder (``metadata.yaml`` + ``<name>.db3``), format version 9, the
  definitions stored in the file (``rosbags``);
* :class:`FoxgloveMcapWriter` — one ``.mcap`` of Foxglove protobuf messages (schemas = the messages'
  ``FileDescriptorSet``), built by :mod:`sensorfuse.sources.foxglove_msgs`.

The log time of each message is its stamp (ns).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from mcap.writer import CompressionType
from mcap.writer import Writer as McapWriter

from sensorfuse.errors import DataError
from sensorfuse.sources.ros_types import writer_typestore


class _AtomicFile:
    """A temporary sibling file that becomes ``path`` on :meth:`commit`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.tmp = Path(tmp)
        self.f: BinaryIO = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.f.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


class _Writer:
    """Context-manager plumbing: commit on success, abort on an exception."""

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.close()
        else:
            self.abort()


class McapRos2Writer(_Writer):
    """ROS 2 messages (``rosbags`` objects) → one MCAP file (see the module docstring)."""

    def __init__(self, path: str | Path, chunk_size: int = 1024 * 1024) -> None:
        self.path = Path(path)
        self._out = _AtomicFile(self.path)
        self._w = McapWriter(self._out.f, chunk_size=chunk_size, compression=CompressionType.ZSTD)
        self._w.start(profile="ros2", library="sensorfuse")
        self._store = writer_typestore()
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, tuple[int, str]] = {}

    def write(self, topic: str, msgtype: str, msg: Any, stamp: int) -> None:
        """Append ``msg`` of ``msgtype`` (``pkg/msg/Name``) on ``topic`` at log time ``stamp`` (ns)."""
        if topic not in self._channels:
            if msgtype not in self._schemas:
                text, _ = self._store.generate_msgdef(msgtype, ros_version=2)
                self._schemas[msgtype] = self._w.register_schema(msgtype, "ros2msg", text.encode())
            cid = self._w.register_channel(topic, "cdr", self._schemas[msgtype])
            self._channels[topic] = (cid, msgtype)
        cid, have = self._channels[topic]
        if have != msgtype:
            raise DataError(self.path, f"topic {topic} was opened as {have}, not {msgtype}", topic)
        data = bytes(self._store.serialize_cdr(msg, msgtype))
        self._w.add_message(cid, log_time=int(stamp), publish_time=int(stamp), data=data)

    def add_metadata(self, name: str, data: dict[str, str]) -> None:
        """A metadata record ``name`` of string key/values (read back by ``BagReader.metadata()`` as
        ``"<name>.<key>"``); written where the call falls, so write it first to survive a truncation."""
        self._w.add_metadata(name, dict(data))

    def close(self) -> None:
        self._w.finish()
        self._out.commit()

    def abort(self) -> None:
        self._out.abort()


class Rosbag2Writer(_Writer):
    """ROS 2 messages → a rosbag2 folder ``path`` (``metadata.yaml`` + ``<name>.db3``, or ``.mcap`` storage).

    Args:
        path: the bag folder to create (replaced when ``overwrite``).
        storage: ``sqlite3`` (default) or ``mcap``.
    """

    def __init__(self, path: str | Path, storage: str = "sqlite3", overwrite: bool = False) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise DataError(self.path, "bag folder already exists (pass overwrite=True to replace it)")
        plugin = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}.get(storage)
        if plugin is None:
            raise DataError(self.path, f"storage {storage!r} is not sqlite3 or mcap", "storage")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.partial.", dir=self.path.parent))
        self._w = Writer(self._tmp / self.path.name, version=9, storage_plugin=plugin)
        self._w.open()
        self._store = writer_typestore()
        self._conns: dict[str, tuple[Any, str]] = {}

    def write(self, topic: str, msgtype: str, msg: Any, stamp: int) -> None:
        """Append ``msg`` of ``msgtype`` on ``topic`` at ``stamp`` (ns)."""
        if topic not in self._conns:
            self._conns[topic] = (self._w.add_connection(topic, msgtype, typestore=self._store), msgtype)
        conn, have = self._conns[topic]
        if have != msgtype:
            raise DataError(self.path, f"topic {topic} was opened as {have}, not {msgtype}", topic)
        self._w.write(conn, int(stamp), self._store.serialize_cdr(msg, msgtype))

    def add_metadata(self, name: str, data: dict[str, str]) -> None:
        """``data`` as ``custom_data`` entries ``"<name>.<key>"`` of ``metadata.yaml`` (what
        ``BagReader.metadata()`` returns, the same keys as an MCAP metadata record ``name``)."""
        for k, v in data.items():
            self._w.set_custom_data(f"{name}.{k}", str(v))

    def close(self) -> None:
        self._w.close()
        done = self._tmp / self.path.name
        if self.path.exists():  # swap: the old bag moves into the temporary folder, which is then removed
            os.replace(self.path, self._tmp / ".old")
        os.replace(done, self.path)
        shutil.rmtree(self._tmp, ignore_errors=True)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._w.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


class FoxgloveMcapWriter(_Writer):
    """Foxglove protobuf messages → one MCAP file (schemas from each message's descriptor)."""

    def __init__(self, path: str | Path) -> None:
        from mcap_protobuf.writer import Writer as ProtobufWriter

        self.path = Path(path)
        self._out = _AtomicFile(self.path)
        self._w = ProtobufWriter(self._out.f)

    def write(self, topic: str, msg: Any, stamp: int) -> None:
        """Append a protobuf ``msg`` on ``topic`` at log time ``stamp`` (ns)."""
        self._w.write_message(topic, msg, log_time=int(stamp), publish_time=int(stamp))

    def add_metadata(self, name: str, data: dict[str, str]) -> None:
        """A metadata record (as :meth:`McapRos2Writer.add_metadata`)."""
        self._w._writer.add_metadata(name, dict(data))  # mcap_protobuf exposes no metadata call of its own

    def close(self) -> None:
        self._w.finish()
        self._out.commit()

    def abort(self) -> None:
        self._out.abort()


def open_writer(path: str | Path, container: str = "mcap") -> McapRos2Writer | Rosbag2Writer:
    """A ROS 2 writer: ``container="mcap"`` (one file) or ``"db3"`` (a rosbag2 folder, sqlite3 storage)."""
    if container == "mcap":
        return McapRos2Writer(path)
    if container == "db3":
        return Rosbag2Writer(path, "sqlite3")
    raise DataError(path, f"container {container!r} is not 'mcap' or 'db3'", "container")
