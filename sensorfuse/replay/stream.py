"""The message stream of a recorded scene: every ``sample_data`` in timestamp order, paced and faulted.

* :func:`drive_stream` takes every message of a recording (:class:`~sensorfuse.sources.base.Drive`: a
  nuScenes scene's keyframes **and** sweeps, or a bag's messages) sorted by ``(timestamp, channel)``.
* :class:`FaultPlan` (parsed from ``--drop CHANNEL@4s-9s`` / ``--delay CHANNEL=80ms``) drops messages in a
  time window (relative to the scene start) and delays a channel's *arrival*: a delayed message keeps its
  capture timestamp but becomes available later, so a causal consumer sees an older message of that sensor.
* :class:`Player` yields :class:`Arrival` s in arrival order at real time (``speed=1``), faster, or as fast as
  possible (``speed=0``).

Times are integers in µs throughout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sensorfuse.errors import ConfigError, DataError
from sensorfuse.sources.base import Drive
from sensorfuse.sync.core import Message

_UNIT_US = {"us": 1, "µs": 1, "ms": 1_000, "s": 1_000_000}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*(us|µs|ms|s)?\s*$")


def sort_messages(messages: Iterable[Message]) -> list[Message]:
    """Messages sorted by ``(timestamp, channel, token)`` (a total order, stable across runs)."""
    return sorted(messages, key=lambda m: (int(m.timestamp), m.channel, m.token))


@dataclass(frozen=True)
class SceneStream:
    """A scene's messages and the keyframe bookkeeping replay needs.

    Attributes:
        name: the recording (scene name, bag file name).
        messages: every message, sorted by ``(timestamp, channel)``.
        sample_of_keyframe: annotated message token → its sample id (:meth:`Drive.keyframes`).
        sensors: the recording's sensor names, in rig order.
    """

    name: str
    messages: tuple[Message, ...]
    sample_of_keyframe: Mapping[str, str]
    sensors: tuple[str, ...] = ()

    @property
    def start_us(self) -> int:
        return int(self.messages[0].timestamp)

    @property
    def channels(self) -> tuple[str, ...]:
        """The sensors that have messages, in rig order (then any others, sorted)."""
        have = {m.channel for m in self.messages}
        return tuple(c for c in self.sensors if c in have) + tuple(sorted(have - set(self.sensors)))


def drive_stream(drive: Drive) -> SceneStream:
    """Every message of a recording, sorted, with its keyframes' sample ids.

    Raises:
        DataError: the recording has no messages.
    """
    msgs = tuple(sort_messages(drive.messages()))
    if not msgs:
        raise DataError(drive.name, "the recording has no sensor messages", "messages")
    return SceneStream(drive.name, msgs, dict(drive.keyframes()), tuple(drive.sensors))


# -- fault injection -------------------------------------------------------------------------------------------
def parse_duration_us(text: str, what: str) -> int:
    """``'4s'``, ``'80ms'``, ``'1500us'`` (or ``µs``) → µs. The unit is required: a bare ``80`` could mean
    80 ms as well as 80 s.

    Raises:
        ConfigError: naming ``what`` (the option and its value), the duration and the accepted units.
    """
    m = _DURATION.match(text)
    if m is not None and m.group(2) is None:
        raise ConfigError(
            f"{what}: duration {text.strip()!r} has no unit; expected a number with a unit, us, ms or s "
            f"(e.g. {text.strip()}ms)"
        )
    if m is None:
        raise ConfigError(
            f"{what}: cannot read duration {text!r}; expected a number with a unit, us, ms or s (e.g. 4s, 80ms)"
        )
    return round(float(m.group(1)) * _UNIT_US[m.group(2)])


def _check_channel(channel: str, spec: str, option: str) -> str:
    if not channel:
        raise ConfigError(f"{option} {spec!r}: no sensor name before the window/duration")
    return channel


@dataclass(frozen=True)
class DropWindow:
    """Drop a channel's messages with ``start_us <= t - scene_start < end_us`` (end None = to the end)."""

    channel: str
    start_us: int = 0
    end_us: int | None = None

    @staticmethod
    def parse(spec: str) -> DropWindow:
        """``CHANNEL``, ``CHANNEL@4s-9s``, ``CHANNEL@4s-`` or ``CHANNEL@500ms-2s``."""
        channel, _, window = spec.partition("@")
        _check_channel(channel.strip(), spec, "--drop")
        if not window:
            return DropWindow(channel.strip())
        start_s, sep, end_s = window.partition("-")
        if not sep:
            raise ConfigError(f"--drop {spec!r}: expected CHANNEL@START-END, e.g. CAM_FRONT@4s-9s")
        start = parse_duration_us(start_s, f"--drop {spec!r} start")
        end = parse_duration_us(end_s, f"--drop {spec!r} end") if end_s.strip() else None
        if end is not None and end <= start:
            raise ConfigError(f"--drop {spec!r}: the window end must be after its start")
        return DropWindow(channel.strip(), start, end)

    def drops(self, msg: Message, scene_start: int) -> bool:
        rel = int(msg.timestamp) - scene_start
        return (
            msg.channel == self.channel
            and rel >= self.start_us
            and (self.end_us is None or rel < self.end_us)
        )


@dataclass(frozen=True)
class FaultPlan:
    """Faults injected into a stream: dropped windows and per-channel arrival delays (µs)."""

    drops: tuple[DropWindow, ...] = ()
    delays_us: Mapping[str, int] = field(default_factory=dict)

    @staticmethod
    def parse(drops: Sequence[str] = (), delays: Sequence[str] = ()) -> FaultPlan:
        """From ``--drop`` specs (``CHANNEL[@START-END]``) and ``--delay`` specs (``CHANNEL=80ms``)."""
        delay_map: dict[str, int] = {}
        for spec in delays:
            channel, sep, amount = spec.partition("=")
            if not sep:
                raise ConfigError(f"--delay {spec!r}: expected CHANNEL=DURATION, e.g. RADAR_FRONT=80ms")
            _check_channel(channel.strip(), spec, "--delay")
            delay_map[channel.strip()] = parse_duration_us(amount, f"--delay {spec!r}")
        return FaultPlan(tuple(DropWindow.parse(s) for s in drops), delay_map)

    def check(self, sensors: Sequence[str], where: str) -> None:
        """Every faulted sensor must be one of the recording's ``sensors`` (ConfigError naming it)."""
        named = [(d.channel, "--drop") for d in self.drops] + [(c, "--delay") for c in self.delays_us]
        for channel, option in named:
            if channel not in sensors:
                raise ConfigError(
                    f"{option}: {where} has no sensor {channel!r}; its sensors are {', '.join(sensors)}"
                )

    def describe(self) -> dict[str, Any]:
        return {
            "drop": [{"channel": d.channel, "start_us": d.start_us, "end_us": d.end_us} for d in self.drops],
            "delay_us": dict(self.delays_us),
        }


@dataclass(frozen=True)
class Arrival:
    """A message and the time (µs, recording clock) at which it becomes available to the consumer."""

    arrival_us: int
    message: Message


def apply_faults(messages: Sequence[Message], plan: FaultPlan) -> list[Arrival]:
    """Drop and delay messages; returns arrivals sorted by ``(arrival time, channel)``.

    ``messages`` must be sorted (see :func:`sort_messages`); the scene start is the first timestamp.
    """
    if not messages:
        return []
    start = int(messages[0].timestamp)
    out = [
        Arrival(int(m.timestamp) + int(plan.delays_us.get(m.channel, 0)), m)
        for m in messages
        if not any(d.drops(m, start) for d in plan.drops)
    ]
    out.sort(key=lambda a: (a.arrival_us, a.message.channel, a.message.token))
    return out


class Timed(Protocol):
    """Anything with an ``arrival_us`` time (an :class:`Arrival`, a replay trigger)."""

    @property
    def arrival_us(self) -> int: ...


T = TypeVar("T", bound=Timed)


class Player(Generic[T]):
    """Yields events (arrivals, triggers) paced against a wall clock.

    Args:
        arrivals: events sorted by arrival time (e.g. :func:`apply_faults`).
        speed: 1.0 = real time, 2.0 = twice as fast, 0 = as fast as possible.
        clock / sleep: injectable for tests (seconds, like ``time.monotonic`` / ``time.sleep``).
    """

    def __init__(
        self,
        arrivals: Sequence[T],
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not speed >= 0:
            raise ConfigError(f"--speed: expected a number >= 0 (0 = as fast as possible), got {speed}")
        self.arrivals = arrivals
        self.speed = float(speed)
        self.clock, self.sleep = clock, sleep
        self.lag_s = 0.0  # how far behind the schedule the consumer fell at worst

    def __iter__(self) -> Iterator[T]:
        if not self.arrivals:
            return
        t0_us = self.arrivals[0].arrival_us
        wall0 = self.clock()
        for a in self.arrivals:
            if self.speed > 0:
                due = wall0 + (a.arrival_us - t0_us) / 1e6 / self.speed
                ahead = due - self.clock()
                if ahead > 0:
                    self.sleep(ahead)
                else:
                    self.lag_s = max(self.lag_s, -ahead)
            yield a
