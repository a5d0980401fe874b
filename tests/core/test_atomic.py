"""Atomic writes leave either the old content or the new, never a partial file or folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensorfuse.utils.atomic import atomic_dir, atomic_write_json


def test_atomic_write_json_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "r.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert [f.name for f in p.parent.iterdir()] == ["r.json"]


def test_atomic_write_failure_keeps_old_content(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    atomic_write_json(p, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(p, {"a": object()})  # not JSON-serialisable: fails before anything is written
    assert json.loads(p.read_text()) == {"a": 1}


def test_atomic_dir_success_and_failure(tmp_path: Path) -> None:
    final = tmp_path / "world"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("interrupted")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []  # the partial folder was removed
    with atomic_dir(final) as tmp:
        (tmp / "done.txt").write_text("x")
    assert (final / "done.txt").read_text() == "x"
    with pytest.raises(FileExistsError), atomic_dir(final):
        pass
    with atomic_dir(final, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("y")
    assert sorted(f.name for f in final.iterdir()) == ["new.txt"]


def test_atomic_write_uses_normal_file_permissions(tmp_path: Path) -> None:
    import os

    p = tmp_path / "r.json"
    atomic_write_json(p, {})
    mask = os.umask(0)
    os.umask(mask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~mask)


# -- class: interrupted generation (stale staging folders, the overwrite swap) ----------------------------------
def _folder(path: Path, nbytes: int = 1000) -> Path:
    path.mkdir()
    (path / "data.bin").write_bytes(b"x" * nbytes)
    return path


def test_stale_staging_of_dead_owner_is_removed_live_one_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """class: interrupted generation — the next run removes what killed runs left, never a live run's folder."""
    import fcntl
    import os

    final = _folder(tmp_path / "world")
    dead = _folder(tmp_path / ".world.partial.999999999.dead", 2_500_000)  # nobody holds its lock
    legacy = _folder(tmp_path / ".world.partial.k3j_x9ab")  # tempfile.mkdtemp name of older versions
    trash = _folder(tmp_path / ".world.old.4242")  # the overwrite's trash, its owner killed
    live = _folder(tmp_path / f".world.partial.{os.getpid()}.live")
    other = _folder(tmp_path / ".world.partial.partial.1.x")  # staging of a folder named "world.partial"
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a concurrent run holds this one
    try:
        with (
            caplog.at_level("WARNING", logger="sensorfuse.utils.atomic"),
            atomic_dir(final, overwrite=True) as tmp,
        ):
            assert tmp.name.startswith(f".world.partial.{os.getpid()}.")
            (tmp / "new.txt").write_text("y")
        assert not dead.exists() and not legacy.exists() and not trash.exists()
        assert live.exists() and other.exists()
        assert sorted(f.name for f in final.iterdir()) == ["new.txt"]
        assert f"removed the stale staging folder {dead}" in caplog.text and "freed 2.5 MB" in caplog.text
        assert str(trash) in caplog.text and str(live) not in caplog.text
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["world", live.name, other.name])


def test_concurrent_atomic_dir_keeps_the_other_runs_staging(tmp_path: Path) -> None:
    """class: interrupted generation — a second run on the same name does not take the first one's folder."""
    final = tmp_path / "world"
    with atomic_dir(final, overwrite=True) as first:
        (first / "a.txt").write_text("a")
        with atomic_dir(final, overwrite=True) as second:
            (second / "b.txt").write_text("b")
        assert (first / "a.txt").exists()
    assert sorted(f.name for f in final.iterdir()) == ["a.txt"]  # the last to finish wins, whole
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def test_swap_killed_between_renames_is_recovered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """class: interrupted generation — killed between "final → trash" and "staging → final", the next run puts
    the previous version back instead of deleting it."""
    from sensorfuse.utils.atomic import clean_stale

    previous = _folder(tmp_path / ".world.old.999999999.abcd1234")
    staged = _folder(tmp_path / ".world.partial.999999999.abcd1234")
    with caplog.at_level("WARNING", logger="sensorfuse.utils.atomic"):
        removed = clean_stale(tmp_path / "world")
    assert removed == [staged]
    assert (tmp_path / "world" / "data.bin").stat().st_size == 1000 and not previous.exists()
    assert "restored the previous version" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def test_overwrite_without_renameat2_falls_back_to_two_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """class: interrupted generation — where the OS cannot exchange two names, the two-rename swap still
    publishes whole and leaves no trash; a failing second rename puts the previous version back."""
    import os

    from sensorfuse.utils import atomic

    monkeypatch.setattr(atomic, "_renameat2", lambda src, dst, flags: False)
    final = tmp_path / "world"
    with atomic_dir(final) as tmp:
        (tmp / "v1.txt").write_text("1")
    with atomic_dir(final, overwrite=True) as tmp:
        (tmp / "v2.txt").write_text("2")
    assert [f.name for f in final.iterdir()] == ["v2.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["world"]

    real_rename = os.rename

    def second_rename_fails(src: str | Path, dst: str | Path) -> None:
        if Path(src).name.startswith(".world.partial."):
            raise KeyboardInterrupt  # Ctrl-C between the two renames
        real_rename(src, dst)

    monkeypatch.setattr(atomic.os, "rename", second_rename_fails)
    with pytest.raises(KeyboardInterrupt), atomic_dir(final, overwrite=True) as tmp:
        (tmp / "v3.txt").write_text("3")
    assert [f.name for f in final.iterdir()] == ["v2.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def test_existing_output_is_refused_before_the_work(tmp_path: Path) -> None:
    """class: interrupted generation — without overwrite the refusal comes first, not after the work."""
    (tmp_path / "world").mkdir()
    ran = False
    with pytest.raises(FileExistsError, match="already exists"), atomic_dir(tmp_path / "world"):
        ran = True
    assert not ran and [p.name for p in tmp_path.iterdir()] == ["world"]
