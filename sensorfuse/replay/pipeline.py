"""Replay a recorded scene: stream → causal frames → samples → model (or ground truth) → outputs.

For each trigger (every LiDAR sweep or every keyframe) the pipeline times, per frame, the stages ``sync``
(causal snapshot), ``load`` (reading and merging the chosen sensor data) and the model's stages, then writes
one JSONL line, a Rerun frame and an MP4 frame. Writing the visualisation is outside the timed frame.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorfuse.data.assemble import Selection, assemble
from sensorfuse.data.config import SampleConfig
from sensorfuse.errors import ConfigError
from sensorfuse.replay.frames import CausalFramer, Frame, Trigger, TriggerMode, make_triggers, schedule
from sensorfuse.replay.outputs import JsonlWriter, McapBoxesWriter, Mp4Writer
from sensorfuse.replay.records import frame_record
from sensorfuse.replay.render import bev_image, camera_tiles, mosaic_frame
from sensorfuse.replay.score import ScoreBoard, match_frame
from sensorfuse.replay.stream import Arrival, FaultPlan, Player, SceneStream, apply_faults, drive_stream
from sensorfuse.sources.base import Drive
from sensorfuse.structures import Boxes3D, SensorSample
from sensorfuse.sync.core import SyncPolicy
from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text
from sensorfuse.utils.timing import StageTimer, markdown_table

log = logging.getLogger(__name__)

#: ``predict(sample, timer) -> boxes``: runs the model's stages under the timer
#: (:meth:`sensorfuse.engine.runner.ModelRunner.predict_sample`).
Predictor = Callable[[SensorSample, StageTimer], Boxes3D]


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay and what to write (the CLI flags of ``sensorfuse replay``)."""

    out: Path
    speed: float = 1.0
    trigger: TriggerMode = "keyframe"
    faults: FaultPlan = field(default_factory=FaultPlan)
    sample: SampleConfig = field(default_factory=SampleConfig)
    max_frames: int | None = None
    mp4: bool = True
    rerun: bool = True
    mcap: bool = True
    min_score: float = 0.3
    device: str = "cpu"
    #: applied to every assembled frame (``--corrupt NAME:K``, :func:`sensorfuse.corrupt.catalog.live`)
    corrupt: Callable[[SensorSample], SensorSample] = field(default=lambda s: s)


@dataclass
class ReplaySummary:
    frames: int = 0
    keyframes: int = 0
    frames_with_missing: int = 0
    missing_counts: dict[str, int] = field(default_factory=dict)
    max_lag_s: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    score: dict[str, Any] | None = None
    latency: dict[str, Any] = field(default_factory=dict)


class _Outputs:
    """The optional writers of one replay, closed together (complete-or-absent each)."""

    def __init__(self, out: Path, opts: ReplayOptions, fps: float, name: str) -> None:
        self.jsonl = JsonlWriter(out / "detections.jsonl")
        self.mp4 = Mp4Writer(out / "replay.mp4", fps=fps) if opts.mp4 else None
        self.mcap = McapBoxesWriter(out / "detections.mcap") if opts.mcap else None
        self.rrd: Any = None
        if opts.rerun:
            from sensorfuse.replay.rerun_log import RerunRecorder

            self.rrd = RerunRecorder(out / "replay.rrd", recording_id=name)

    def writers(self) -> list[Any]:
        return [w for w in (self.jsonl, self.mp4, self.rrd, self.mcap) if w is not None]

    def close(self, ok: bool) -> None:
        for w in self.writers():
            if ok:
                w.close()
            else:
                w.abort()


def _visualise(
    outs: _Outputs, frame: Frame, sample: SensorSample, boxes: Boxes3D, latency: dict[str, float]
) -> None:
    gt = sample.gt
    pred = boxes if boxes is not gt else None
    lidar = sample.lidar.points if sample.lidar is not None else None
    radar = sample.radar.points if sample.radar is not None else None
    bev = bev_image(lidar, radar, pred, gt)
    if outs.mp4 is not None:
        lines = [
            f"{sample.meta.scene_name} frame {frame.trigger.index} t={frame.ref_time}",
            f"end to end {latency.get('end_to_end', 0.0):.0f} ms",
            *(f"MISSING {c}" for c in sample.meta.missing),
        ]
        outs.mp4.write(mosaic_frame(bev, camera_tiles(sample.cameras, pred, gt), lines))
    if outs.rrd is not None:
        rrd = outs.rrd
        rrd.set_time(frame.trigger.index, frame.ref_time)
        rrd.log_points(lidar, radar)
        rrd.log_boxes(pred, gt)
        rrd.log_cameras(sample.cameras, pred, gt)
        rrd.log_bev(bev)
        rrd.log_latency({k: v for k, v in latency.items() if k != "end_to_end"}, latency.get("end_to_end"))
        rrd.log_status(sample.meta.missing)


class _Arrived:
    """Per-channel timestamps of the messages pushed so far (what a consumer has received)."""

    def __init__(self) -> None:
        self.times: dict[str, set[int]] = defaultdict(set)

    def add(self, a: Arrival) -> None:
        self.times[a.message.channel].add(int(a.message.timestamp))


def _process(
    frame_fn: Callable[[], Frame],
    load_fn: Callable[[Frame], SensorSample],
    predict: Predictor | None,
    timer: StageTimer,
    min_score: float,
) -> tuple[Frame, SensorSample, Boxes3D, dict[str, float]]:
    """One timed frame: sync → load → model (or GT)."""
    with timer.frame() as stages:
        with timer.stage("sync"):
            frame = frame_fn()
        with timer.stage("load"):
            sample = load_fn(frame)
        if predict is not None:
            boxes = predict(sample, timer)
            boxes = boxes.select(boxes.scores >= min_score)
        else:
            boxes = sample.gt if sample.gt is not None else Boxes3D.empty()
    latency = dict(stages)
    latency["end_to_end"] = timer.totals_ms[-1]
    return frame, sample, boxes, latency


def _fps(triggers: list[Trigger]) -> float:
    if len(triggers) < 2:
        return 2.0
    span = (triggers[-1].arrival_us - triggers[0].arrival_us) / 1e6
    return max(1.0, round((len(triggers) - 1) / span, 2)) if span > 0 else 2.0


def _summarise(
    summary: ReplaySummary,
    timer: StageTimer,
    board: ScoreBoard | None,
    out: Path,
    opts: ReplayOptions,
    name: str,
) -> None:
    timing = timer.summary(meta={"scene": name, "trigger": opts.trigger, "device": opts.device})
    summary.latency = timing.as_dict()
    summary.score = board.summary() if board is not None and board.frames else None
    atomic_write_json(out / "latency.json", summary.latency, indent=2)
    atomic_write_text(out / "latency.md", markdown_table({name: timing}))
    body = {k: v for k, v in summary.__dict__.items() if k != "latency"}
    body["faults"] = opts.faults.describe()
    body["recording"] = name
    atomic_write_json(out / "summary.json", body, indent=2)


def frame_sample(
    drive: Drive, frame: Frame, arrived: Mapping[str, Collection[int]], cfg: SampleConfig
) -> SensorSample:
    """The sample of a causal frame: exactly the messages it chose (and their arrived history)."""
    token = frame.trigger.sample_token or ""
    sel = Selection(
        ref=frame.trigger.clock,
        chosen=frame.sync.chosen,
        arrived=arrived,
        sample_token=token,
        scene_name=drive.name,
        ground_truth=cfg.load_gt and bool(token),
    )
    return assemble(drive, sel, cfg, frame.sync.missing)


def run_replay(opts: ReplayOptions, drive: Drive, predict: Predictor | None = None) -> ReplaySummary:
    """Replay a recording; with ``predict`` None the ground truth is shown (``--no-model``)."""
    stream: SceneStream = drive_stream(drive)
    opts.faults.check(stream.channels, drive.name)
    triggers = make_triggers(stream, opts.trigger, opts.sample.reference)
    if opts.max_frames is not None:
        if opts.max_frames < 1:
            raise ConfigError(f"--max-frames: expected >= 1, got {opts.max_frames}")
        triggers = triggers[: opts.max_frames]
    events = schedule(apply_faults(stream.messages, opts.faults), triggers)
    events = [e for e in events if e.arrival_us <= triggers[-1].arrival_us]
    policy = SyncPolicy(mode="causal", tolerance_us=dict(opts.sample.tolerance_us))
    framer, arrived = CausalFramer(stream.channels, policy), _Arrived()
    timer, board = StageTimer(opts.device), ScoreBoard() if predict is not None else None
    summary = ReplaySummary()
    opts.out.mkdir(parents=True, exist_ok=True)
    outs = _Outputs(opts.out, opts, _fps(triggers), drive.name)
    ok = False
    try:
        player = Player(events, speed=opts.speed)
        for ev in player:
            if isinstance(ev, Arrival):
                framer.push(ev)
                arrived.add(ev)
                continue
            frame, sample, boxes, latency = _process(
                lambda ev=ev: framer.assemble(ev),  # type: ignore[misc]
                lambda f: opts.corrupt(frame_sample(drive, f, arrived.times, opts.sample)),
                predict, timer, opts.min_score,
            )  # fmt: skip
            score = None
            if board is not None and sample.gt is not None:
                counts = match_frame(boxes, sample.gt)
                board.add(counts)
                score = {k: {"tp": c.tp, "fp": c.fp, "fn": c.fn} for k, c in counts.items()}
            source = "model" if predict is not None else "ground_truth"
            outs.jsonl.write(frame_record(frame, sample, boxes, source, stream.start_us, latency, score))
            if outs.mcap is not None:
                outs.mcap.write(sample, boxes)
            _visualise(outs, frame, sample, boxes, latency)
            summary.frames += 1
            summary.keyframes += int(frame.trigger.is_key_frame)
            summary.frames_with_missing += int(bool(sample.meta.missing))
            for ch in sample.meta.missing:
                summary.missing_counts[ch] = summary.missing_counts.get(ch, 0) + 1
        summary.max_lag_s = player.lag_s
        ok = True
    finally:
        outs.close(ok)
    summary.outputs = {w.path.name: str(w.path) for w in outs.writers() if w.path.exists()}
    _summarise(summary, timer, board, opts.out, opts, drive.name)
    log.info("replayed %d frames of %s: %s", summary.frames, drive.name, json.dumps(summary.outputs))
    return summary
