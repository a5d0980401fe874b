"""Packed point records (``sensor_msgs/PointCloud2``, ``foxglove.PointCloud``) → numpy, fully vectorised.

A point cloud message is ``height`` rows of ``width`` fixed-size records (``point_step`` bytes each; a row
is ``row_step`` bytes, which may exceed ``width * point_step``: padding). Each field sits at a byte offset
with a scalar type, a count and the message's byte order. :class:`PackedPoints` describes that layout as one
structured numpy dtype (``itemsize = point_step``) laid over the buffer with ``np.ndarray(..., strides=
(row_step, point_step))``: no copy, no Python loop per point. :meth:`PackedPoints.columns` copies the
requested fields into one C-ordered float array, one strided (casting) copy per field.

The per-point time rule (:func:`point_time_offsets`) converts a driver's time field to seconds relative to
the message stamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sensorfuse.errors import DataError

#: sensor_msgs/PointField datatype → numpy scalar type code (INT8=1 ... FLOAT64=8).
ROS_POINTFIELD_TYPES: dict[int, str] = {
    1: "i1",
    2: "u1",
    3: "i2",
    4: "u2",
    5: "i4",
    6: "u4",
    7: "f4",
    8: "f8",
}
#: Names drivers give the per-point time, in lookup order (Ouster ``t``, Velodyne ``time``, Hesai/Robosense
#: ``timestamp``, ``time_stamp``, Livox ``offset_time``).
TIME_FIELDS: tuple[str, ...] = ("t", "time", "timestamp", "time_stamp", "offset_time")
#: Names of the return strength, in lookup order.
INTENSITY_FIELDS: tuple[str, ...] = ("intensity", "reflectivity")
#: Names of the laser/ring index, in lookup order (Livox calls it ``line``).
RING_FIELDS: tuple[str, ...] = ("ring", "line")
#: Longest plausible sweep (s): relative per-point times spanning more are reported as implausible.
MAX_SWEEP_SECONDS = 1.0
#: How far (s) absolute per-point times may lie from the message stamp and still be taken as absolute.
ABSOLUTE_WINDOW_SECONDS = 60.0
#: Accepted ``time_unit`` overrides of :func:`point_time_offsets`.
TIME_UNITS: tuple[str, ...] = ("auto", "s", "ms", "us", "ns", "abs_s", "abs_ns")


@dataclass(frozen=True)
class PackedPoints:
    """A buffer of packed point records and its layout.

    Attributes:
        buffer: the message's bytes, 1-D uint8 (not copied).
        dtype: structured dtype of one record: every field at its byte offset, with its byte order and
            count (a field with count > 1 is a sub-array); ``itemsize`` = point_step.
        height, width: rows and records per row (N = height * width points).
        row_step: bytes per row (>= width * point_step).
        where: ``file:topic`` for error messages.
    """

    buffer: np.ndarray
    dtype: np.dtype
    height: int
    width: int
    row_step: int
    where: str

    def __len__(self) -> int:
        return self.height * self.width

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.dtype.names or ())

    def records(self) -> np.ndarray:
        """Structured (height, width) view of the records (zero-copy, strided over any row padding)."""
        return np.ndarray(
            (self.height, self.width),
            dtype=self.dtype,
            buffer=self.buffer,
            offset=0,
            strides=(self.row_step, self.dtype.itemsize),
        )

    def field(self, name: str) -> np.ndarray:
        """One field as an (N,) view (or (N, count) for a sub-array field); copied only over row padding."""
        v = self.records()[name]
        return v.reshape((len(self), *v.shape[2:]))

    def require(self, names: Sequence[str], what: str = "points") -> None:
        """Raise DataError (reason "bad data") naming the first of ``names`` the cloud lacks."""
        for n in names:
            if n not in self.names:
                raise DataError(
                    self.where,
                    f"{what} have no field {n!r} (fields: {', '.join(self.names) or 'none'}); "
                    f"expected {', '.join(names)}",
                    n,
                )

    def columns(self, names: Sequence[str], dtype: type[np.floating] = np.float32) -> np.ndarray:
        """The named scalar fields as one C-ordered (N, len(names)) array of ``dtype``."""
        self.require(names)
        out_dt = np.dtype(dtype)
        fields = [self.dtype.fields[n] for n in names]  # type: ignore[index]
        n_pts = len(self)
        if any(f[0].shape for f in fields):
            bad = next(n for n, f in zip(names, fields) if f[0].shape)
            raise DataError(self.where, f"field {bad!r} has count > 1; expected a scalar field", bad)
        # one strided copy per field into a C-ordered output: faster than a fancy index of a 2-D view
        # of the buffer (whose result is F-ordered) or numpy's structured_to_unstructured
        out = np.empty((self.height, self.width, len(names)), out_dt)
        recs2 = self.records()
        for j, n in enumerate(names):
            out[:, :, j] = recs2[n]
        return out.reshape(n_pts, len(names))


def make_packed(
    fields: Sequence[tuple[str, int, str, int]],
    buffer: np.ndarray | bytes | memoryview,
    height: int,
    width: int,
    point_step: int,
    row_step: int,
    bigendian: bool,
    where: str,
) -> PackedPoints:
    """Validate a point layout and wrap its buffer.

    Args:
        fields: ``(name, byte offset, numpy scalar code such as 'f4', count)`` per field.
        buffer: the packed bytes (kept, not copied).
        height, width, point_step, row_step: the layout (see :class:`PackedPoints`).
        bigendian: the message's byte order flag.
        where: ``file:topic`` for error messages.

    Raises:
        DataError: a duplicate or empty field name, a field past the end of a record, a row shorter than
            its points, or a buffer shorter than ``height * row_step`` (reason "truncated").
    """
    buf = np.frombuffer(buffer, np.uint8) if not isinstance(buffer, np.ndarray) else buffer.reshape(-1)
    if buf.dtype != np.uint8:
        buf = buf.view(np.uint8)
    order = ">" if bigendian else "<"
    names, formats, offsets = [], [], []
    for name, offset, code, count in fields:
        if not name or name in names:
            raise DataError(where, f"point field name {name!r} is empty or repeated", name or "fields")
        item = np.dtype(order + code)
        if count < 1:
            raise DataError(where, f"point field {name!r} has count {count}; expected >= 1", name)
        if offset < 0 or offset + item.itemsize * count > point_step:
            raise DataError(
                where,
                f"point field {name!r} ({code} x{count} at offset {offset}) ends past point_step {point_step}",
                name,
                reason="corrupt",
            )
        names.append(name)
        formats.append(item if count == 1 else (item, (count,)))
        offsets.append(offset)
    if height < 0 or width < 0 or (point_step <= 0 and height * width > 0):
        raise DataError(
            where, f"bad layout height={height} width={width} point_step={point_step}", "point_step"
        )
    if height * width and row_step < width * point_step:
        raise DataError(
            where,
            f"row_step {row_step} < width {width} x point_step {point_step}",
            "row_step",
            reason="corrupt",
        )
    need = height * row_step if height * width else 0
    if buf.size < need:
        raise DataError(
            where,
            f"data has {buf.size} bytes, expected {need} (height {height} x row_step {row_step})",
            "data",
            reason="truncated",
        )
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": max(point_step, 1)})
    return PackedPoints(buf, dtype, height, width, row_step if height * width else 0, where)


def finite_rows(points: np.ndarray, ncols: int = 3) -> np.ndarray | None:
    """None when the first ``ncols`` columns of every row are finite, else the boolean keep-mask.

    The common all-finite case costs one contiguous sum over ``points`` (a non-finite sum, also from an
    overflow or a NaN in another column, only sends it to the exact per-row check).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if points.size == 0 or np.isfinite(points.sum()):
            return None
    keep = np.isfinite(points[:, :ncols]).all(axis=1)
    return None if keep.all() else keep


def point_time_offsets(
    values: np.ndarray, stamp_ns: int, where: str, field: str, unit: str = "auto"
) -> tuple[np.ndarray, str]:
    """Per-point times → float64 seconds relative to the message stamp, and the rule that was applied.

    The automatic rule (``unit="auto"``), checked in this order on the median ``m`` of the finite values:

    1. **absolute seconds** when the stamp is a wall-clock time (> 1e6 s) and ``|m - stamp| <= 60 s``
       (Hesai, Robosense ``timestamp`` float64);
    2. **absolute nanoseconds** when ``|m - stamp_ns| <= 60e9`` and the stamp is > 1e15 ns (Livox
       ``timestamp``);
    3. **relative nanoseconds** for integer fields (Ouster ``t`` uint32, Livox ``offset_time``);
    4. **relative seconds** for float fields whose largest magnitude is <= 10 (Velodyne ``time`` float32);
    5. **relative nanoseconds** for float fields up to 1e10; anything else is reported as implausible.

    ``unit`` overrides the rule: ``s``/``ms``/``us``/``ns`` relative, ``abs_s``/``abs_ns`` absolute (a rig
    file's say). Relative times may be negative (stamp at the end of the sweep).

    Raises:
        DataError: (reason "implausible") non-finite times, or a span of more than 1 s after conversion.
    """
    if unit not in TIME_UNITS:
        raise DataError(where, f"time unit {unit!r} is not one of {', '.join(TIME_UNITS)}", field)
    v = np.asarray(values)
    if v.size == 0:
        return np.zeros(0), "empty"
    if v.dtype.kind == "f" and not np.isfinite(v).all():
        raise DataError(where, "per-point times contain NaN/inf", field, reason="implausible")
    is_int = v.dtype.kind in "iu"
    stamp_s = stamp_ns * 1e-9
    if unit == "auto":
        m = float(np.median(v[:: max(1, v.size // 1024)]))
        big = float(np.abs(v).max())
        if stamp_s > 1e6 and abs(m - stamp_s) <= ABSOLUTE_WINDOW_SECONDS:
            unit = "abs_s"
        elif stamp_ns > 1e15 and abs(m - stamp_ns) <= ABSOLUTE_WINDOW_SECONDS * 1e9:
            unit = "abs_ns"
        elif is_int:
            unit = "ns"
        elif big <= 10.0:
            unit = "s"
        elif big <= 1e10:
            unit = "ns"
        else:
            raise DataError(
                where,
                f"per-point times (median {m:.6g}) are neither relative offsets nor absolute times within "
                f"{ABSOLUTE_WINDOW_SECONDS:g} s of the stamp {stamp_s:.3f} s; set the time unit in the rig file",
                field,
                reason="implausible",
            )
    if unit == "abs_ns":
        off = (v.astype(np.int64) - np.int64(stamp_ns)) * 1e-9 if is_int else (v - float(stamp_ns)) * 1e-9
    elif unit == "abs_s":
        off = v.astype(np.float64) - stamp_s
    else:
        off = v.astype(np.float64) * {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit]
    span = float(off.max() - off.min())
    if span > MAX_SWEEP_SECONDS:
        raise DataError(
            where,
            f"per-point times span {span:.3g} s read as {unit}; a sweep lasts at most {MAX_SWEEP_SECONDS:g} s "
            "(set the time unit in the rig file)",
            field,
            reason="implausible",
        )
    return off, unit
