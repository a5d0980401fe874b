"""Tables as columns of numpy arrays in a folder of ``.npy`` files, memory-mapped read-only, looked up by token.

The storage behind :class:`~sensorfuse.sources.nuscenes.index.NuScenesIndex` (layout and the reasons for it in
``docs/scale.md``). Every table is a set of columns ``<table>.<column>.npy`` with one row per record:

* the key column ``<table>.token`` holds the keys (tokens, or scene names) as fixed-width UTF-8 bytes,
  **sorted**, so that a lookup is one binary search (``ndarray.searchsorted``, a few µs on 2.6M keys);
  ``<table>.token.order`` lists the rows in table-file order (iteration keeps the order of the JSON file);
* a reference to another table is an integer code (:func:`encode_refs`): the target row, ``-1`` for ``""``,
  and ``len(target) + k`` for a token that names no record, kept verbatim in ``<column>.extra``;
* strings are one UTF-8 buffer ``<column>.bytes`` with offsets ``<column>.off``; small vocabularies (channels,
  categories) are integer codes into a list in ``meta.json``;
* a list per record (a sample's annotations) is CSR: values ``<column>`` and offsets ``<column>.off``.

Opened with ``np.load(mmap_mode="r")`` the arrays are views of the page cache: opening costs milliseconds
whatever the size, no process copies them, and reading them writes nothing (no reference counts), so forked
DataLoader workers and torchrun ranks share one copy. Never pickle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView
from pathlib import Path
from typing import Any

import numpy as np

from sensorfuse.utils.atomic import atomic_dir

log = logging.getLogger(__name__)
META = "meta.json"


def encode(text: str) -> bytes:
    """UTF-8, lone surrogates kept (JSON allows them), so that :func:`decode` gives the string back."""
    return text.encode("utf-8", "surrogatepass")


def decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def smallest_int(values: Sequence[int] | np.ndarray) -> np.ndarray:
    """``values`` as int32 when they fit, else int64."""
    a = np.asarray(values, dtype=np.int64)
    if a.size == 0 or (a.min() >= np.iinfo(np.int32).min and a.max() <= np.iinfo(np.int32).max):
        return a.astype(np.int32)
    return a


# -- keys ----------------------------------------------------------------------------------------------------
def as_bytes(values: Sequence[str], width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(bytes array, byte lengths)``: the values as fixed-width UTF-8 (``width``: the longest by default);
    a value longer than ``width`` is cut (its length says so). ASCII columns (tokens, file names) are
    converted by numpy in C; others value by value."""
    joined = "".join(values)
    if joined.isascii():
        lens = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        arr = np.array(values, dtype=f"S{width or int(lens.max(initial=0)) or 1}")
        return arr.reshape(len(values)), lens
    raw = [encode(v) for v in values]
    lens = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
    return np.array(raw, dtype=f"S{width or int(lens.max(initial=0)) or 1}").reshape(len(raw)), lens


def sort_keys(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted keys as fixed-width bytes, rank)`` where ``rank[i]`` is the sorted row of ``keys[i]``.

    Raises:
        ValueError: a key holds a NUL character (fixed-width bytes cannot keep it) or keys repeat.
    """
    if "\0" in "".join(keys):
        raise ValueError(f"key {next(k for k in keys if chr(0) in k)!r} holds a NUL character")
    arr, _ = as_bytes(keys)
    order = np.argsort(arr, kind="stable")
    arr = arr[order]
    if len(arr) > 1 and (arr[1:] == arr[:-1]).any():
        raise ValueError(f"key {decode(arr[1:][arr[1:] == arr[:-1]][0])!r} repeats")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return arr, rank


class Keys:
    """A sorted key column: key → row by binary search, row → key."""

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = keys
        self.width = keys.dtype.itemsize

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, key: object) -> int:
        """The row of ``key``, or -1."""
        if not isinstance(key, str):
            return -1
        raw = encode(key)
        if len(raw) > self.width or b"\0" in raw:  # a longer key would make numpy cast the whole column
            return -1
        i = int(self.keys.searchsorted(raw))
        return i if i < len(self.keys) and self.keys.item(i) == raw else -1

    def rows(self, keys: Sequence[str]) -> np.ndarray:
        """The rows of many keys (-1 for those absent), vectorised."""
        rows = np.full(len(keys), -1, dtype=np.int64)
        if not len(keys) or not len(self.keys):
            return rows
        q, lens = as_bytes(keys, self.width)
        ok = lens <= self.width  # a longer key is not a key here (and was cut)
        if "\0" in "".join(keys):
            ok &= np.array(["\0" not in k for k in keys], dtype=bool)
        i = np.minimum(self.keys.searchsorted(q), len(self.keys) - 1)
        rows[ok] = np.where(self.keys[i] == q, i, -1)[ok]
        return rows

    def __getitem__(self, row: int) -> str:
        return decode(self.keys.item(row))


# -- references, strings, lists -------------------------------------------------------------------------------
def encode_refs(tokens: Sequence[str], target: Keys) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, extra)``: per token its row in ``target``, -1 for ``""``, ``len(target) + k`` for ``extra[k]``
    (a token that names no record, kept so that the record reads back exactly).

    Raises:
        ValueError: a token that names no record holds a NUL character.
    """
    rows = target.rows(tokens)
    empty = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens)) == 0
    missing = np.flatnonzero((rows < 0) & ~empty)
    extra = sorted({tokens[i] for i in missing})
    if "\0" in "".join(extra):
        raise ValueError(f"token {next(t for t in extra if chr(0) in t)!r} holds a NUL character")
    ids = {t: len(target) + k for k, t in enumerate(extra)}
    for i in missing:
        rows[i] = ids[tokens[i]]
    rows[empty] = -1
    return smallest_int(rows), as_bytes(extra)[0]


def ref_token(code: int, target: Keys, extra: np.ndarray) -> str:
    """The token of a reference code (see :func:`encode_refs`)."""
    if code < 0:
        return ""
    return target[code] if code < len(target) else decode(extra[code - len(target)])


def encode_strings(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(bytes, off)``: the UTF-8 of every value in one buffer; value ``i`` is ``bytes[off[i]:off[i+1]]``."""
    joined = "".join(values)
    if joined.isascii():
        data, lens = joined.encode("ascii"), map(len, values)
    else:
        raw = [encode(v) for v in values]
        data, lens = b"".join(raw), map(len, raw)
    off = np.zeros(len(values) + 1, dtype=np.int64)
    off[1:] = np.cumsum(np.fromiter(lens, dtype=np.int64, count=len(values)))
    return np.frombuffer(data, dtype=np.uint8), off


def string_at(buf: np.ndarray, off: np.ndarray, i: int) -> str:
    return decode(buf[off.item(i) : off.item(i + 1)].tobytes())


def encode_lists(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(values, off)`` of integer lists; list ``i`` is ``values[off[i]:off[i+1]]``."""
    off = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(v) for v in lists], out=off[1:])
    values = np.fromiter((x for v in lists for x in v), dtype=np.int64, count=int(off[-1]))
    return smallest_int(values), off


# -- a table as a read-only mapping ---------------------------------------------------------------------------
class RecordView(Mapping[str, dict[str, Any]]):
    """``key → record dict`` of one table, each record built on access from the columns (a new dict each time:
    changing it changes nothing). Iteration follows the table file; ``in`` and ``get`` build no record."""

    def __init__(self, keys: Keys, order: np.ndarray, record: Callable[[int], dict[str, Any]]) -> None:
        self._keys, self._order, self.record = keys, order, record

    def __getitem__(self, key: str) -> dict[str, Any]:
        row = self._keys.row(key)
        if row < 0:
            raise KeyError(key)
        return self.record(row)

    def __contains__(self, key: object) -> bool:
        return self._keys.row(key) >= 0

    def __iter__(self) -> Iterator[str]:
        return (self._keys[int(r)] for r in self._order)

    def __len__(self) -> int:
        return len(self._keys)

    def row(self, key: str) -> int:
        """The row of ``key`` (-1 when absent), for callers that read the columns themselves."""
        return self._keys.row(key)

    def items(self) -> ItemsView[str, dict[str, Any]]:
        return _Items(self)

    def values(self) -> ValuesView[dict[str, Any]]:
        return _Values(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self)} records>"


class _Items(ItemsView[str, dict[str, Any]]):
    _mapping: RecordView

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        m = self._mapping
        return ((m._keys[int(r)], m.record(int(r))) for r in m._order)


class _Values(ValuesView[dict[str, Any]]):
    _mapping: RecordView

    def __iter__(self) -> Iterator[dict[str, Any]]:
        m = self._mapping
        return (m.record(int(r)) for r in m._order)


# -- the folder ------------------------------------------------------------------------------------------------
def save(folder: Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write ``<name>.npy`` per array and ``meta.json`` (with every array's dtype and shape) into ``folder``,
    published whole (:func:`~sensorfuse.utils.atomic.atomic_dir`): a reader sees the old folder or the new one."""
    with atomic_dir(folder, overwrite=True) as tmp:
        for name, a in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(a), allow_pickle=False)
        shapes = {name: [a.dtype.str, list(a.shape)] for name, a in arrays.items()}
        (tmp / META).write_text(json.dumps({**meta, "arrays": shapes}))


def open_arrays(folder: Path, shapes: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Memory-map the arrays that ``meta.json`` lists (read-only), checked against their dtype and shape.

    Raises:
        ValueError: an array is missing, unreadable, or not the dtype/shape ``meta.json`` says.
    """
    out = {}
    for name, spec in shapes.items():
        path = folder / f"{name}.npy"
        try:
            a = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise ValueError(f"{path.name}: {e}") from e
        if not isinstance(spec, list) or len(spec) != 2 or [a.dtype.str, list(a.shape)] != spec:
            raise ValueError(f"{path.name}: {a.dtype.str} {list(a.shape)}, meta.json says {spec}")
        out[name] = a.view(
            np.ndarray
        )  # a plain array over the same mapping: indexing without memmap's overhead
    return out


def size_on_disk(folder: Path) -> int:
    """Bytes of the files in ``folder``."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
