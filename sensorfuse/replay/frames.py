"""Causal frame assembly: at each trigger, the latest data of each sensor — never data from the future.

The frame clock is the scene's LIDAR_TOP stream as recorded (every sweep, or only keyframes), taken from the
stream *before* fault injection: if the LiDAR is dropped, frames still happen and report it missing.
:func:`schedule` merges the (faulted) message arrivals with the triggers; :class:`CausalFramer` pushes each
arrival into a :class:`~sensorfuse.sync.core.CausalSyncBuffer` and, at each trigger, assembles a
:class:`Frame` from what has *arrived* by then with ``timestamp <= ref_time``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from sensorfuse.classes import LIDAR
from sensorfuse.errors import ConfigError
from sensorfuse.replay.stream import Arrival, SceneStream
from sensorfuse.sync.core import CausalSyncBuffer, Message, SyncPolicy, SyncResult

TriggerMode = Literal["sweep", "keyframe"]


@dataclass(frozen=True)
class Trigger:
    """When a frame is assembled: at ``arrival_us`` (= the frame's reference time, µs).

    Attributes:
        arrival_us: the reference time of the frame (the LiDAR sweep's capture time).
        index: frame number, from 0.
        clock: the LiDAR message that defines this tick (as recorded, before faults).
        sample_token: the nuScenes sample token when the tick is a keyframe, else None.
    """

    arrival_us: int
    index: int
    clock: Message
    sample_token: str | None

    @property
    def is_key_frame(self) -> bool:
        return self.sample_token is not None


@dataclass(frozen=True)
class Frame:
    """One causally assembled frame: the trigger and the sync result (chosen, offsets, missing)."""

    trigger: Trigger
    sync: SyncResult

    @property
    def ref_time(self) -> int:
        return self.trigger.arrival_us

    @property
    def used(self) -> tuple[str, ...]:
        return tuple(self.sync.chosen)


def make_triggers(stream: SceneStream, mode: TriggerMode = "sweep", channel: str = LIDAR) -> list[Trigger]:
    """The frame clock: every ``channel`` message (``sweep``) or only its keyframes (``keyframe``)."""
    if mode not in ("sweep", "keyframe"):
        raise ConfigError(f"--trigger: expected 'sweep' or 'keyframe', got {mode!r}")
    ticks = [m for m in stream.messages if m.channel == channel and (mode == "sweep" or m.is_key_frame)]
    if not ticks:
        raise ConfigError(f"scene {stream.name}: no {channel} messages to trigger frames on")
    return [
        Trigger(int(m.timestamp), i, m, stream.sample_of_keyframe.get(m.token) if m.is_key_frame else None)
        for i, m in enumerate(ticks)
    ]


def schedule(arrivals: Iterable[Arrival], triggers: Iterable[Trigger]) -> list[Arrival | Trigger]:
    """Arrivals and triggers in time order; a message arriving exactly at a trigger's time comes first."""
    events: list[Arrival | Trigger] = [*arrivals, *triggers]
    events.sort(key=lambda e: (e.arrival_us, isinstance(e, Trigger)))
    return events


class CausalFramer:
    """Feeds events into a :class:`CausalSyncBuffer` and emits a :class:`Frame` at each trigger.

    Args:
        channels: the sensors a frame should have (others are ignored).
        policy: tolerances (the mode is always causal here).
        capacity: messages kept per channel.
    """

    def __init__(self, channels: Sequence[str], policy: SyncPolicy, capacity: int = 32) -> None:
        self.channels = tuple(channels)
        self.buffer = CausalSyncBuffer(self.channels, policy, capacity=capacity)
        self.arrived = 0

    def push(self, arrival: Arrival) -> None:
        if arrival.message.channel in self.channels:
            self.buffer.push(arrival.message)
            self.arrived += 1

    def assemble(self, trigger: Trigger) -> Frame:
        """The frame at ``trigger``; raises RuntimeError if the buffer ever returned future data (a bug)."""
        result = self.buffer.assemble(trigger.arrival_us)
        future = {c: m.timestamp for c, m in result.chosen.items() if m.timestamp > trigger.arrival_us}
        if future:
            raise RuntimeError(
                f"causal sync returned messages from the future at {trigger.arrival_us}: {future}"
            )
        return Frame(trigger, result)

    def run(self, events: Iterable[Arrival | Trigger]) -> Iterator[Frame]:
        """Consume events in order; yield a frame at each trigger."""
        for e in events:
            if isinstance(e, Trigger):
                yield self.assemble(e)
            else:
                self.push(e)
