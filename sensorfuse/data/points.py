"""Multi-sweep LiDAR and radar merged into the reference frame (LIDAR_TOP at the keyframe).

Each sweep goes ``ref_from_global @ global_from_ego(t_sweep) @ ego_from_sensor``: ego motion between
the sweep and the keyframe is compensated through the global frame at the sweep's own timestamp.
Radar ``vx_comp, vy_comp`` (ego-motion compensated, in the radar frame at its timestamp) are **rotated**
by the same transform's rotation (the devkit's ``from_file_multisweep`` leaves them unrotated).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sensorfuse.data.chain import existing_file, global_from_sensor, walk_sweeps
from sensorfuse.data.config import SampleConfig
from sensorfuse.data.index import NuScenesIndex
from sensorfuse.errors import DataError
from sensorfuse.geometry import Transform

# Columns of the devkit's 18-row radar layout.
_RADAR_X, _RADAR_RCS, _RADAR_VX_COMP, _RADAR_VY_COMP = 0, 5, 8, 9


def _check_finite(points: np.ndarray, path: object, what: str) -> None:
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise DataError(
            str(path),
            f"{int(bad.sum())} of {len(points)} {what} points have NaN/inf values",
            "points",
            reason="corrupt",
        )


@njit(cache=True, nogil=True)
def _merge_sweep_kernel(
    pts: np.ndarray,
    rot: np.ndarray,
    trans: np.ndarray,
    lag: float,
    min_dist: float,
    out: np.ndarray,
    start: int,
) -> int:  # pragma: no cover - compiled
    """Append one sweep to ``out`` from row ``start``: drop points within the ``min_dist`` square around
    the sensor, map x, y, z by ``rot``/``trans``, copy intensity, set the lag. Returns the next free row."""
    j = start
    for i in range(pts.shape[0]):
        x, y, z = pts[i, 0], pts[i, 1], pts[i, 2]
        if abs(x) < min_dist and abs(y) < min_dist:
            continue
        for k in range(3):
            out[j, k] = rot[k, 0] * x + rot[k, 1] * y + rot[k, 2] * z + trans[k]
        out[j, 3] = pts[i, 3]
        out[j, 4] = lag
        j += 1
    return j


def load_lidar(
    index: NuScenesIndex, key_token: str, ref_from_global: Transform, cfg: SampleConfig
) -> np.ndarray:
    """Merged LiDAR (N, 5) float32: x, y, z (reference frame), intensity, time lag (s, >= 0).

    The reader rejects truncated files and NaN/inf values; an empty sweep is rejected here. Points within
    ``cfg.lidar_min_distance`` (a square in the sweep's sensor frame, like the devkit's ``remove_close``)
    are dropped.
    """
    from sensorfuse.io.lidar_bin import read_lidar_bin

    t_ref = index.sample_data[key_token]["timestamp"]
    sweeps = []
    for tok in walk_sweeps(index, key_token, cfg.lidar_sweeps):
        path = existing_file(index, tok)
        pts = np.ascontiguousarray(read_lidar_bin(path), dtype=np.float32)
        if len(pts) == 0:
            raise DataError(path, "empty LiDAR point cloud (0 points)", "points", reason="empty file")
        sweeps.append((tok, pts))
    out = np.empty((sum(len(p) for _, p in sweeps), 5), np.float32)
    n = 0
    for tok, pts in sweeps:
        t = ref_from_global @ global_from_sensor(index, tok)
        lag = (t_ref - index.sample_data[tok]["timestamp"]) * 1e-6
        rot, trans = t.rotation.astype(np.float32), t.translation.astype(np.float32)
        n = _merge_sweep_kernel(pts, rot, trans, float(lag), float(cfg.lidar_min_distance), out, n)
    return out[:n]


def _radar_filters(cfg: SampleConfig) -> dict[str, list[int]]:
    kw = {}
    if cfg.radar_invalid_states is not None:
        kw["invalid_states"] = list(cfg.radar_invalid_states)
    if cfg.radar_dynprop_states is not None:
        kw["dynprop_states"] = list(cfg.radar_dynprop_states)
    if cfg.radar_ambig_states is not None:
        kw["ambig_states"] = list(cfg.radar_ambig_states)
    return kw


def load_radar_channel(
    index: NuScenesIndex, key_token: str, ref_from_global: Transform, t_ref: int, cfg: SampleConfig
) -> np.ndarray:
    """One radar's sweeps (N, 7) float32: x, y, z, vx_comp, vy_comp (reference frame), rcs, time lag."""
    from sensorfuse.io.radar_pcd import read_radar_pcd

    parts = [np.zeros((0, 7), np.float32)]
    for tok in walk_sweeps(index, key_token, cfg.radar_sweeps):
        path = existing_file(index, tok)
        raw = np.asarray(read_radar_pcd(path, **_radar_filters(cfg)))  # type: ignore[arg-type]
        if raw.ndim != 2 or (len(raw) and raw.shape[1] != 18):
            raise DataError(
                path, f"radar reader returned shape {raw.shape}, expected (N, 18)", reason="corrupt"
            )
        if len(raw) == 0:
            continue
        cols = [_RADAR_X, _RADAR_X + 1, _RADAR_X + 2, _RADAR_VX_COMP, _RADAR_VY_COMP, _RADAR_RCS]
        _check_finite(raw[:, cols], path, "radar")
        t = ref_from_global @ global_from_sensor(index, tok)
        xyz = t.apply(raw[:, :3].astype(np.float64))
        vel = np.zeros((len(raw), 3))
        vel[:, :2] = raw[:, [_RADAR_VX_COMP, _RADAR_VY_COMP]]
        v_ref = t.rotate(vel)
        lag = np.full((len(raw), 1), (t_ref - index.sample_data[tok]["timestamp"]) * 1e-6)
        parts.append(
            np.concatenate([xyz, v_ref[:, :2], raw[:, _RADAR_RCS : _RADAR_RCS + 1], lag], axis=1).astype(
                np.float32
            )
        )
    return np.concatenate(parts, axis=0)
