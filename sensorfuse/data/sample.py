"""A keyframe of a nuScenes-format dataroot as a :class:`~sensorfuse.structures.SensorSample`.

Loading a keyframe is "pick the keyframe's messages, then assemble": the sample's ``data`` gives one
sample_data per sensor; each is checked to be within the sync tolerance of the reference sensor's
keyframe (``cfg.reference``, LIDAR_TOP); :func:`sensorfuse.data.assemble.assemble` does the rest, exactly
as for replay. A bad or missing sensor raises :class:`DataError` (``on_missing="raise"``) or, with
``on_missing="drop_sensor"``, is recorded in ``meta.missing[channel]`` as ``"<reason>: <detail>"``
(counted by :class:`~sensorfuse.data.accounting.MissingTally`) and left out.
"""

from __future__ import annotations

from sensorfuse.data.assemble import Guard, Selection, assemble
from sensorfuse.data.config import SampleConfig
from sensorfuse.errors import DataError
from sensorfuse.sources.nuscenes import NuScenesDrive, NuScenesIndex
from sensorfuse.structures import SensorSample
from sensorfuse.sync.core import Message, SyncPolicy


def nuscenes_drive(index: NuScenesIndex, cfg: SampleConfig, scene: str | None = None) -> NuScenesDrive:
    """The dataroot's :class:`NuScenesDrive` with the radar filters of ``cfg``."""
    filters = {
        "invalid_states": cfg.radar_invalid_states,
        "dynprop_states": cfg.radar_dynprop_states,
        "ambig_states": cfg.radar_ambig_states,
    }
    return NuScenesDrive(index, scene, {k: v for k, v in filters.items() if v is not None})


def _keyframe(
    drive: NuScenesDrive, sample_token: str, channel: str, ref: Message, cfg: SampleConfig
) -> Message:
    """The channel's keyframe message, checked to exist and to be within tolerance of the reference."""
    tok = drive.index.sample(sample_token)["data"].get(channel)
    if tok is None:
        raise DataError(
            sample_token, f"sample has no {channel} keyframe", f"data.{channel}", reason="no keyframe"
        )
    msg = drive.message(tok)
    tol = SyncPolicy(tolerance_us=dict(cfg.tolerance_us)).tolerance_for(channel, msg.modality)
    offset = msg.timestamp - ref.timestamp
    if abs(offset) > tol:
        raise DataError(
            tok,
            f"stale {channel}: {offset} µs from the {cfg.reference} keyframe (tolerance {tol} µs)",
            "timestamp",
            reason="stale",
        )
    return msg


def load_sample(
    index: NuScenesIndex,
    sample_token: str,
    cfg: SampleConfig | None = None,
    drive: NuScenesDrive | None = None,
) -> SensorSample:
    """LiDAR (``cfg.lidar_sweeps``), radar (``cfg.radars`` x ``cfg.radar_sweeps``), cameras and GT of a keyframe.

    Args:
        drive: the dataroot's drive (built from ``index`` and ``cfg`` when None; pass one to reuse it).

    Raises:
        DataError: unknown token, no reference-sensor keyframe (the reference frame), or (with
            ``on_missing="raise"``) any bad or missing sensor data, naming the file/token and the problem.
    """
    cfg = cfg or SampleConfig()
    drive = drive or nuscenes_drive(index, cfg)
    sample = index.sample(sample_token)
    ref_tok = sample["data"].get(cfg.reference)
    if ref_tok is None or ref_tok not in index.sample_data:
        raise DataError(
            sample_token,
            f"sample has no {cfg.reference} keyframe: the reference frame is undefined",
            f"data.{cfg.reference}",
            reason="no keyframe",
        )
    ref = drive.message(ref_tok)
    missing: dict[str, str] = {}
    guard = Guard(cfg, missing)
    chosen = {}
    for channel in cfg.channels_for(("lidar", "radar", "camera")):
        if channel in drive.sensors:
            msg = guard(channel, lambda c=channel: _keyframe(drive, sample_token, c, ref, cfg))  # type: ignore[misc]
            if msg is not None:
                chosen[channel] = msg
    sel = Selection(
        ref, chosen, sample_token=sample_token, scene_name=sample["scene"], ground_truth=cfg.load_gt
    )
    return assemble(drive, sel, cfg, missing)
