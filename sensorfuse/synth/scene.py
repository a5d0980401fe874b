"""Generate one scene: sensor streams (files + sample_data + ego_pose), samples and annotations.

Timing (seconds from the scene start): LIDAR_TOP sweeps every 50 ms, keyframes (samples) every 500 ms on
LiDAR sweeps; cameras at 12 Hz, each firing when the LiDAR sweep passes its optical axis (CAM_FRONT at the
LiDAR time, the others offset by azimuth/360 x 50 ms); radars at 13 Hz with a per-radar phase. For every
sample and channel the keyframe is the sweep closest in time; a non-keyframe belongs to the next sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensorfuse.boxes import count_points_in_boxes, from_nuscenes, to_nuscenes
from sensorfuse.calib.rig import Rig
from sensorfuse.geometry import Transform, yaw_to_quat
from sensorfuse.io.radar_pcd import encode_radar_pcd
from sensorfuse.synth import camera, lidar, radar
from sensorfuse.synth.actors import CLASS_CATEGORY, populate
from sensorfuse.synth.config import SynthConfig, token
from sensorfuse.synth.tables import CATEGORY_TOKEN, Tables, attribute_for, link, visibility_token
from sensorfuse.synth.world import Actors, Ego, make_ego, make_road

CAMERA_HZ, RADAR_HZ = 12.0, 13.0
EXT = {"lidar": ".pcd.bin", "radar": ".pcd", "camera": ".jpg"}


@dataclass
class Frame:
    channel: str
    t: float  # seconds from the scene start
    sample: int  # index of the sample it belongs to
    key: bool
    token: str = ""
    ego_token: str = ""


@dataclass
class SceneCtx:
    cfg: SynthConfig
    rig: Rig
    root: Path
    tables: Tables
    cs_tokens: dict[str, str]
    ego: Ego
    actors: Actors
    colors: list[tuple[int, int, int]]
    logfile: str
    t0_us: int
    name: str
    intrinsics: dict[str, np.ndarray]  # channel → K scaled to the image size
    shared: dict[str, str] | None = None  # shared payload: channel → the one file of the scene (else None)


def _streams(ctx: SceneCtx, n_samples: int, rng: np.random.Generator) -> dict[str, list[Frame]]:
    sample_t = np.arange(n_samples) * 0.5
    t_end = sample_t[-1]

    def frames(ch: str, times: np.ndarray) -> list[Frame]:
        times = times[(times >= -0.045) & (times <= t_end + 0.045)]
        key = {int(np.argmin(np.abs(times - ts))) for ts in sample_t}
        nxt = np.minimum(np.searchsorted(sample_t, times - 1e-9), n_samples - 1)
        out = [Frame(ch, float(t), int(j), i in key) for i, (t, j) in enumerate(zip(times, nxt, strict=True))]
        for i in key:  # the keyframe belongs to the sample closest in time
            out[i].sample = int(np.argmin(np.abs(sample_t - out[i].t)))
        return out

    streams: dict[str, list[Frame]] = {}
    for ch, s in ctx.rig.sensors.items():
        if s.modality == "lidar":
            streams[ch] = frames(ch, np.arange(0, round(t_end * 20) + 1) * 0.05)
        elif s.modality == "camera":
            axis = s.ego_from_sensor.rotation[:, 2]
            theta = -np.arctan2(axis[1], axis[0])  # clockwise angle from ego forward
            offset = theta / (2 * np.pi) * lidar.SWEEP_SECONDS
            streams[ch] = frames(ch, offset + np.arange(-1, round(t_end * CAMERA_HZ) + 2) / CAMERA_HZ)
        else:
            phase = rng.uniform(0, 1 / RADAR_HZ)
            streams[ch] = frames(ch, phase + np.arange(-2, round(t_end * RADAR_HZ) + 2) / RADAR_HZ)
    return streams


def _pose(ctx: SceneCtx, t: float) -> Transform:
    p, yaw = ctx.ego.pose(t)
    return Transform.from_quat(yaw_to_quat(yaw), p)


def _us(ctx: SceneCtx, t: float) -> int:
    return ctx.t0_us + round(t * 1e6)


def _record(
    ctx: SceneCtx, f: Frame, sample_tokens: list[str], rng: np.random.Generator
) -> tuple[dict[str, Any], Any]:
    """Simulate one frame, write its file; returns its sample_data record and the payload (points / None).

    With a shared payload (``ctx.shared``) only the first frame of each channel is written, and every later
    frame of the channel names that file; LiDAR and radar keyframes are still simulated (the annotations
    count their points), everything else is not.
    """
    s = ctx.rig.sensors[f.channel]
    ts = _us(ctx, f.t)
    f.token = f.ego_token = token(ctx.cfg.seed, ctx.name, f.channel, ts)
    folder = "samples" if f.key else "sweeps"
    filename = f"{folder}/{f.channel}/{ctx.logfile}__{f.channel}__{ts}{EXT[s.modality]}"
    pose = _pose(ctx, f.t)
    ctx.tables.add(
        "ego_pose",
        {
            "token": f.token,
            "timestamp": ts,
            "rotation": list(pose.quat),
            "translation": list(pose.translation),
        },
    )
    write = ctx.shared is None or f.channel not in ctx.shared
    payload: Any = None
    if write or (f.key and s.modality != "camera"):
        data, payload = _simulate(ctx, f, pose, rng)
    if write:
        path = ctx.root / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if ctx.shared is not None:
            ctx.shared[f.channel] = filename
    else:
        filename = ctx.shared[f.channel]  # type: ignore[index]
    camera_size = (ctx.cfg.image_width, ctx.cfg.image_height) if s.modality == "camera" else (0, 0)
    rec = {
        "token": f.token,
        "sample_token": sample_tokens[f.sample],
        "ego_pose_token": f.token,
        "calibrated_sensor_token": ctx.cs_tokens[f.channel],
        "timestamp": ts,
        "fileformat": {"lidar": "pcd", "radar": "pcd", "camera": "jpg"}[s.modality],
        "is_key_frame": f.key,
        "height": camera_size[1],
        "width": camera_size[0],
        "filename": filename,
    }
    return rec, payload


def _simulate(ctx: SceneCtx, f: Frame, pose: Transform, rng: np.random.Generator) -> tuple[bytes, Any]:
    """The file bytes of one frame and its payload (LiDAR ``(points, visible)``, radar points, or None)."""
    s = ctx.rig.sensors[f.channel]
    boxes = ctx.actors.boxes(ctx.ego, f.t)
    if s.modality == "lidar":
        intensity = lidar.class_intensity(ctx.actors.category)
        pts, _, visible = lidar.simulate_sweep(
            ctx.ego, f.t, boxes, intensity, s.ego_from_sensor, pose, rng, ctx.cfg.lidar_azimuth_steps
        )
        return np.ascontiguousarray(pts, dtype="<f4").tobytes(), (pts, visible)
    if s.modality == "radar":
        pts = radar.simulate_radar(
            boxes, ctx.actors.category, pose @ s.ego_from_sensor, ctx.ego.velocity(f.t), rng
        )
        return encode_radar_pcd(pts), pts
    k = ctx.intrinsics[f.channel]
    img = camera.render(
        ctx.ego, f.t, boxes, ctx.colors, (pose @ s.ego_from_sensor).inverse(), k,
        ctx.cfg.image_width, ctx.cfg.image_height,
    )  # fmt: skip
    return camera.encode_jpeg(img, ctx.cfg.jpeg_quality), None


def _annotate(
    ctx: SceneCtx,
    j: int,
    sample_token: str,
    lidar_frame: Frame,
    lidar_payload: Any,
    radar_frames: list[tuple[Frame, np.ndarray]],
) -> list[tuple[int, dict[str, Any]]]:
    """Annotations (actor index, record) of sample ``j`` at the LIDAR_TOP keyframe time."""
    t = lidar_frame.t
    boxes = ctx.actors.boxes(ctx.ego, t)
    ego_t, _ = ctx.ego.pose(t)
    near = np.flatnonzero(np.hypot(boxes[:, 0] - ego_t[0], boxes[:, 1] - ego_t[1]) < ctx.cfg.annotation_range)
    if len(near) == 0:
        return []
    trans, size, rot = to_nuscenes(boxes[near, :7])
    g_boxes = from_nuscenes(trans, size, rot)  # exactly the values written to the table
    pts, visible = lidar_payload
    s = ctx.rig.sensors[lidar_frame.channel]
    # The devkit rotates the (upright) box into the slightly tilted LiDAR frame; counting the LiDAR points
    # mapped to global in the upright global box is the same test (sensorfuse boxes have yaw only).
    global_from_lidar = _pose(ctx, t) @ s.ego_from_sensor
    n_lidar = count_points_in_boxes(global_from_lidar.apply(pts[:, :3].astype(np.float64)), g_boxes)
    n_radar = np.zeros(len(near), dtype=np.int64)
    for rf, rpts in radar_frames:
        global_from_radar = _pose(ctx, rf.t) @ ctx.rig.sensors[rf.channel].ego_from_sensor
        n_radar += count_points_in_boxes(global_from_radar.apply(rpts[:, :3]), g_boxes)
    out = []
    for row, i in enumerate(near):
        cat = ctx.actors.category[i]
        speed = float(np.hypot(boxes[i, 7], boxes[i, 8]))
        rec = {
            "token": token(ctx.cfg.seed, ctx.name, "ann", i, j),
            "sample_token": sample_token,
            "instance_token": token(ctx.cfg.seed, ctx.name, "instance", i),
            "visibility_token": visibility_token(float(visible[i])),
            "attribute_tokens": attribute_for(cat, speed, ctx.actors.attribute[i]),
            "translation": [float(v) for v in trans[row]],
            "size": [float(v) for v in size[row]],
            "rotation": [float(v) for v in rot[row]],
            "num_lidar_pts": int(n_lidar[row]),
            "num_radar_pts": int(n_radar[row]),
        }
        out.append((int(i), rec))
    return out


def generate_scene(
    ctx: SceneCtx, scene_token: str, log_token: str, description: str, seed_seq: list[int]
) -> dict[str, int]:
    """Generate the whole scene into ``ctx.root`` / ``ctx.tables``; returns sweeps per channel."""
    rng = np.random.default_rng(seed_seq)
    n_samples = max(2, int(ctx.cfg.scene_seconds * 2))
    streams = _streams(ctx, n_samples, rng)
    lidar_ch = ctx.rig.channels("lidar")[0]
    sample_t = [f.t for f in streams[lidar_ch] if f.key]
    samples: list[dict[str, Any]] = [
        {
            "token": token(ctx.cfg.seed, ctx.name, "sample", j),
            "timestamp": _us(ctx, sample_t[j]),
            "scene_token": scene_token,
        }
        for j in range(n_samples)
    ]
    link(samples)
    sample_tokens: list[str] = [s["token"] for s in samples]
    keyframes: dict[tuple[str, int], tuple[Frame, Any]] = {}
    for ch, frames in streams.items():
        recs = []
        for f in frames:
            rec, payload = _record(ctx, f, sample_tokens, rng)
            recs.append(rec)
            if f.key:
                keyframes[(ch, f.sample)] = (f, payload)
        link(recs)
        for rec in recs:
            ctx.tables.add("sample_data", rec)
    for s in samples:
        ctx.tables.add("sample", s)
    chains: dict[int, list[dict[str, Any]]] = {}
    radar_chs = ctx.rig.channels("radar")
    for j in range(n_samples):
        lf, lp = keyframes[(lidar_ch, j)]
        radars = [keyframes[(ch, j)] for ch in radar_chs if (ch, j) in keyframes]
        for i, rec in _annotate(ctx, j, sample_tokens[j], lf, lp, radars):
            chains.setdefault(i, []).append(rec)
    for i, recs in sorted(chains.items()):
        link(recs)
        for rec in recs:
            ctx.tables.add("sample_annotation", rec)
        ctx.tables.add(
            "instance",
            {
                "token": recs[0]["instance_token"],
                "category_token": CATEGORY_TOKEN[ctx.actors.category[i]],
                "nbr_annotations": len(recs),
                "first_annotation_token": recs[0]["token"],
                "last_annotation_token": recs[-1]["token"],
            },
        )
    ctx.tables.add(
        "scene",
        {
            "token": scene_token, "log_token": log_token, "nbr_samples": n_samples,
            "first_sample_token": sample_tokens[0], "last_sample_token": sample_tokens[-1],
            "name": ctx.name, "description": description,
        },
    )  # fmt: skip
    return {ch: len(frames) for ch, frames in streams.items()}


def build_world(cfg: SynthConfig, index: int, seconds: float) -> tuple[Ego, Actors]:
    """Road, ego trajectory and actors of scene ``index`` (deterministic for ``cfg.seed``)."""
    rng = np.random.default_rng([cfg.seed, index, 1])
    origin = np.array([400.0 + 3000.0 * index, 1000.0]) + rng.uniform(-100, 100, 2)
    road = make_road(rng, origin)
    ego = make_ego(rng, road, seconds)
    return ego, populate(rng, ego, seconds, cfg.classes)


def actor_colors(actors: Actors) -> list[tuple[int, int, int]]:
    inv = {v: k for k, v in CLASS_CATEGORY.items()}
    return [camera.CLASS_COLORS[inv.get(c, "other")] for c in actors.category]
