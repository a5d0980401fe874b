"""MCAP recordings through the ``mcap`` library: indexed reads, or a scan when the summary is absent.

A complete MCAP ends with a summary (schemas, channels, statistics, chunk indexes) and a footer; then
messages are read through the chunk indexes (``mcap.reader.SeekingReader``), lazily and in log-time order.

Without a usable summary — a file written without one, or a **truncated** file whose footer is missing
because the recorder died — the file is **scanned** once at open: records are walked from the start and
every complete Schema, Channel, Message and Chunk (decompressed, its inner records indexed) is recorded as
(log time, channel, byte offset, index in chunk). The scan stops at the first record that extends past the
end of the file (the cut) or does not parse; everything before it is used, :attr:`BagInfo.truncated` is
set and a note names the byte offset. Messages are then fetched by offset in log-time order (the last
decompressed chunks are cached), so payloads are still read lazily.
"""

from __future__ import annotations

import io
import logging
import struct
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.reader import SeekingReader
from mcap.records import Channel, Chunk, Message, Metadata, Schema
from mcap.stream_reader import breakup_chunk
from mcap_protobuf.decoder import DecoderFactory

from sensorfuse.errors import DataError
from sensorfuse.sources import ros_types
from sensorfuse.sources.bagfile import (
    MESSAGE_KINDS,
    BagInfo,
    BagMessage,
    BagReader,
    ChannelSpec,
    TopicInfo,
    make_decoder,
)

log = logging.getLogger(__name__)

MAGIC = b"\x89MCAP0\r\n"
_CHUNK_CACHE = 4


class _Scan:
    """The index a scan builds: schemas, channels, and one row per complete message."""

    def __init__(self) -> None:
        self.schemas: dict[int, Schema] = {}
        self.channels: dict[int, Channel] = {}
        self.rows: list[tuple[int, int, int, int]] = []  # log_time, channel_id, record offset, index in chunk
        self.metadata: list[Metadata] = []
        self.cut_at: int | None = None
        self.cut_reason = ""

    def take(self, rec: Any, offset: int, index: int) -> None:
        if isinstance(rec, Schema):
            self.schemas[rec.id] = rec
        elif isinstance(rec, Channel):
            self.channels[rec.id] = rec
        elif isinstance(rec, Message):
            self.rows.append((rec.log_time, rec.channel_id, offset, index))
        elif isinstance(rec, Metadata):
            self.metadata.append(rec)


def _read_record(f: BinaryIO, offset: int) -> tuple[int, bytes]:
    f.seek(offset)
    op, length = struct.unpack("<BQ", f.read(9))
    return op, f.read(length)


def _parse(op: int, body: bytes) -> Any:
    s = ReadDataStream(io.BytesIO(body))
    if op == Opcode.SCHEMA:
        return Schema.read(s)
    if op == Opcode.CHANNEL:
        return Channel.read(s)
    if op == Opcode.MESSAGE:
        return Message.read(s, len(body))
    if op == Opcode.CHUNK:
        return Chunk.read(s)
    if op == Opcode.METADATA:
        return Metadata.read(s)
    return None


def scan(f: BinaryIO, size: int) -> _Scan:
    """Walk the records of an MCAP from the start (see the module docstring)."""
    out = _Scan()
    pos = len(MAGIC)
    while pos + 9 <= size:
        f.seek(pos)
        op, length = struct.unpack("<BQ", f.read(9))
        end = pos + 9 + length
        if end > size:
            out.cut_at, out.cut_reason = (
                pos,
                f"record at byte {pos} needs {length} bytes, the file ends at {size}",
            )
            return out
        if op in (Opcode.DATA_END, Opcode.FOOTER):
            return out
        if op in (Opcode.SCHEMA, Opcode.CHANNEL, Opcode.MESSAGE, Opcode.CHUNK, Opcode.METADATA):
            try:
                rec = _parse(op, f.read(length))
                if isinstance(rec, Chunk):
                    for i, inner in enumerate(breakup_chunk(rec)):
                        out.take(inner, pos, i)
                else:
                    out.take(rec, pos, -1)
            except Exception as e:  # a damaged record: keep what came before it
                out.cut_at, out.cut_reason = (
                    pos,
                    f"record at byte {pos} does not parse ({type(e).__name__}: {e})",
                )
                return out
        pos = end
    if pos != size:
        out.cut_at, out.cut_reason = pos, f"the file ends inside a record header at byte {pos}"
    return out


class McapBag(BagReader):
    """An MCAP file (any profile: ``ros2`` CDR, protobuf, ``ros1``; unknown encodings are skipped)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._f: BinaryIO = path.open("rb")
        try:
            self._open()
        except BaseException:
            self._f.close()
            raise

    def _open(self) -> None:
        size = self.path.stat().st_size
        if self._f.read(len(MAGIC)) != MAGIC:
            raise DataError(self.path, "not an MCAP file (bad magic bytes)", "magic", reason="corrupt")
        self._size = size
        self._reader: SeekingReader | None = None
        self._scan: _Scan | None = None
        summary = None
        footer_ok = True
        try:
            self._f.seek(0)
            reader = SeekingReader(self._f)
            summary = reader.get_summary()
        except Exception:  # no footer (truncated) or a damaged summary: scan instead
            footer_ok = False
        if summary is not None and summary.chunk_indexes and summary.statistics is not None:
            self._reader = reader
            # chunks in file order, for random access (message_at)
            self._chunk_index = sorted(summary.chunk_indexes, key=lambda c: c.chunk_start_offset)
            schemas, channels = summary.schemas, summary.channels
            stats = summary.statistics
            counts = dict(stats.channel_message_counts)
            span = (stats.message_start_time, stats.message_end_time)
        else:
            self._scan = scan(self._f, size)
            schemas, channels = self._scan.schemas, self._scan.channels
            rows = np.array(self._scan.rows, dtype=np.int64).reshape(-1, 4)
            order = np.argsort(rows[:, 0], kind="stable")
            self._rows = rows[order]
            ch_ids, n = np.unique(self._rows[:, 1], return_counts=True)
            counts = {int(c): int(k) for c, k in zip(ch_ids, n)}
            span = (int(self._rows[0, 0]), int(self._rows[-1, 0])) if len(self._rows) else (0, 0)
        self._truncated = not footer_ok
        notes = []
        if self._scan is not None:
            if not footer_ok:
                cut = self._scan.cut_reason or "the footer is missing"
                notes.append(f"no footer/summary (truncated recording?): read by scanning; {cut}")
                log.warning("%s: truncated MCAP read by scanning (%s)", self.path, cut)
            else:
                notes.append("no summary section/chunk index: read by scanning")
        self._channels = channels
        self._primary: dict[str, int] = {}
        protobuf = DecoderFactory()
        store = ros_types.empty_typestore()
        topics: dict[str, TopicInfo] = {}
        for cid, ch in channels.items():
            schema = schemas.get(ch.schema_id)
            spec = ChannelSpec(
                ch.topic,
                schema.name if schema else "",
                ch.message_encoding,
                schema.encoding if schema else "",
                schema.data if schema else b"",
                schema,
            )
            dec, problem = make_decoder(spec, store, protobuf) if schema else (None, "channel has no schema")
            if ch.topic in topics:
                notes.append(f"topic {ch.topic} has several channels; the first is read, the others skipped")
                continue
            self._primary[ch.topic] = cid
            self._decoders[ch.topic] = (dec, problem)
            mtype = (
                ros_types.normalize_type(spec.type) if ch.message_encoding in ("cdr", "ros1") else spec.type
            )
            topics[ch.topic] = TopicInfo(
                ch.topic,
                mtype or "?",
                ch.message_encoding,
                counts.get(cid, 0),
                MESSAGE_KINDS.get(mtype),
                problem,
            )
        self._info = BagInfo(
            self.path, "mcap", int(span[0]), int(span[1]), topics, self._truncated, tuple(notes)
        )
        self._chunks: OrderedDict[int, list[Any]] = OrderedDict()

    def info(self) -> BagInfo:
        return self._info

    def close(self) -> None:
        self._f.close()

    def metadata(self) -> dict[str, str]:
        if self._scan is not None:
            records = list(self._scan.metadata)
        else:
            assert self._reader is not None
            try:
                records = list(self._reader.iter_metadata())
            except Exception as e:
                raise DataError(
                    self.path,
                    f"MCAP metadata does not read ({type(e).__name__}: {e})",
                    "metadata",
                    reason="corrupt",
                ) from None
        return {f"{r.name}.{k}": v for r in records for k, v in r.metadata.items()}

    def _type_of(self, topic: str) -> str:
        return self._info.topics[topic].type

    def _raw(
        self, topics: set[str] | None, start_ns: int | None, stop_ns: int | None
    ) -> Iterator[tuple[str, str, int, bytes | memoryview]]:
        try:
            if self._reader is not None:
                it = self._reader.iter_messages(
                    topics=None if topics is None else sorted(topics),
                    starting_at=start_ns,
                    ending_before=stop_ns,
                    log_time_order=True,
                )
                for _, ch, msg in it:
                    if self._primary.get(ch.topic) != ch.id:
                        self.skipped[ch.topic] = self.skipped.get(ch.topic, 0) + 1
                        continue
                    yield ch.topic, self._type_of(ch.topic), msg.log_time, msg.data
            else:
                yield from self._scanned(topics, start_ns, stop_ns)
        except DataError:
            raise
        except Exception as e:
            raise self._read_failed(e) from None

    def _read_failed(self, e: Exception) -> DataError:
        """A library error while reading chunks, as a named error."""
        return DataError(
            self.path, f"MCAP read failed ({type(e).__name__}: {e}); expected intact chunks", reason="corrupt"
        )

    def _scanned(
        self, topics: set[str] | None, start_ns: int | None, stop_ns: int | None
    ) -> Iterator[tuple[str, str, int, bytes | memoryview]]:
        rows = self._rows
        if start_ns is not None:
            rows = rows[rows[:, 0] >= start_ns]
        if stop_ns is not None:
            rows = rows[rows[:, 0] < stop_ns]
        for t, cid, offset, index in rows.tolist():
            topic = self._channels[cid].topic
            if topics is not None and topic not in topics:
                continue
            if self._primary.get(topic) != cid:
                self.skipped[topic] = self.skipped.get(topic, 0) + 1
                continue
            yield topic, self._type_of(topic), t, self._payload(offset, index)

    def message_at(self, topic: str, log_time_ns: int, nth: int = 0) -> BagMessage | None:
        cid = self._primary.get(topic)
        if cid is None:
            return None
        dec, _ = self._decoders.get(topic, (None, ""))
        if dec is None:
            self.skipped[topic] = self.skipped.get(topic, 0) + 1
            return None
        try:
            data = self._indexed_at(cid, log_time_ns, nth)
        except DataError:
            raise
        except Exception as e:
            raise self._read_failed(e) from None
        if data is None:
            return None
        return BagMessage(topic, self._type_of(topic), log_time_ns, data, self.where(topic), dec)

    def _indexed_at(self, cid: int, t: int, nth: int) -> bytes | None:
        """The payload of channel ``cid``'s ``nth`` message at log time ``t``, through the chunk index (or the
        scan's rows); decompressed chunks are cached."""
        k = 0
        if self._scan is not None:
            rows = self._rows[(self._rows[:, 0] == t) & (self._rows[:, 1] == cid)]
            return self._payload(int(rows[nth, 2]), int(rows[nth, 3])) if nth < len(rows) else None
        for ci in self._chunk_index:
            if not ci.message_start_time <= t <= ci.message_end_time or cid not in ci.message_index_offsets:
                continue
            for rec in self._chunk_records(ci.chunk_start_offset):
                if isinstance(rec, Message) and rec.channel_id == cid and rec.log_time == t:
                    if k == nth:
                        return bytes(rec.data)
                    k += 1
        return None

    def _chunk_records(self, offset: int) -> list[Any]:
        """The records of the chunk at ``offset`` (LRU-cached)."""
        recs = self._chunks.get(offset)
        if recs is None:
            op, body = _read_record(self._f, offset)
            recs = breakup_chunk(_parse(op, body))
            self._chunks[offset] = recs
            while len(self._chunks) > _CHUNK_CACHE:
                self._chunks.popitem(last=False)
        else:
            self._chunks.move_to_end(offset)
        return recs

    def _payload(self, offset: int, index: int) -> bytes:
        if index < 0:
            op, body = _read_record(self._f, offset)
            rec: Any = _parse(op, body)
            return bytes(rec.data)
        msg: Any = self._chunk_records(offset)[index]
        return bytes(msg.data)
