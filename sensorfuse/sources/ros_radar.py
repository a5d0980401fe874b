"""Radar messages → rows of :data:`sensorfuse.structures.RADAR_COLUMNS` in the radar frame (pure, no I/O).

Three layouts: a ``sensor_msgs/PointCloud2`` (or ``foxglove.PointCloud``) with nuScenes-style
``vx_comp``/``vy_comp`` fields, the same with a radial Doppler field, and ``radar_msgs/RadarScan`` (polar
returns). A Doppler radar measures only the radial velocity ``v_r`` (m/s, positive away from the sensor);
it is written as the vector ``v_r * u`` along the unit ray ``u`` (what nuScenes' ``vx, vy`` are), and is
ego-motion compensated (``v_r + u . v_sensor``) when the sensor's own velocity is given. What a message
lacks is filled with zeros and named in :attr:`RadarDetections.absent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sensorfuse.errors import DataError
from sensorfuse.sources.points import PackedPoints, finite_rows
from sensorfuse.sources.ros_msgs import first_field, frame_id, packed_from_pointcloud2, stamp_ns
from sensorfuse.structures import RADAR_COLUMNS

#: PointCloud2 fields read as a radar's radial (Doppler) velocity, m/s, positive away from the sensor.
RADAR_DOPPLER_FIELDS: tuple[str, ...] = ("doppler", "doppler_velocity", "radial_velocity", "v_r", "vr")
#: PointCloud2 fields read as a radar's return strength (written to the ``rcs`` column).
RADAR_RCS_FIELDS: tuple[str, ...] = ("rcs", "RCS", "amplitude", "snr", "intensity")


@dataclass(frozen=True)
class RadarFields:
    """Which point fields carry a radar's velocity and strength (a rig file can override each).

    Velocity is read from ``vx``/``vy`` when both are present (nuScenes-style, already ego-motion
    compensated, radar frame), else from the first Doppler field present (radial, m/s, positive away).
    """

    vx: str = "vx_comp"
    vy: str = "vy_comp"
    doppler: tuple[str, ...] = RADAR_DOPPLER_FIELDS
    rcs: tuple[str, ...] = RADAR_RCS_FIELDS


#: The default field names (nuScenes-style velocity, the Doppler and strength names above).
DEFAULT_RADAR_FIELDS = RadarFields()


@dataclass(frozen=True)
class RadarDetections:
    """One radar message in the radar frame.

    Attributes:
        frame_id, stamp_ns: sensor frame and message stamp (ns).
        points: (N, 7) float32, columns :data:`~sensorfuse.structures.RADAR_COLUMNS`: x, y, z (m, radar
            frame); ``vx_comp, vy_comp`` the x/y components of the radial velocity vector (m/s, radar frame),
            compensated for the sensor's own motion when the message had nuScenes-style fields or a sensor
            velocity was given (see ``velocity``); ``rcs`` the strength field (dBsm for ``rcs``, dB for an
            amplitude); ``time_lag`` 0 (the assembler sets it against its keyframe).
        velocity: "compensated" (nuScenes vx_comp/vy_comp or Doppler + sensor velocity), "raw doppler" (radial
            velocity relative to the moving sensor), or "absent" (zeros).
        absent: the columns filled with zeros because the message has no such data.
    """

    frame_id: str
    stamp_ns: int
    points: np.ndarray
    velocity: str
    absent: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.points.shape[0])


def radar_from_polar(
    range_m: np.ndarray,
    azimuth: np.ndarray,
    elevation: np.ndarray,
    doppler: np.ndarray | None,
    strength: np.ndarray | None,
    sensor_velocity: np.ndarray | None = None,
) -> tuple[np.ndarray, str, tuple[str, ...]]:
    """Polar returns (REP 103: azimuth anticlockwise from x, elevation up) → (N, 7) RADAR_COLUMNS rows."""
    r = np.asarray(range_m, np.float64)
    ce = np.cos(elevation)
    u = np.stack([ce * np.cos(azimuth), ce * np.sin(azimuth), np.sin(elevation)], axis=1)
    return _radar_rows(r[:, None] * u, u, doppler, strength, sensor_velocity)


def _radar_rows(
    xyz: np.ndarray,
    unit: np.ndarray,
    doppler: np.ndarray | None,
    strength: np.ndarray | None,
    sensor_velocity: np.ndarray | None,
    vxy: np.ndarray | None = None,
) -> tuple[np.ndarray, str, tuple[str, ...]]:
    out = np.zeros((len(xyz), len(RADAR_COLUMNS)), np.float32)
    out[:, :3] = xyz
    absent: list[str] = []
    if vxy is not None:
        out[:, 3:5] = vxy
        velocity = "compensated"
    elif doppler is not None:
        vr = np.asarray(doppler, np.float64)
        velocity = "raw doppler"
        if sensor_velocity is not None:
            vr = vr + unit @ np.asarray(sensor_velocity, np.float64)
            velocity = "compensated"
        out[:, 3:5] = vr[:, None] * unit[:, :2]
    else:
        velocity = "absent"
        absent += ["vx_comp", "vy_comp"]
    if strength is not None:
        out[:, 5] = strength
    else:
        absent.append("rcs")
    return out, velocity, tuple(absent)


def radar_from_packed(
    packed: PackedPoints,
    stamp: int,
    frame: str,
    fields: RadarFields = DEFAULT_RADAR_FIELDS,
    sensor_velocity: np.ndarray | None = None,
) -> RadarDetections:
    """Radar points from packed fields (x, y, z required; velocity and strength per ``fields``)."""
    packed.require(("x", "y", "z"), "radar points")
    xyz = packed.columns(["x", "y", "z"], np.float64)
    keep = finite_rows(xyz)
    sel = slice(None) if keep is None else keep
    xyz = xyz[sel]
    norm = np.linalg.norm(xyz, axis=1, keepdims=True)
    unit = np.divide(xyz, norm, out=np.zeros_like(xyz), where=norm > 0)
    vxy = dop = strength = None
    if fields.vx in packed.names and fields.vy in packed.names:
        vxy = packed.columns([fields.vx, fields.vy], np.float64)[sel]
    elif (d := first_field(packed, None, fields.doppler)) is not None:
        dop = packed.field(d).astype(np.float64)[sel]
    if (s := first_field(packed, None, fields.rcs)) is not None:
        strength = packed.field(s).astype(np.float64)[sel]
    rows, velocity, absent = _radar_rows(xyz, unit, dop, strength, sensor_velocity, vxy)
    return RadarDetections(frame, stamp, rows, velocity, absent)


def radar_from_pointcloud2(
    msg: Any,
    where: str,
    fields: RadarFields = DEFAULT_RADAR_FIELDS,
    sensor_velocity: np.ndarray | None = None,
) -> RadarDetections:
    """A radar ``sensor_msgs/PointCloud2`` (see :func:`radar_from_packed`).

    ``sensor_velocity``: the radar's velocity over ground (m/s, radar frame); when given, a Doppler field is
    compensated (``v_r + u . v_sensor``) like nuScenes' ``vx_comp``.
    """
    return radar_from_packed(
        packed_from_pointcloud2(msg, where),
        stamp_ns(msg),
        frame_id(msg.header.frame_id),
        fields,
        sensor_velocity,
    )


def radar_from_radarscan(msg: Any, where: str, sensor_velocity: np.ndarray | None = None) -> RadarDetections:
    """A ``radar_msgs/RadarScan``: polar returns → Cartesian rows; ``amplitude`` (dB) goes to ``rcs``.

    The returns are a list of small structs in the decoded message, read with one comprehension (radar
    scans hold hundreds of returns, not 300k points).
    """
    try:
        arr = np.array(
            [(r.range, r.azimuth, r.elevation, r.doppler_velocity, r.amplitude) for r in msg.returns],
            dtype=np.float64,
        ).reshape(-1, 5)
    except AttributeError as e:
        raise DataError(where, f"RadarScan return lacks a field: {e}", "returns") from None
    ok = np.isfinite(arr[:, :3]).all(axis=1)
    arr = arr[ok]
    rows, velocity, absent = radar_from_polar(
        arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4], sensor_velocity
    )
    return RadarDetections(frame_id(msg.header.frame_id), stamp_ns(msg), rows, velocity, absent)
