"""The annotated keyframes of any recording (:class:`~sensorfuse.sources.base.Drive`) as SensorSamples.

A keyframe is a message of the reference sensor that the recording annotates (:meth:`Drive.keyframes`). The
other sensors' messages of that sample are, in this order:

1. the ones the recording itself groups with it (a nuScenes sample's ``data``; an exported drive keeps that
   grouping in its token map), each checked to be within the sync tolerance of the reference;
2. else the message nearest in time to the reference (:func:`sensorfuse.sync.core.synchronize`, ``nearest``,
   the same tolerances): a recorded drive of another rig has no grouping.

A sensor with neither is missing (``stale`` or ``absent``, with the offset in its detail) and dropped or raised
per ``cfg.on_missing``, as everywhere. Then :func:`sensorfuse.data.assemble.assemble` builds the sample: the
same path as training on a dataroot (:func:`sensorfuse.data.sample.load_sample`) and replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sensorfuse.data.assemble import Selection, assemble
from sensorfuse.data.config import SampleConfig
from sensorfuse.errors import DataError
from sensorfuse.sources.base import Drive
from sensorfuse.structures import SensorSample
from sensorfuse.sync.core import Message, SyncPolicy, synchronize


@dataclass(frozen=True)
class Keyframe:
    """One annotated sample of a recording.

    Attributes:
        sample_id: the recording's id of the sample (nuScenes: the sample token).
        ref: the reference sensor's message (its frame and time are the sample's).
        grouped: sensor name → the message the recording groups with this sample (may be empty).
    """

    sample_id: str
    ref: Message
    grouped: Mapping[str, Message]


def drive_keyframes(drive: Drive, reference: str) -> list[Keyframe]:
    """The keyframes of ``drive`` whose reference-sensor message exists, in time order.

    Raises:
        DataError: two reference messages claim the same sample id.
    """
    by_token = {m.token: m for m in drive.messages()}
    groups: dict[str, dict[str, Message]] = {}
    for token, sample_id in drive.keyframes().items():
        msg = by_token.get(token)
        if msg is not None:
            group = groups.setdefault(sample_id, {})
            if msg.channel == reference and reference in group:
                raise DataError(
                    drive.name,
                    f"sample {sample_id!r} has two {reference} keyframes ({group[reference].token}, {token})",
                    "keyframes",
                )
            group.setdefault(msg.channel, msg)
    keys = [Keyframe(s, g[reference], g) for s, g in groups.items() if reference in g]
    return sorted(keys, key=lambda k: (k.ref.timestamp, k.sample_id))


def streams_of(drive: Drive) -> dict[str, list[Message]]:
    """Sensor name → its messages in time order (what the nearest-message fallback searches)."""
    out: dict[str, list[Message]] = {name: [] for name in drive.sensors}
    for m in drive.messages():
        out.setdefault(m.channel, []).append(m)
    return out


def select_keyframe(
    key: Keyframe, streams: Mapping[str, Sequence[Message]], cfg: SampleConfig
) -> tuple[dict[str, Message], dict[str, str]]:
    """The message of every sensor of ``cfg`` for ``key`` (see the module docstring) and the sensors missing
    (``name → "<reason>: <detail>"``; sensors the recording lacks are left to the assembler)."""
    policy = SyncPolicy(mode="nearest", tolerance_us=dict(cfg.tolerance_us))
    t_ref = int(key.ref.timestamp)
    chosen: dict[str, Message] = {}
    missing: dict[str, str] = {}
    nearest: dict[str, Sequence[Message]] = {}
    for name in cfg.channels_for(("lidar", "radar", "camera")):
        if name == key.ref.channel:
            chosen[name] = key.ref
        elif name in key.grouped:
            msg = key.grouped[name]
            tol = policy.tolerance_for(name, msg.modality)
            offset = int(msg.timestamp) - t_ref
            if abs(offset) > tol:
                missing[name] = (
                    f"stale: its keyframe {msg.token} is {offset} µs from the {key.ref.channel} keyframe "
                    f"(tolerance {tol} µs)"
                )
            else:
                chosen[name] = msg
        elif name in streams:
            nearest[name] = streams[name]
    picked = synchronize(t_ref, nearest, policy)
    chosen.update(picked.chosen)
    missing.update(picked.missing)
    return chosen, missing


def load_keyframe(
    drive: Drive, key: Keyframe, cfg: SampleConfig, streams: Mapping[str, Sequence[Message]]
) -> SensorSample:
    """The :class:`SensorSample` of one keyframe (sensors chosen by :func:`select_keyframe`).

    Raises:
        DataError: (``on_missing="raise"``) a sensor of ``cfg`` missing or unreadable, naming it and why.
    """
    chosen, missing = select_keyframe(key, streams, cfg)
    if missing and cfg.on_missing == "raise":
        name, why = next(iter(missing.items()))
        reason, _, detail = why.partition(": ")
        raise DataError(f"{drive.name}:{key.sample_id}", f"{name}: {detail}", name, reason=reason)
    sel = Selection(
        key.ref, chosen, sample_token=key.sample_id, scene_name=drive.name, ground_truth=cfg.load_gt
    )
    return assemble(drive, sel, cfg, missing)
