"""What ``sensorfuse drive info`` prints: the recording (topics, types, counts, rates, span, unknown types,
truncation) and what the rig resolves to (each sensor's topic, frame and extrinsics, intrinsics, per-point
time field and rule, deskew, radar velocity; the ego pose; annotations). Sensors are checked at their first
message, so a missing ``/tf_static`` or a zero focal length shows up front, not at the first frame."""

from __future__ import annotations

from typing import Any

from sensorfuse.errors import DataError
from sensorfuse.sources.bag_drive import BagDrive
from sensorfuse.sources.bag_payloads import lidar_scan


def _try(fn: Any) -> tuple[Any, str]:
    try:
        return fn(), ""
    except DataError as e:
        return None, f"{e.reason}: {e}"


def _lidar_line(drive: BagDrive, name: str) -> str:
    s = drive.rig.sensors[name]
    scan, err = _try(lambda: lidar_scan(drive._fetch(name, 0), s))
    if err:
        return f"first message does not read: {err}"
    if scan.time_field is None:
        timing = "per-point time: none (no deskew)"
    else:
        on = "on" if s.deskew else "off (rig)"
        timing = f"per-point time: {scan.time_field!r} read as {scan.time_rule}; deskew {on}"
    inten = scan.intensity_field or "none (zeros)"
    drop = (
        f"; {scan.dropped_nonfinite} non-finite points dropped in the first sweep"
        if scan.dropped_nonfinite
        else ""
    )
    return f"{len(scan)} points, intensity {inten}, {timing}{drop}"


def _radar_line(drive: BagDrive, name: str) -> str:
    det, err = _try(lambda: drive._radar_detections(name, 0)[0])
    if err:
        return f"first message does not read: {err}"
    absent = f", zeros for {', '.join(det.absent)}" if det.absent else ""
    return f"{len(det)} returns, velocity {det.velocity}{absent}"


def _camera_line(drive: BagDrive, name: str) -> str:
    s = drive.rig.sensors[name]
    if s.intrinsics is not None:
        src = "intrinsics: rig"
    else:
        topic = drive._info_topics.get(name, "")
        n = drive.info.topics[topic].count if topic in drive.info.topics else 0
        src = f"intrinsics: {topic or 'no camera_info topic found'} ({n} messages)"
    k, err = _try(lambda: drive._intrinsics(name, drive._rows[name][0].stamp_ns))
    if err:
        return f"{src}; {err}"
    fx, fy = float(k[0][0, 0]), float(k[0][1, 1])
    return f"{src}; {k[1][0]}x{k[1][1]} fx={fx:.1f} fy={fy:.1f}"


def format_drive_info(drive: BagDrive) -> str:
    """The ``drive info`` report of an opened drive (see the module docstring)."""
    info, rig = drive.info, drive.rig
    lines = [info.format(), "", f"rig:       {rig.name!r} from {rig.source}"]
    lines.append(
        f"reference: {rig.reference}   ego frame: {rig.ego_frame}   global frame: {rig.global_frame}"
    )
    first = drive.messages()[0] if drive.messages() else None
    pose_src = f"odometry {rig.odometry}" if rig.odometry else f"/tf {rig.global_frame} -> {rig.ego_frame}"
    if first is not None:
        t0 = drive._rows[first.channel][drive._locate(first)[1]].stamp_ns
        _, err = _try(lambda: drive.global_from_ego(t0))
        pose_src += f": {err or 'ok'}"
    lines.append(f"ego pose:  {pose_src}")
    lines.append("")
    lines.append(f"{'sensor':<20} {'modality':<8} {'topic':<40} {'msgs':>5} {'Hz':>6}  frame / extrinsics")
    for name, s in rig.sensors.items():
        if name in drive.problems:
            lines.append(
                f"{name:<20} {s.modality:<8} {s.topic:<40} {'-':>5} {'-':>6}  NOT READ: {drive.problems[name]}"
            )
            continue
        spec = drive.sensors[name]
        n = len(drive._rows[name])
        rows = drive._rows[name]
        span = (rows[-1].stamp_ns - rows[0].stamp_ns) * 1e-9
        hz = (n - 1) / span if n > 1 and span > 0 else 0.0  # over the sensor's own stamps
        if s.ego_from_sensor is not None:
            ext = "rig override"
        else:
            _, err = _try(lambda name=name: drive._ego_from_sensor(name, drive._rows[name][0].stamp_ns))
            ext = "extrinsics from TF ok" if not err else f"MISSING: {err}"
        lines.append(
            f"{name:<20} {s.modality:<8} {s.topic:<40} {n:>5} {hz:>6.2f}  {spec.frame_id or '?'}: {ext}"
        )
        detail = {"lidar": _lidar_line, "radar": _radar_line, "camera": _camera_line}[s.modality](drive, name)
        lines.append(f"{'':<20} {detail}")
    if rig.annotations:
        lines.append("")
        lines.append(
            f"annotations: {rig.annotations}: {len(drive._gt)} arrays, {len(drive.keyframes())} keyframes"
        )
    unknown = info.unknown
    if unknown:
        n = sum(t.count for t in unknown.values())
        lines.append(
            f"unknown types: {len(unknown)} topics, {n} messages skipped ({', '.join(sorted(unknown))})"
        )
    lines += [f"note: {n}" for n in drive.notes]
    return "\n".join(lines)
