"""The index's columns read value by value with ``pread`` (:class:`FileColumn`): the same values as the arrays,
and a process that builds records maps no page of the index (its resident memory does not grow with reading)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from sensorfuse.sources.nuscenes import columnar
from sensorfuse.sources.nuscenes.columnar import FileColumn, open_arrays, save
from sensorfuse.sources.nuscenes.index import NuScenesIndex


def _columns(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, FileColumn]]:
    folder = tmp_path / "cols"
    save(folder, arrays, {})
    meta = columnar.json.loads((folder / columnar.META).read_text())
    return open_arrays(folder, meta["arrays"])


@pytest.fixture(params=["block", "whole"])
def small(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a column is read: by blocks (the default for a large column) and whole (a small one)."""
    monkeypatch.setattr(FileColumn, "SMALL", 0 if request.param == "block" else 1 << 30)
    return str(request.param)


def test_values_slices_and_rows_equal_the_array(tmp_path: Path, small: str) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "i4": rng.integers(-(2**31), 2**31 - 1, 1000).astype(np.int32),
        "i8": rng.integers(-(2**62), 2**62, 1000),
        "u1": rng.integers(0, 255, 1000).astype(np.uint8),
        "b1": rng.random(1000) < 0.5,
        "f8x7": rng.normal(size=(1000, 7)),
        "keys": np.array([f"k{i:05d}".encode() + (b"\0\0" if i % 3 else b"xy") for i in range(1000)]),
        "empty": np.zeros(0, np.int64),
    }
    mapped, cols = _columns(tmp_path, arrays)
    for name, a in arrays.items():
        col = cols[name]
        assert len(col) == len(a) == len(mapped[name]), name
        for i in (0, 1, 255, 256, 257, len(a) - 1, -1, -len(a)):
            if not len(a):
                break
            if a.ndim == 1:
                assert col.item(i) == a.item(i) and type(col.item(i)) is type(a.item(i)), (name, i)
            assert np.array_equal(col[i], a[i]), (name, i)
        for lo, hi in ((0, 0), (3, 3), (0, 7), (250, 770), (990, 2000), (-5, None), (None, None)):
            got, want = col[lo:hi], a[lo:hi]
            assert got.dtype == want.dtype and np.array_equal(got, want), (name, lo, hi)
        with pytest.raises(IndexError, match=f"{name}.npy"):
            col.item(len(a))
    assert cols["keys"].item(1) == b"k00001"  # trailing NULs dropped, as ndarray.item does


def test_searchsorted_is_the_arrays(tmp_path: Path, small: str) -> None:
    """Every value, each gap between values, below the first and above the last: the insertion row of a
    sorted column read block by block equals ``ndarray.searchsorted`` (side left), across block edges."""
    keys = np.sort(np.array([f"{i * 7:08d}".encode() for i in range(1, 1100)]))
    ints = np.sort(np.random.default_rng(1).integers(0, 5000, 1300))  # with repeats
    _, cols = _columns(tmp_path, {"keys": keys, "ints": ints})
    probes = [
        b"",
        b"0",
        b"00000007",
        b"00000008",
        b"99999999",
        *[f"{i:08d}".encode() for i in range(0, 7800, 3)],
    ]
    for q in probes:
        assert cols["keys"].searchsorted(q) == int(keys.searchsorted(q)), q
    for q in range(-1, 5002):
        assert cols["ints"].searchsorted(q) == int(ints.searchsorted(q)), q


def test_pickled_column_reopens_its_file(tmp_path: Path) -> None:
    a = np.arange(10_000, dtype=np.int64)
    _, cols = _columns(tmp_path, {"a": a})
    col = cols["a"]
    assert col.item(9_999) == 9_999
    again = pickle.loads(pickle.dumps(col))
    assert again._fd == -1 and again.item(1234) == 1234 and np.array_equal(again[10:20], a[10:20])


def test_a_shrunken_file_is_named(tmp_path: Path) -> None:
    """class: silent garbage — a column file cut short under a reader (edited in place) is an error naming it,
    not a short read taken as a value."""
    _, cols = _columns(tmp_path, {"a": np.arange(100_000, dtype=np.int64)})
    col = cols["a"]
    assert col.item(5) == 5
    path = tmp_path / "cols" / "a.npy"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"a\.npy: 0 bytes at row 99999"):
        col.item(99_999)


def _resident_kb(folder: Path) -> int:
    """kB of the index files resident in this process's mappings (``/proc/self/smaps``)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:  # a mapping's first line
            inside = len(head) >= 6 and head[5].startswith(str(folder))
        elif inside and line.startswith("Rss:"):
            total += int(head[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps (Linux)")
def test_building_records_maps_no_page(synth_world: tuple[Path, str], tmp_path: Path) -> None:
    """class: copies per process — a DataLoader worker that reads every record of the world keeps none of the
    index in its resident memory; a vectorised read of the whole column (the control) does."""
    root, version = synth_world
    NuScenesIndex(root, version, cache_dir=tmp_path)  # built and written
    index = NuScenesIndex(root, version, cache_dir=tmp_path)  # opened: mapped, nothing touched
    folder = index.folder.resolve()
    assert _resident_kb(folder) == 0
    tokens = index.split_tokens("all")  # iterating a table reads its order column whole (a few kB of scenes)
    before = _resident_kb(folder)
    assert before <= 8
    n = 0
    for tok in tokens:
        sample = index.sample(tok)
        for sd in sample["data"].values():
            rec = index.sample_data[sd]
            index.calib[rec["calib"]]
            n += 1 + (rec["prev"] in index.sample_data)
        n += sum(1 for ann in sample["anns"] if index.annotations[ann]["instance"])
    assert n > 100
    assert _resident_kb(folder) == before
    index.scene_sample_data(next(iter(index.scenes)))  # vectorised: reads the whole sample column
    assert _resident_kb(folder) > before
