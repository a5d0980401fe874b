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

Opening costs milliseconds whatever the size: nothing is parsed. Each column is reachable two ways, both
over the page cache (one copy on the machine, never copied by a process, nothing written to it, so forked
DataLoader workers and torchrun ranks share it):

* whole, as an array memory-mapped read-only (``np.load(mmap_mode="r")``), for vectorised readers (a scene's
  sample_data, the evaluation checks of a split);
* value by value, as a :class:`FileColumn` that reads the bytes of one value or one slice with ``os.pread``:
  how records are built. A process that only builds records (a DataLoader worker) maps no page of the index,
  so its resident memory does not grow with what it reads, where a mapping counts every page it touched
  (up to the whole index over a pass; ``docs/scale.md`` §3).

Never pickle.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import weakref
from collections import OrderedDict
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView
from pathlib import Path
from typing import Any, ClassVar

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


class FileColumn:
    """One column of a ``.npy`` file (C order) read with ``os.pread``: ``item(i)``, ``col[i]`` (a value, or a
    row of a 2-D column), ``col[lo:hi]`` and ``searchsorted(value)``, as on the array, each a copy of just
    those bytes from the page cache. Nothing is mapped into the process (see the module docstring).

    The file is opened on first use (a forked child shares the descriptor: ``pread`` has no file position);
    pickled, the column is its path and is opened again where it lands.
    """

    #: Rows per block of :meth:`searchsorted`: it keeps every ``BLOCK``-th value in memory (a sparse copy of
    #: ``len / BLOCK`` values, read on first search) and reads the one block that holds the answer.
    BLOCK = 256
    #: A column of at most this many bytes is read whole when first used and served from memory (the
    #: scenes, calibrations, rare-attribute lists: a few MB in all at trainval size).
    SMALL = 256 * 1024
    #: ``struct`` codes of the scalar dtypes (native byte order): a value without a numpy array around it.
    _SCALAR: ClassVar[dict[str, str]] = dict(
        i1="b", u1="B", b1="?", i2="h", u2="H", i4="i", u4="I", i8="q", u8="Q", f4="f", f8="d"
    )

    def __init__(self, path: Path, offset: int, dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
        if not dtype.isnative and dtype.byteorder != "|":
            raise ValueError(f"{path.name}: byte order {dtype.str} is not this machine's")
        self.path, self.offset, self.dtype, self.shape = path, offset, dtype, shape
        self.row_shape = shape[1:]
        self.row_bytes = dtype.itemsize * int(np.prod(self.row_shape, dtype=np.int64))
        code = self._SCALAR.get(dtype.str[1:]) if not self.row_shape else None
        self._unpack = struct.Struct("=" + code).unpack if code else None
        self._fd = -1
        self._whole: np.ndarray | None = None
        self._fence: np.ndarray | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def _opened(self) -> np.ndarray | None:
        """Opens the file on first use; the whole column when it is small (read then), else None."""
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            weakref.finalize(self, os.close, self._fd)
            if self.shape[0] * self.row_bytes <= self.SMALL:
                self._whole = np.frombuffer(self._read(0, self.shape[0]), self.dtype).reshape(self.shape)
        return self._whole

    def _read(self, start: int, count: int) -> bytes:
        """``count`` rows from row ``start`` (the file is open: :meth:`_opened`)."""
        n = count * self.row_bytes
        raw = os.pread(self._fd, n, self.offset + start * self.row_bytes)
        if len(raw) != n:  # the file shrank under us: it was edited in place
            raise ValueError(f"{self.path.name}: {len(raw)} bytes at row {start}, expected {n}")
        return raw

    def _row(self, i: int) -> int:
        n = self.shape[0]
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"row {i} of {self.path.name} ({n} rows)")
        return j

    def item(self, i: int) -> Any:
        """The value at row ``i`` as a Python object (bytes without trailing NULs, as ``ndarray.item``)."""
        whole = self._opened()
        if whole is not None:
            return whole.item(self._row(i))
        raw = self._read(self._row(i), 1)
        if self._unpack is not None:
            return self._unpack(raw)[0]
        if self.dtype.kind == "S" and not self.row_shape:
            return raw.rstrip(b"\0")
        return np.frombuffer(raw, self.dtype).reshape(self.row_shape).item()

    def __getitem__(self, key: int | slice) -> Any:
        """Row ``key`` (an array for a 2-D column, else a numpy scalar) or the rows of a slice (an array)."""
        whole = self._opened()
        if whole is not None:
            if isinstance(key, slice) and key.step not in (None, 1):
                raise IndexError(f"{self.path.name}: slices with a step are not read")
            return whole[key if isinstance(key, slice) else self._row(int(key))]
        if isinstance(key, slice):
            lo, hi, step = key.indices(self.shape[0])
            if step != 1:
                raise IndexError(f"{self.path.name}: slices with a step are not read")
            count = max(hi - lo, 0)
            raw = self._read(lo, count) if count else b""
            return np.frombuffer(raw, self.dtype).reshape((count, *self.row_shape))
        row = np.frombuffer(self._read(self._row(int(key)), 1), self.dtype).reshape(self.row_shape)
        return row if self.row_shape else row[()]

    def searchsorted(self, value: Any) -> int:
        """``ndarray.searchsorted(value)`` (side ``left``) of a sorted 1-D column: one read of one block."""
        whole = self._opened()
        if whole is not None:
            return int(whole.searchsorted(value))
        if self._fence is None:
            self._fence = np.array(
                [self.item(r) for r in range(0, self.shape[0], self.BLOCK)], dtype=self.dtype
            )
        k = int(self._fence.searchsorted(value))  # values[k * BLOCK] >= value: the answer is <= k * BLOCK
        if k == 0:
            return 0
        lo = (k - 1) * self.BLOCK
        hi = min(k * self.BLOCK, self.shape[0])
        block = np.frombuffer(self._read(lo, hi - lo), self.dtype)
        return lo + int(block.searchsorted(value))

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "offset": self.offset, "dtype": self.dtype, "shape": self.shape}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["offset"], state["dtype"], state["shape"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<FileColumn {self.path.name} {self.dtype.str} {list(self.shape)}>"


#: What a column of records is read from: the array itself (kept in memory), or its file.
Column = np.ndarray | FileColumn


class Keys:
    """A sorted key column: key → row by binary search, row → key (``column``: how single keys are read),
    and many keys → rows at once over the whole array (``whole``)."""

    def __init__(self, whole: np.ndarray, column: Column | None = None) -> None:
        self.keys = whole
        self.column = whole if column is None else column
        self.width = whole.dtype.itemsize

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, key: object) -> int:
        """The row of ``key``, or -1."""
        if not isinstance(key, str):
            return -1
        raw = encode(key)
        if len(raw) > self.width or b"\0" in raw:  # a longer key would make numpy cast the whole column
            return -1
        i = int(self.column.searchsorted(raw))
        return i if i < len(self.keys) and self.column.item(i) == raw else -1

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
        return decode(self.column.item(row))


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


def string_at(buf: Column, off: Column, i: int) -> str:
    lo, hi = off[i : i + 2].tolist()
    return decode(buf[lo:hi].tobytes())


def encode_lists(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(values, off)`` of integer lists; list ``i`` is ``values[off[i]:off[i+1]]``."""
    off = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(v) for v in lists], out=off[1:])
    values = np.fromiter((x for v in lists for x in v), dtype=np.int64, count=int(off[-1]))
    return smallest_int(values), off


# -- a table as a read-only mapping ---------------------------------------------------------------------------
def fresh(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a record whose lists and dicts are copies too (their items are strings and numbers, or lists
    of numbers: a camera intrinsic)."""
    out = record.copy()
    for k, v in record.items():
        if type(v) is list:
            out[k] = [x.copy() for x in v] if v and type(v[0]) is list else v.copy()
        elif type(v) is dict:
            out[k] = v.copy()
    return out


class RecordView(Mapping[str, dict[str, Any]]):
    """``key → record dict`` of one table, each record built on access from the columns (a new dict each time:
    changing it changes nothing). Iteration follows the table file; ``in`` and ``get`` build no record.

    The last :attr:`RECENT` records read are kept (and handed out as copies): loading a sample reads each sweep's
    record several times (its message, its poses, its file, the chain walk), and a record is a dozen reads of
    the columns.
    """

    RECENT = 512

    def __init__(self, keys: Keys, order: np.ndarray, record: Callable[[int], dict[str, Any]]) -> None:
        self._keys, self._order, self.record = keys, order, record
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __getitem__(self, key: str) -> dict[str, Any]:
        rec = self._recent.get(key) if isinstance(key, str) else None
        if rec is None:
            row = self._keys.row(key)
            if row < 0:
                raise KeyError(key)
            rec = self._recent[key] = self.record(row)
            if len(self._recent) > self.RECENT:
                with contextlib.suppress(KeyError):  # another thread evicted it first
                    self._recent.popitem(last=False)
        else:
            with contextlib.suppress(KeyError):
                self._recent.move_to_end(key)
        return fresh(rec)

    def __contains__(self, key: object) -> bool:
        return (isinstance(key, str) and key in self._recent) or self._keys.row(key) >= 0

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


def open_arrays(
    folder: Path, shapes: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, FileColumn]]:
    """The arrays that ``meta.json`` lists, checked against their dtype and shape: ``(mapped, columns)``, each
    array memory-mapped read-only and as a :class:`FileColumn` over the same file.

    Raises:
        ValueError: an array is missing, unreadable, or not the dtype/shape ``meta.json`` says.
    """
    mapped, columns = {}, {}
    for name, spec in shapes.items():
        path = folder / f"{name}.npy"
        try:
            a = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise ValueError(f"{path.name}: {e}") from e
        if not isinstance(spec, list) or len(spec) != 2 or [a.dtype.str, list(a.shape)] != spec:
            raise ValueError(f"{path.name}: {a.dtype.str} {list(a.shape)}, meta.json says {spec}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{path.name}: Fortran order, expected C order")
        columns[name] = FileColumn(path, int(a.offset), a.dtype, tuple(a.shape))
        # a plain array over the same mapping: indexing without memmap's overhead
        mapped[name] = a.view(np.ndarray)
    return mapped, columns


def size_on_disk(folder: Path) -> int:
    """Bytes of the files in ``folder``."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
