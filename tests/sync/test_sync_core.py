"""sensorfuse.sync.core: nearest / causal picks, tolerances, missing sensors, the online buffer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorfuse.errors import ConfigError, DataError
from sensorfuse.sync.core import CausalSyncBuffer, Message, SyncPolicy, synchronize


def stream(channel: str, times: list[int], modality: str = "camera") -> list[Message]:
    return [Message(channel, t, f"{channel}-{t}", False, "", modality) for t in times]


def test_nearest_picks_closest_and_reports_offset() -> None:
    s = {"CAM_FRONT": stream("CAM_FRONT", [0, 83_000, 166_000])}
    r = synchronize(100_000, s, SyncPolicy(mode="nearest"))
    assert r.chosen["CAM_FRONT"].timestamp == 83_000
    assert r.offsets_us["CAM_FRONT"] == -17_000
    r = synchronize(140_000, s, SyncPolicy(mode="nearest"))
    assert r.chosen["CAM_FRONT"].timestamp == 166_000
    assert r.offsets_us["CAM_FRONT"] == 26_000
    assert r.complete


def test_nearest_tie_goes_to_the_earlier_message() -> None:
    r = synchronize(50, {"X": stream("X", [0, 100])}, SyncPolicy(default_tolerance_us=1000, tolerance_us={}))
    assert r.chosen["X"].timestamp == 0


def test_causal_never_returns_future_message() -> None:
    s = {"CAM_FRONT": stream("CAM_FRONT", [0, 83_000, 166_000])}
    r = synchronize(160_000, s, SyncPolicy(mode="causal"))
    assert r.chosen["CAM_FRONT"].timestamp == 83_000
    assert r.offsets_us["CAM_FRONT"] == -77_000
    r = synchronize(166_000, s, SyncPolicy(mode="causal"))
    assert r.chosen["CAM_FRONT"].timestamp == 166_000


def test_stale_and_absent_sensors_are_missing_not_used() -> None:
    streams = {
        "CAM_FRONT": stream("CAM_FRONT", [0]),
        "RADAR_FRONT": stream("RADAR_FRONT", [], "radar"),
        "LIDAR_TOP": stream("LIDAR_TOP", [1_000_000], "lidar"),
    }
    r = synchronize(1_000_000, streams, SyncPolicy(mode="causal"))
    assert set(r.chosen) == {"LIDAR_TOP"}
    assert r.missing["CAM_FRONT"].startswith("stale")
    assert "1000000" in r.missing["CAM_FRONT"].replace("-", "")
    assert r.missing["RADAR_FRONT"].startswith("absent")
    assert not r.complete
    # causal: a message only in the future is absent, not used
    r = synchronize(10, {"CAM_FRONT": stream("CAM_FRONT", [20])}, SyncPolicy(mode="causal"))
    assert "CAM_FRONT" not in r.chosen and r.missing["CAM_FRONT"].startswith("absent")


def test_tolerance_lookup_channel_then_modality_then_default() -> None:
    p = SyncPolicy(tolerance_us={"CAM_FRONT": 5, "camera": 50}, default_tolerance_us=500)
    assert p.tolerance_for("CAM_FRONT", "camera") == 5
    assert p.tolerance_for("CAM_BACK", "camera") == 50
    assert p.tolerance_for("RADAR_FRONT", "radar") == 500
    streams = {"CAM_FRONT": stream("CAM_FRONT", [10]), "CAM_BACK": stream("CAM_BACK", [10])}
    r = synchronize(0, streams, p)
    assert "CAM_FRONT" in r.missing and "CAM_BACK" in r.chosen


def test_policy_validation() -> None:
    with pytest.raises(ConfigError, match="mode"):
        SyncPolicy(mode="latest")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tolerance"):
        SyncPolicy(tolerance_us={"camera": -1})


def test_unsorted_stream_is_an_error_naming_the_token() -> None:
    with pytest.raises(DataError, match=r"CAM_FRONT-50.*non-decreasing"):
        synchronize(0, {"CAM_FRONT": stream("CAM_FRONT", [100, 50])}, SyncPolicy())


def test_causal_buffer_out_of_order_push_and_staleness() -> None:
    buf = CausalSyncBuffer(["LIDAR_TOP", "CAM_FRONT"], SyncPolicy(mode="nearest"), capacity=3)
    for m in stream("LIDAR_TOP", [0, 50_000, 100_000], "lidar"):
        buf.push(m)
    buf.push(Message("CAM_FRONT", 90_000, "c2", modality="camera"))
    buf.push(Message("CAM_FRONT", 10_000, "c1", modality="camera"))  # late arrival
    assert buf.out_of_order == 1
    r = buf.assemble(95_000)  # buffer is causal even with a nearest policy
    assert r.chosen["LIDAR_TOP"].timestamp == 50_000
    assert r.chosen["CAM_FRONT"].token == "c2"
    r = buf.assemble(500_000)
    assert r.missing["LIDAR_TOP"].startswith("stale") and r.missing["CAM_FRONT"].startswith("stale")
    buf.push(Message("LIDAR_TOP", 150_000, "l4", modality="lidar"))
    assert buf.latest("LIDAR_TOP") is not None and len(buf._times["LIDAR_TOP"]) == 3
    with pytest.raises(DataError, match="RADAR_FRONT"):
        buf.push(Message("RADAR_FRONT", 0, "r", modality="radar"))


@given(
    times=st.lists(st.integers(0, 10_000), min_size=1, max_size=30).map(sorted),
    ref=st.integers(-100, 10_100),
    mode=st.sampled_from(["nearest", "causal"]),
)
def test_pick_matches_brute_force(times: list[int], ref: int, mode: str) -> None:
    policy = SyncPolicy(mode=mode, tolerance_us={}, default_tolerance_us=20_000)  # type: ignore[arg-type]
    r = synchronize(ref, {"X": stream("X", times)}, policy)
    if mode == "causal":
        past = [t for t in times if t <= ref]
        expect = max(past) if past else None
    else:
        expect = min(times, key=lambda t: (abs(t - ref), t))
    if expect is None:
        assert "X" in r.missing
    else:
        assert r.chosen["X"].timestamp == expect
        assert r.offsets_us["X"] == expect - ref
        if mode == "causal":
            assert r.chosen["X"].timestamp <= ref
