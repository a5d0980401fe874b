"""Time synchronisation of sensor streams.

Given a reference time (µs, usually the LIDAR_TOP keyframe or the replay clock) and one time-ordered
stream of :class:`Message` per sensor channel, pick each sensor's message:

* ``mode="nearest"``: the message closest in time (ties go to the earlier one) — offline assembly;
* ``mode="causal"``: the latest message with ``timestamp <= ref_time`` — online / replay: never a
  message from the future.

Each pick is checked against a per-sensor tolerance (``|offset| <= tolerance``). A sensor whose best
message is too far away is reported **missing** with the reason (``stale`` / ``absent``), never
silently used. Offsets are ``message.timestamp - ref_time`` in µs (negative = older than the reference).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sensorfuse.errors import ConfigError, DataError

SyncMode = Literal["nearest", "causal"]

#: Default tolerance per modality (µs): about one sensor period (camera 12 Hz, LiDAR 20 Hz, radar 13 Hz).
DEFAULT_MODALITY_TOLERANCE_US: dict[str, int] = {"camera": 100_000, "lidar": 60_000, "radar": 100_000}


@dataclass(frozen=True)
class Message:
    """One sensor message (a nuScenes ``sample_data`` record or a live message).

    Attributes:
        channel: sensor channel, e.g. ``CAM_FRONT``.
        timestamp: capture time, µs.
        token: sample_data token (or any unique id).
        is_key_frame: True for a 2 Hz keyframe.
        filename: data file, relative to the dataroot.
        modality: ``camera`` / ``lidar`` / ``radar``.
    """

    channel: str
    timestamp: int
    token: str = ""
    is_key_frame: bool = False
    filename: str = ""
    modality: str = ""


@dataclass(frozen=True)
class SyncPolicy:
    """How to pick messages and how old/far a message may be.

    Attributes:
        mode: ``nearest`` or ``causal`` (latest not after the reference time).
        tolerance_us: maximum ``|offset|`` in µs, keyed by channel (first) or modality (second).
        default_tolerance_us: tolerance for a sensor matched by neither key.
    """

    mode: SyncMode = "nearest"
    tolerance_us: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MODALITY_TOLERANCE_US))
    default_tolerance_us: int = 100_000

    def __post_init__(self) -> None:
        if self.mode not in ("nearest", "causal"):
            raise ConfigError(f"SyncPolicy.mode: expected 'nearest' or 'causal', got {self.mode!r}")
        for key, tol in {**self.tolerance_us, "default": self.default_tolerance_us}.items():
            if not isinstance(tol, int) or isinstance(tol, bool) or tol < 0:
                raise ConfigError(f"SyncPolicy.tolerance_us[{key!r}]: expected an int >= 0 (µs), got {tol!r}")

    def tolerance_for(self, channel: str, modality: str = "") -> int:
        """Tolerance (µs) of a channel: by channel, else by modality, else the default."""
        if channel in self.tolerance_us:
            return int(self.tolerance_us[channel])
        if modality and modality in self.tolerance_us:
            return int(self.tolerance_us[modality])
        return int(self.default_tolerance_us)


@dataclass
class SyncResult:
    """The messages picked for one reference time.

    Attributes:
        ref_time: reference time, µs.
        chosen: channel → picked message (only sensors within tolerance).
        offsets_us: channel → ``chosen.timestamp - ref_time`` (only chosen sensors).
        missing: channel → reason (``absent: ...`` or ``stale: ...``) for every other requested sensor.
    """

    ref_time: int
    chosen: dict[str, Message] = field(default_factory=dict)
    offsets_us: dict[str, int] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when no requested sensor is missing."""
        return not self.missing


def _pick_index(times: Sequence[int], ref_time: int, mode: SyncMode) -> int | None:
    """Index of the picked timestamp in the sorted ``times``, or None when there is none."""
    if not times:
        return None
    right = bisect.bisect_right(times, ref_time)  # first index with times[i] > ref_time
    if mode == "causal":
        return right - 1 if right > 0 else None
    cands = [i for i in (right - 1, right) if 0 <= i < len(times)]
    return min(cands, key=lambda i: (abs(times[i] - ref_time), times[i]))


def _check_sorted(channel: str, messages: Sequence[Message]) -> list[int]:
    times = [int(m.timestamp) for m in messages]
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            raise DataError(
                messages[i].token or channel,
                f"stream {channel}: timestamps must be non-decreasing, got {times[i - 1]} then {times[i]} µs",
                "timestamp",
            )
    return times


def _select(
    result: SyncResult,
    channel: str,
    messages: Sequence[Message],
    times: Sequence[int],
    policy: SyncPolicy,
    mode: SyncMode,
) -> None:
    """Pick one channel's message into ``result`` (or mark it missing)."""
    idx = _pick_index(times, result.ref_time, mode)
    modality = messages[0].modality if messages else ""
    if idx is None:
        where = "no message" if not messages else "no message at or before the reference time"
        result.missing[channel] = f"absent: {where}"
        return
    msg = messages[idx]
    offset = int(msg.timestamp) - int(result.ref_time)
    tol = policy.tolerance_for(channel, msg.modality or modality)
    if abs(offset) > tol:
        result.missing[channel] = (
            f"stale: best message {msg.token or '?'} is {offset} µs from the reference (tolerance {tol} µs)"
        )
        return
    result.chosen[channel] = msg
    result.offsets_us[channel] = offset


def synchronize(ref_time: int, streams: Mapping[str, Sequence[Message]], policy: SyncPolicy) -> SyncResult:
    """Pick one message per channel for ``ref_time`` (µs).

    Args:
        ref_time: reference time, µs.
        streams: channel → messages of that channel sorted by timestamp (an empty sequence = absent).
        policy: mode and tolerances.

    Raises:
        DataError: a stream's timestamps decrease (naming the message token).
    """
    result = SyncResult(ref_time=int(ref_time))
    for channel, messages in streams.items():
        times = _check_sorted(channel, messages)
        _select(result, channel, messages, times, policy, policy.mode)
    return result


class CausalSyncBuffer:
    """Online synchroniser: push messages as they arrive, assemble a causal snapshot at any time.

    ``assemble(ref_time)`` never returns a message newer than ``ref_time`` (whatever ``policy.mode``
    says), and marks a sensor missing when its latest usable message is older than its tolerance or
    when it has none. Messages may arrive slightly out of order; they are inserted in time order and
    counted in :attr:`out_of_order`. Each channel keeps at most ``capacity`` messages.
    """

    def __init__(self, channels: Iterable[str], policy: SyncPolicy, capacity: int = 64) -> None:
        if capacity < 1:
            raise ConfigError(f"CausalSyncBuffer.capacity: expected >= 1, got {capacity}")
        self.channels: tuple[str, ...] = tuple(channels)
        if not self.channels:
            raise ConfigError("CausalSyncBuffer.channels: expected at least one channel")
        self.policy = policy
        self.capacity = capacity
        self.out_of_order = 0
        self._msgs: dict[str, list[Message]] = {c: [] for c in self.channels}
        self._times: dict[str, list[int]] = {c: [] for c in self.channels}

    def push(self, msg: Message) -> None:
        """Add a message; raises :class:`DataError` for a channel the buffer does not track."""
        if msg.channel not in self._msgs:
            raise DataError(
                msg.token or msg.channel,
                f"channel {msg.channel!r} is not one of the buffer's channels {list(self.channels)}",
                "channel",
            )
        times, msgs = self._times[msg.channel], self._msgs[msg.channel]
        t = int(msg.timestamp)
        if times and t < times[-1]:
            self.out_of_order += 1
        i = bisect.bisect_right(times, t)
        times.insert(i, t)
        msgs.insert(i, msg)
        if len(times) > self.capacity:
            del times[0], msgs[0]

    def latest(self, channel: str) -> Message | None:
        """The newest message of a channel, or None."""
        msgs = self._msgs.get(channel, [])
        return msgs[-1] if msgs else None

    def assemble(self, ref_time: int) -> SyncResult:
        """Causal snapshot at ``ref_time`` (µs) over all buffer channels."""
        result = SyncResult(ref_time=int(ref_time))
        for channel in self.channels:
            _select(result, channel, self._msgs[channel], self._times[channel], self.policy, "causal")
        return result
