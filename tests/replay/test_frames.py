"""Causal frame assembly: never future data, faults reported as missing, frames keep coming."""

from __future__ import annotations

import pytest

from sensorfuse.errors import ConfigError
from sensorfuse.replay.frames import CausalFramer, Trigger, make_triggers, schedule
from sensorfuse.replay.stream import FaultPlan, SceneStream, apply_faults, sort_messages
from sensorfuse.sync.core import Message, SyncPolicy

T0 = 1_600_000_000_000_000
CH = {
    "LIDAR_TOP": ("lidar", 50_000, 0),
    "CAM_FRONT": ("camera", 83_333, 13_000),
    "RADAR_FRONT": ("radar", 76_923, 31_000),
}


def _stream(seconds: float = 3.0) -> SceneStream:
    msgs = []
    keyframes = {}
    for ch, (mod, period, phase) in CH.items():
        n = int(seconds * 1e6 // period)
        for i in range(n):
            key = ch == "LIDAR_TOP" and i % 10 == 0
            tok = f"{ch}-{i}"
            msgs.append(Message(ch, T0 + phase + i * period, tok, key, f"f/{tok}", mod))
            if key:
                keyframes[tok] = f"sample-{i // 10}"
    return SceneStream("scene-x", tuple(sort_messages(msgs)), keyframes, tuple(CH))


def _frames(stream: SceneStream, plan: FaultPlan, mode: str = "sweep") -> list:
    framer = CausalFramer(stream.channels, SyncPolicy(mode="causal"))
    events = schedule(apply_faults(stream.messages, plan), make_triggers(stream, mode))  # type: ignore[arg-type]
    return list(framer.run(events))


def test_one_frame_per_lidar_sweep_or_keyframe() -> None:
    s = _stream()
    assert len(_frames(s, FaultPlan())) == 60
    key = _frames(s, FaultPlan(), "keyframe")
    assert len(key) == 6
    assert [f.trigger.sample_token for f in key] == [f"sample-{i}" for i in range(6)]
    with pytest.raises(ConfigError, match="trigger"):
        make_triggers(s, "every")  # type: ignore[arg-type]


def test_causal_buffer_never_uses_a_message_from_the_future() -> None:
    s = _stream()
    by_token = {m.token: m for m in s.messages}
    for f in _frames(s, FaultPlan(delays_us={"CAM_FRONT": 30_000})):
        for ch, m in f.sync.chosen.items():
            assert m.timestamp <= f.ref_time, (ch, m.timestamp, f.ref_time)
            assert f.sync.offsets_us[ch] == m.timestamp - f.ref_time <= 0
            # and it is the newest message of that channel that existed by then
            newer = [x for x in s.messages if x.channel == ch and m.timestamp < x.timestamp <= f.ref_time]
            if ch == "CAM_FRONT":  # delayed: a newer one may exist but not have arrived yet
                assert all(x.timestamp + 30_000 > f.ref_time for x in newer)
            else:
                assert newer == []
            assert by_token[m.token] == m


def test_trigger_time_arrivals_are_pushed_before_the_trigger() -> None:
    m = Message("LIDAR_TOP", T0, "l0", True, "", "lidar")
    events = schedule(apply_faults([m], FaultPlan()), [Trigger(T0, 0, m, "s0")])
    assert isinstance(events[-1], Trigger)
    framer = CausalFramer(["LIDAR_TOP"], SyncPolicy(mode="causal"))
    (frame,) = list(framer.run(events))
    assert frame.sync.chosen["LIDAR_TOP"] is m and frame.used == ("LIDAR_TOP",)


def test_dropped_sensor_is_reported_missing_and_frames_continue() -> None:
    s = _stream()
    frames = _frames(s, FaultPlan.parse(drops=["CAM_FRONT@1s-2s", "LIDAR_TOP@0.5s-1s"]))
    assert len(frames) == 60  # the frame clock does not depend on the (dropped) LiDAR
    for f in frames:
        rel = f.ref_time - T0
        if 1_100_000 <= rel < 2_000_000:  # past the camera tolerance (100 ms) after the drop starts
            assert "CAM_FRONT" in f.sync.missing and "stale" in f.sync.missing["CAM_FRONT"]
        if rel >= 2_100_000:
            assert "CAM_FRONT" in f.sync.chosen
        if 500_000 + 60_000 < rel < 1_000_000:
            assert "LIDAR_TOP" in f.sync.missing
        if rel < 500_000 or rel >= 1_000_000:
            assert f.sync.offsets_us["LIDAR_TOP"] == 0


def test_a_sensor_with_no_message_yet_is_absent() -> None:
    s = _stream()
    first = _frames(s, FaultPlan())[0]
    assert first.sync.missing["RADAR_FRONT"].startswith("absent")  # radar starts 31 ms after the first sweep
    assert "CAM_FRONT" in first.sync.missing


def test_delayed_sensor_becomes_stale() -> None:
    s = _stream()
    frames = _frames(s, FaultPlan.parse(delays=["RADAR_FRONT=200ms"]))
    late = [f for f in frames if f.ref_time - T0 > 400_000]
    assert late and all("RADAR_FRONT" in f.sync.missing for f in late)
    assert all("stale" in f.sync.missing["RADAR_FRONT"] for f in late)
