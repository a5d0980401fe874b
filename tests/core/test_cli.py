"""The command line: every subcommand is wired, and bad input is a one-line error with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorfuse.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "usage: sensorfuse" in capsys.readouterr().out


def test_bad_parameter_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["synth", "--out", str(tmp_path / "w"), "--scenes", "0"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "sensorfuse synth: error:" in err and "scenes" in err
    assert "Traceback" not in err
    assert not (tmp_path / "w").exists()


def test_wrong_dataroot_names_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["sync-report", "--dataroot", str(tmp_path / "nope"), "--version", "v1.0-mini"])
    err = capsys.readouterr().err
    assert rc == 2 and str(tmp_path / "nope") in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "synth" in capsys.readouterr().out
