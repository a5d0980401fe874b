"""class: interrupted generation — `sensorfuse synth` killed or Ctrl-C'd mid-run leaves no live worker, no
traceback and no staging folder that lasts (the next run removes a killed run's folder and succeeds).

The runs are real `python -m sensorfuse synth` processes with 2 spawned workers; the children are found in
/proc by their parent PID, taken while the parent lives (a killed parent's children are re-parented).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: two scenes on two workers: long enough to be interrupted (about 10 s of work), small enough to rerun fast
LONG = ["--scenes", "2", "--workers", "2", "--scene-seconds", "8", "--image-size", "64x36", "--no-progress"]
SHORT = ["--scenes", "2", "--workers", "2", "--scene-seconds", "1", "--image-size", "64x36", "--no-progress"]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _children(pid: int) -> dict[int, int]:
    """The live children of ``pid``: {child pid: its start time} (the start time guards against PID reuse)."""
    kids = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None and st[1] == pid and st[0] != "Z":
            kids[int(entry)] = st[2]
    return kids


def _alive(kids: dict[int, int]) -> dict[int, str]:
    """Those of ``kids`` still running (a zombie is dead): {pid: command line}."""
    out = {}
    for pid, start in kids.items():
        st = _stat(pid)
        if st is not None and st[2] == start and st[0] != "Z":
            out[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return out


def _start(out: Path, logs: Path, args: list[str]) -> subprocess.Popen[bytes]:
    with (logs / "stdout").open("wb") as so, (logs / "stderr").open("wb") as se:  # files, not pipes: a
        # surviving worker would hold a pipe open forever
        return subprocess.Popen(
            [sys.executable, "-m", "sensorfuse", "synth", "--out", str(out), *args],
            cwd=REPO, stdout=so, stderr=se, start_new_session=True,
        )  # fmt: skip


def _staging(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.partial.*"))


def _wait_mid_run(proc: subprocess.Popen[bytes], out: Path, logs: Path) -> dict[int, int]:
    """Wait until both workers run and write scene files into the staging folder; returns the children."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (
            f"synth ended before it could be interrupted:\n{(logs / 'stderr').read_text()}"
        )
        kids = _children(proc.pid)
        workers = [p for p, cmd in _alive(kids).items() if "spawn_main" in cmd]
        if len(workers) >= 2 and any(p.is_file() for s in _staging(out) for p in (s / "samples").rglob("*")):
            return kids
        time.sleep(0.05)
    raise AssertionError("synth did not start its workers within 60 s")


def _wait_gone(kids: dict[int, int], seconds: float = 5.0) -> dict[int, str]:
    deadline = time.monotonic() + seconds
    while (alive := _alive(kids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _kill_leftovers(kids: dict[int, int]) -> None:
    """Do not leave a regression's stuck workers behind (only the processes this test started)."""
    for pid in _alive(kids):
        os.kill(pid, signal.SIGKILL)


def test_sigkill_kills_the_workers_and_the_next_run_removes_the_staging_folder(tmp_path: Path) -> None:
    """class: interrupted generation — SIGKILL of the parent: its workers die with it (none stays stuck on a
    pipe), and the next run finds the killed run's staging folder, removes it, says so, and succeeds."""
    out = tmp_path / "w"
    proc = _start(out, tmp_path, LONG)
    kids: dict[int, int] = {}
    try:
        kids = _wait_mid_run(proc, out, tmp_path)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        survivors = _wait_gone(kids)
        assert not survivors, f"workers outlived their SIGKILLed parent: {survivors}"
    finally:
        _kill_leftovers(kids)
        proc.kill()
        proc.wait()
    stale = _staging(out)
    assert len(stale) == 1 and not out.exists()  # what a killed run leaves (all it may leave)

    rerun = subprocess.run(
        [sys.executable, "-m", "sensorfuse", "synth", "--out", str(out), *SHORT],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert f"removed the stale staging folder {stale[0]}" in rerun.stderr and "freed" in rerun.stderr
    assert _staging(out) == [] and (out / "v1.0-mini" / "sample.json").is_file()


def _interrupt(tmp_path: Path, send: Callable[[int], None]) -> tuple[Path, int, str, dict[int, str]]:
    """Start a long synth run, ``send`` it a signal mid-run; (out, exit code, stderr, surviving workers)."""
    out = tmp_path / "w"
    proc = _start(out, tmp_path, LONG)
    kids: dict[int, int] = {}
    try:
        kids = _wait_mid_run(proc, out, tmp_path)
        send(proc.pid)
        rc = proc.wait(timeout=60)
        survivors = _wait_gone(kids)
    finally:
        _kill_leftovers(kids)
        proc.kill()
        proc.wait()
    return out, rc, (tmp_path / "stderr").read_text(), survivors


def test_ctrl_c_stops_cleanly_with_exit_130(tmp_path: Path) -> None:
    """class: interrupted generation — Ctrl-C (SIGINT to the whole process group, as a terminal sends it):
    exit code 130, one line saying nothing was written, no traceback, no worker left, no staging folder."""
    out, rc, err, survivors = _interrupt(tmp_path, lambda pid: os.killpg(pid, signal.SIGINT))
    assert rc == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines() == [f"sensorfuse synth: interrupted: nothing written to {out}"], err
    assert not survivors, f"workers outlived the interrupted run: {survivors}"
    assert _staging(out) == [] and not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_sigterm_stops_cleanly_with_exit_143(tmp_path: Path) -> None:
    """class: interrupted generation — SIGTERM to the parent alone (what a scheduler or `kill` sends): the
    staging folder is removed on the way out, the workers die, exit code 143, no traceback."""
    out, rc, err, survivors = _interrupt(tmp_path, lambda pid: os.kill(pid, signal.SIGTERM))
    assert rc == 143, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "sensorfuse synth: terminated (SIGTERM)", err
    assert not survivors, f"workers outlived the terminated run: {survivors}"
    assert _staging(out) == [] and not out.exists()
