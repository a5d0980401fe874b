"""Message stream: ordering across sensors, fault-spec parsing, fault application, pacing."""

from __future__ import annotations

import pytest

from sensorfuse.errors import ConfigError
from sensorfuse.replay.stream import (
    Arrival,
    DropWindow,
    FaultPlan,
    Player,
    apply_faults,
    parse_duration_us,
    sort_messages,
)
from sensorfuse.sync.core import Message

T0 = 1_532_402_927_000_000


def _messages() -> list[Message]:
    """Interleaved LiDAR (20 Hz), camera (12 Hz) and radar (13 Hz) messages, deliberately unsorted."""
    msgs = []
    for ch, mod, period, n in (("LIDAR_TOP", "lidar", 50_000, 20), ("CAM_FRONT", "camera", 83_333, 12),
                               ("RADAR_FRONT", "radar", 76_923, 13)):  # fmt: skip
        for i in range(n):
            t = T0 + i * period + 7 * (ch == "RADAR_FRONT")
            msgs.append(Message(ch, t, f"{ch}{i}", i == 0, f"x/{ch}{i}", mod))
    msgs.reverse()
    return msgs


def test_messages_are_in_timestamp_order_across_sensors() -> None:
    msgs = sort_messages(_messages())
    assert len(msgs) == 45
    keys = [(m.timestamp, m.channel) for m in msgs]
    assert keys == sorted(keys)
    assert {m.channel for m in msgs} == {"LIDAR_TOP", "CAM_FRONT", "RADAR_FRONT"}
    # same timestamp (T0 for lidar and camera): ordered by channel name
    assert [m.channel for m in msgs[:2]] == ["CAM_FRONT", "LIDAR_TOP"]
    assert msgs[0].modality == "camera" and msgs[0].is_key_frame


@pytest.mark.parametrize(
    ("text", "us"),
    [("4s", 4_000_000), ("80ms", 80_000), ("1500us", 1500), ("2.5s", 2_500_000), ("0.5s", 500_000)],
)
def test_parse_duration(text: str, us: int) -> None:
    assert parse_duration_us(text, "x") == us


@pytest.mark.parametrize("spec", ["CAM_FRONT@4s", "CAM_FRONT@9s-4s", "CAM_FRONT@a-b", "@1s-2s"])
def test_bad_drop_specs_raise_clear_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="--drop"):
        DropWindow.parse(spec)


@pytest.mark.parametrize("spec", ["RADAR_FRONT", "RADAR_FRONT=fast", "=80ms"])
def test_bad_delay_specs_raise_clear_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="--delay"):
        FaultPlan.parse(delays=[spec])


def test_drop_window_and_delay_are_applied() -> None:
    msgs = sort_messages(_messages())
    plan = FaultPlan.parse(drops=["LIDAR_TOP@0.2s-0.5s", "CAM_FRONT"], delays=["RADAR_FRONT=80ms"])
    arrivals = apply_faults(msgs, plan)
    lidar = [a.message.timestamp - T0 for a in arrivals if a.message.channel == "LIDAR_TOP"]
    assert all(not (200_000 <= t < 500_000) for t in lidar)
    assert len(lidar) == 20 - 6
    assert not any(a.message.channel == "CAM_FRONT" for a in arrivals)
    for a in arrivals:
        delay = 80_000 if a.message.channel == "RADAR_FRONT" else 0
        assert a.arrival_us == a.message.timestamp + delay
    assert [a.arrival_us for a in arrivals] == sorted(a.arrival_us for a in arrivals)
    assert plan.describe()["delay_us"] == {"RADAR_FRONT": 80_000}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def _arrivals(times_us: list[int]) -> list[Arrival]:
    return [Arrival(t, Message("LIDAR_TOP", t, f"t{t}")) for t in times_us]


def test_player_paces_at_real_time_and_faster() -> None:
    arr = _arrivals([T0, T0 + 500_000, T0 + 1_500_000])
    clock = FakeClock()
    out = list(Player(arr, speed=1.0, clock=clock, sleep=clock.sleep))
    assert out == arr
    assert clock.now == pytest.approx(101.5)
    clock2 = FakeClock()
    list(Player(arr, speed=2.0, clock=clock2, sleep=clock2.sleep))
    assert clock2.now == pytest.approx(100.75)


def test_player_speed_zero_never_sleeps_and_negative_speed_is_rejected() -> None:
    clock = FakeClock()
    assert len(list(Player(_arrivals([T0, T0 + 10_000_000]), speed=0, clock=clock, sleep=clock.sleep))) == 2
    assert clock.slept == []
    with pytest.raises(ConfigError, match="--speed"):
        Player([], speed=-1)


def test_faults_on_a_sensor_the_recording_lacks_are_named() -> None:
    """Sensor names are the recording's (any rig): checked against its sensors before the replay starts."""
    plan = FaultPlan.parse(drops=["CAM_FRONTX@1s-2s"], delays=["RADAR_FRONT=80ms"])
    plan.check(["CAM_FRONTX", "RADAR_FRONT"], "drive.mcap")
    with pytest.raises(
        ConfigError, match=r"--drop: drive.mcap has no sensor 'CAM_FRONTX'; its sensors are CAM_FRONT"
    ):
        plan.check(["CAM_FRONT", "RADAR_FRONT"], "drive.mcap")
