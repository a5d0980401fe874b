"""class: tracebacks where a sentence belongs — `--delay` / `--drop` durations need a unit (a bare `80` was
taken as 80 s); a missing unit is a one-line ConfigError naming the option, the value and the accepted units."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorfuse.errors import ConfigError
from sensorfuse.replay.stream import FaultPlan


@pytest.mark.parametrize(
    ("spec", "us"),
    [("RADAR_FRONT=80ms", 80_000), ("RADAR_FRONT=0.08s", 80_000), ("RADAR_FRONT=80000us", 80_000),
     ("RADAR_FRONT = 80 ms", 80_000), ("RADAR_FRONT=80µs", 80)],
)  # fmt: skip
def test_delay_with_a_unit(spec: str, us: int) -> None:
    assert FaultPlan.parse(delays=[spec]).delays_us == {"RADAR_FRONT": us}


@pytest.mark.parametrize("amount", ["80", "2.5", " 80 "])
def test_delay_without_unit_names_option_value_and_units(amount: str) -> None:
    """class: tracebacks where a sentence belongs — `--delay RADAR_FRONT=80` was silently 80 seconds."""
    spec = f"RADAR_FRONT={amount}"
    with pytest.raises(ConfigError) as e:
        FaultPlan.parse(delays=[spec])
    msg = str(e.value)
    assert msg.startswith(f"--delay {spec!r}:")
    assert f"{amount.strip()!r} has no unit" in msg and "us, ms or s" in msg


@pytest.mark.parametrize(
    ("spec", "bad"), [("CAM_FRONT@4-9s", "4"), ("CAM_FRONT@4s-9", "9"), ("CAM_FRONT@1.5-", "1.5")]
)
def test_drop_window_without_unit_names_option_value_and_units(spec: str, bad: str) -> None:
    """class: tracebacks where a sentence belongs — `--drop` window times need a unit too."""
    with pytest.raises(ConfigError) as e:
        FaultPlan.parse(drops=[spec])
    msg = str(e.value)
    assert msg.startswith(f"--drop {spec!r}")
    assert f"{bad!r} has no unit" in msg and "us, ms or s" in msg


def test_drop_window_with_units() -> None:
    (w,) = FaultPlan.parse(drops=["CAM_FRONT@500ms-2s"]).drops
    assert (w.channel, w.start_us, w.end_us) == ("CAM_FRONT", 500_000, 2_000_000)


def test_cli_delay_without_unit_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """class: tracebacks where a sentence belongs — on the real command path: exit 2, one sentence, no
    traceback, nothing written (the faults are read before the dataset)."""
    from sensorfuse.cli import main

    out = tmp_path / "out"
    rc = main(["replay", "--dataroot", str(tmp_path / "nowhere"), "--scene", "scene-0103", "--out", str(out),
               "--no-model", "--delay", "RADAR_FRONT=80"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert err.strip() == (
        "sensorfuse replay: error: --delay 'RADAR_FRONT=80': duration '80' has no unit; expected a number "
        "with a unit, us, ms or s (e.g. 80ms)"
    )
    assert not out.exists()
