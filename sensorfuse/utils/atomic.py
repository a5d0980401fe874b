"""Atomic writes: a reader never sees a half-written file or directory.

Files are written to a temporary sibling and ``os.replace``d into place. Directories are built in a staging
sibling ``.NAME.partial.PID.RANDOM`` and published whole (see :func:`atomic_dir`): a folder holds one complete
version, the new one or the previous one.

Interrupted runs leave no litter that lasts: while its owner lives a staging folder is locked (``flock`` on the
folder itself, released by the kernel when the owner dies, however it dies), so the next :func:`atomic_dir`
on the same name can tell a stale staging folder from one that a concurrent run is still filling, and removes
only the stale ones. The lock, not the PID in the name, decides (PIDs are reused); the PID is there for people
reading ``ls -a``, and decides only on file systems without ``flock``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = None) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent))


@contextlib.contextmanager
def atomic_dir(final: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory in a staging sibling; publish it as ``final`` only when the block succeeds.

    Yields the staging path to write into. On an exception (Ctrl-C included) the staging folder is removed
    and ``final`` is left untouched. With ``overwrite`` an existing ``final`` is replaced in one step where
    the OS can exchange two names (``renameat2(RENAME_EXCHANGE)`` on Linux), elsewhere by two renames that
    the next run undoes if it was killed in between (see :func:`clean_stale`). Stale staging folders of
    ``final`` left by killed runs are removed first, and without ``overwrite`` an existing ``final`` is
    refused before the work starts.

    Raises:
        FileExistsError: ``final`` exists and ``overwrite`` is false.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(final)
    if not overwrite and os.path.lexists(final):
        raise FileExistsError(f"{final}: already exists (pass overwrite=True to replace it)")
    tmp, lock = _make_staging(final)
    try:
        yield tmp
        _publish(tmp, final, overwrite)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        os.close(lock)


def clean_stale(final: str | Path) -> list[Path]:
    """Remove the staging and trash folders of ``final`` whose owner is gone; returns what was removed.

    Staging folders ``.NAME.partial.*`` and trash folders ``.NAME.old.*`` (the previous version during an
    overwrite) of dead owners are deleted, and each removal is logged with the space it freed. A trash
    folder while ``final`` is missing means that a run died between the two renames of an overwrite: it is
    the last complete version, so it is renamed back to ``final`` instead. Folders whose owner is alive (a
    concurrent run) are never touched.
    """
    final = Path(final)
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(partial|old)\.(?:(\d+)\.)?[A-Za-z0-9_]+$")
    try:
        entries = sorted(os.listdir(final.parent))
    except OSError:  # no such folder (yet), or not one: nothing stale there
        return []
    removed = []
    for entry in entries:
        m = pattern.match(entry)
        if m is None:
            continue
        path, kind = final.parent / entry, m.group(1)
        pid = int(m.group(2)) if m.group(2) else None
        owner = f"pid {pid}" if pid is not None else "a run of an older sensorfuse"
        with _claim(path, pid) as stale:
            if not stale:
                continue
            if kind == "old" and not os.path.lexists(final):
                _restore(path, final, owner)
                continue
            size = _tree_size(path)
            _remove(path)
        if os.path.lexists(path):
            log.warning("could not remove the stale folder %s (its owner, %s, is gone)", path, owner)
            continue
        removed.append(path)
        log.warning(
            "removed the stale %s folder %s (its owner, %s, is gone): freed %s",
            "staging" if kind == "partial" else "trash", path, owner,
            f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB",
        )  # fmt: skip
    return removed


def _restore(trash: Path, final: Path, owner: str) -> None:
    """Rename the trash folder of a swap that died half-way back to ``final`` (unless ``final`` reappeared)."""
    try:
        if not _renameat2(trash, final, _RENAME_NOREPLACE):
            os.rename(trash, final)
    except OSError as e:  # final was created meanwhile: the trash is removed by a later run
        log.warning("%s: could not restore the previous version from %s (%s)", final, trash, e)
        return
    log.warning(
        "%s: restored the previous version from %s (the run replacing it, %s, died mid-swap)",
        final, trash.name, owner,
    )  # fmt: skip


# -- locks: a folder is in use while its owner holds an flock on it ---------------------------------------------
def _try_lock(fd: int) -> bool | None:
    """Take the exclusive lock of an open file without waiting: True taken, False held elsewhere, None when
    this file system has no ``flock``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


@contextlib.contextmanager
def _claim(path: Path, pid: int | None) -> Iterator[bool]:
    """True (holding the folder's lock meanwhile) when the owner of ``path`` is gone, False when it lives or
    the folder vanished. Without ``flock`` the PID from the name decides; a folder without one is kept."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # removed meanwhile by a concurrent run, or not ours to open
        yield False
        return
    try:
        taken = _try_lock(fd)
        yield taken if taken is not None else pid is not None and not _pid_alive(pid)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _make_staging(final: Path) -> tuple[Path, int]:
    """Create and lock a fresh staging folder ``.NAME.partial.PID.RANDOM``; returns it and its lock fd.

    A concurrent :func:`clean_stale` may take the lock of a folder created a moment before its owner locks
    it, and remove it: then the owner's lock fails or the folder is gone, and the owner tries another name.
    """
    for _ in range(100):
        tmp = final.with_name(f".{final.name}.partial.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            tmp.mkdir()
            fd = os.open(tmp, os.O_RDONLY)
        except (FileExistsError, FileNotFoundError):
            continue
        try:
            if _try_lock(fd) is not False and os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return tmp, fd
        except FileNotFoundError:
            pass
        os.close(fd)
    raise OSError(f"{final.parent}: could not create a staging folder for {final.name}")


# -- publishing -------------------------------------------------------------------------------------------------
def _publish(tmp: Path, final: Path, overwrite: bool) -> None:
    """Rename the finished staging folder to ``final``; with ``overwrite``, replace and delete the old one."""
    try:
        if _renameat2(tmp, final, _RENAME_NOREPLACE):
            return
    except FileExistsError:
        if not overwrite:
            raise FileExistsError(f"{final}: already exists (pass overwrite=True to replace it)") from None
    else:  # no renameat2 here
        if not os.path.lexists(final):
            os.rename(tmp, final)
            return
        if not overwrite:
            raise FileExistsError(f"{final}: already exists (pass overwrite=True to replace it)")
    # The version being replaced stays locked until it is deleted, so that a concurrent clean_stale leaves it
    # alone (and does not take a trash folder in the middle of the two-rename swap for a dead swap's leftover).
    fd = os.open(final, os.O_RDONLY)
    try:
        _try_lock(fd)
        if _renameat2(tmp, final, _RENAME_EXCHANGE):
            _remove(tmp)  # the staging name now holds the previous version
        else:
            _remove(_swap_by_two_renames(tmp, final))
    finally:
        os.close(fd)


def _swap_by_two_renames(tmp: Path, final: Path) -> Path:
    """``final`` → trash ``.NAME.old.PID.RANDOM``, ``tmp`` → ``final``; returns the trash folder.

    Killed between the two renames, the trash folder is the last complete version and the next run's
    :func:`clean_stale` renames it back to ``final``; interrupted by an exception, it is renamed back here.
    """
    trash = final.with_name(f".{final.name}.old.{os.getpid()}.{secrets.token_hex(4)}")
    os.rename(final, trash)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(trash, final)
        raise
    return trash


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


@functools.cache
def _libc_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc without renameat2 (glibc < 2.28)
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Linux ``renameat2(src, dst, flags)``: True done, False where the OS or file system lacks it.

    Raises:
        FileExistsError: with ``RENAME_NOREPLACE``, ``dst`` exists.
    """
    fn = _libc_renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):  # old kernel, or a file system without it
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 for what cannot be read)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def check_replaceable(out: Path, allowed: Collection[str], what: str) -> None:
    """``out`` may be replaced as a whole by ``what`` (e.g. "an evaluation"): absent, or a folder holding only
    ``allowed`` names.

    Raises:
        ConfigError: ``out`` is a file, or holds other files (a run folder with checkpoints, say), named.
    """
    from sensorfuse.errors import ConfigError

    if os.path.lexists(out) and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; expected a folder for {what}")
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in allowed)
        if others:
            raise ConfigError(
                f"--out {out}: holds files that are not part of {what} ({', '.join(others[:5])}); it replaces "
                "the folder as a whole: choose an empty or new folder, or the folder of an earlier one"
            )
