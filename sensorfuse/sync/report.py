"""Sync report over a nuScenes dataroot: per-sensor offsets to the LIDAR_TOP keyframe, gaps, ordering.

Reads the JSON tables directly (no devkit), so it also works on a dataset the devkit refuses to load.
For every scene and channel:

* **keyframe offset**: ``keyframe_sd.timestamp - sample.timestamp`` (the LIDAR_TOP keyframe time), µs;
* **nearest offset**: offset of the channel's nearest message (keyframe or sweep) to the keyframe;
* **gaps**: consecutive messages further apart than ``gap_factor`` × the channel's median period;
* **out of order**: steps of the ``prev``/``next`` chain whose timestamp does not increase, and
  chain breaks (a ``next`` token that does not exist, or a chain that does not cover every record).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sensorfuse.errors import DataError
from sensorfuse.io.tables import by_token, load_table
from sensorfuse.sync.core import Message, SyncPolicy, synchronize


@dataclass
class ChannelStats:
    """Accumulated numbers of one channel (over the selected scenes)."""

    modality: str = ""
    key_offsets: list[int] = field(default_factory=list)
    nearest_offsets: list[int] = field(default_factory=list)
    missing_keyframes: int = 0
    messages: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    periods: list[int] = field(default_factory=list)
    out_of_order: list[dict[str, Any]] = field(default_factory=list)
    chain_breaks: list[dict[str, Any]] = field(default_factory=list)


def _offset_stats(values: list[int]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "mean_us": None, "std_us": None, "min_us": None, "max_us": None, "p95_abs_us": None}
    a = np.asarray(values, dtype=np.float64)
    return {
        "n": len(values),
        "mean_us": round(float(a.mean()), 1),
        "std_us": round(float(a.std()), 1),
        "min_us": int(a.min()),
        "max_us": int(a.max()),
        "p95_abs_us": round(float(np.percentile(np.abs(a), 95)), 1),
    }


def _chain_check(st: ChannelStats, recs: list[dict[str, Any]], scene: str) -> None:
    """Walk the prev/next chain of one channel in one scene; record decreasing steps and breaks."""
    tokens = {r["token"]: r for r in recs}
    heads = [r for r in recs if r.get("prev", "") not in tokens]
    seen = 0
    for head in heads:
        cur: dict[str, Any] | None = head
        while cur is not None and seen <= len(recs):
            seen += 1
            nxt_tok = cur.get("next", "")
            if not nxt_tok:
                break
            nxt = tokens.get(nxt_tok)
            if nxt is None:
                st.chain_breaks.append(
                    {"scene": scene, "token": cur["token"], "problem": f"next {nxt_tok!r} not found"}
                )
                break
            if int(nxt["timestamp"]) <= int(cur["timestamp"]):
                st.out_of_order.append(
                    {
                        "scene": scene,
                        "token": nxt["token"],
                        "prev_timestamp": int(cur["timestamp"]),
                        "timestamp": int(nxt["timestamp"]),
                    }
                )
            cur = nxt
    if len(heads) != 1 or seen != len(recs):
        st.chain_breaks.append(
            {
                "scene": scene,
                "token": "",
                "problem": f"{len(heads)} chain heads, chain covers {seen} of {len(recs)} records",
            }
        )


def _gap_check(st: ChannelStats, recs: list[dict[str, Any]], scene: str, gap_factor: float) -> None:
    times = np.sort(np.asarray([int(r["timestamp"]) for r in recs], dtype=np.int64))
    if len(times) < 3:
        return
    dt = np.diff(times)
    period = float(np.median(dt))
    st.periods.append(int(period))
    for i in np.flatnonzero(dt > gap_factor * max(period, 1.0)):
        st.gaps.append(
            {
                "scene": scene,
                "after_timestamp": int(times[i]),
                "gap_us": int(dt[i]),
                "median_period_us": int(period),
            }
        )


def _scene_offsets(
    st: ChannelStats, recs: list[dict[str, Any]], samples: list[dict[str, Any]], channel: str
) -> None:
    ordered = sorted(recs, key=lambda r: int(r["timestamp"]))
    msgs = [
        Message(channel, int(r["timestamp"]), r["token"], bool(r["is_key_frame"]), r["filename"], st.modality)
        for r in ordered
    ]
    keyframes = {r["sample_token"]: r for r in recs if r.get("is_key_frame")}
    policy = SyncPolicy(mode="nearest", tolerance_us={}, default_tolerance_us=10**12)
    for s in samples:
        ref = int(s["timestamp"])
        kf = keyframes.get(s["token"])
        if kf is None:
            st.missing_keyframes += 1
        else:
            st.key_offsets.append(int(kf["timestamp"]) - ref)
        res = synchronize(ref, {channel: msgs}, policy)
        if channel in res.offsets_us:
            st.nearest_offsets.append(res.offsets_us[channel])


def build_sync_report(
    dataroot: str | Path, version: str, scene: str | None = None, gap_factor: float = 1.5
) -> dict[str, Any]:
    """Sync statistics of a dataroot (optionally one scene by name) as a JSON-ready dict."""
    scenes = load_table(dataroot, version, "scene")
    if scene is not None:
        scenes = [s for s in scenes if s["name"] == scene]
        if not scenes:
            raise DataError(Path(dataroot) / version / "scene.json", f"no scene named {scene!r}", "name")
    samples = load_table(dataroot, version, "sample")
    sensors = by_token(load_table(dataroot, version, "sensor"))
    calibs = by_token(load_table(dataroot, version, "calibrated_sensor"))
    sample_scene = {s["token"]: s["scene_token"] for s in samples}
    per_scene: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    modality: dict[str, str] = {}
    for sd in load_table(dataroot, version, "sample_data"):
        sensor = sensors[calibs[sd["calibrated_sensor_token"]]["sensor_token"]]
        modality[sensor["channel"]] = sensor["modality"]
        per_scene[sample_scene.get(sd["sample_token"], "")][sensor["channel"]].append(sd)
    stats: dict[str, ChannelStats] = {c: ChannelStats(modality=m) for c, m in sorted(modality.items())}
    by_scene: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        by_scene[s["scene_token"]].append(s)
    for sc in tqdm(scenes, desc="sync-report", disable=len(scenes) < 20):
        sc_samples = sorted(by_scene[sc["token"]], key=lambda s: s["timestamp"])
        for channel, st in stats.items():
            recs = per_scene[sc["token"]].get(channel, [])
            st.messages += len(recs)
            _scene_offsets(st, recs, sc_samples, channel)
            _gap_check(st, recs, sc["name"], gap_factor)
            if recs:
                _chain_check(st, recs, sc["name"])
    return _summarise(stats, [s["name"] for s in scenes], dataroot, version, gap_factor)


def _summarise(
    stats: dict[str, ChannelStats],
    scene_names: list[str],
    dataroot: str | Path,
    version: str,
    gap_factor: float,
) -> dict[str, Any]:
    channels = {}
    for ch, st in stats.items():
        channels[ch] = {
            "modality": st.modality,
            "messages": st.messages,
            "keyframe_offset": _offset_stats(st.key_offsets),
            "nearest_offset": _offset_stats(st.nearest_offsets),
            "missing_keyframes": st.missing_keyframes,
            "median_period_us": int(np.median(st.periods)) if st.periods else None,
            "gaps": len(st.gaps),
            "max_gap_us": max((g["gap_us"] for g in st.gaps), default=None),
            "out_of_order": len(st.out_of_order),
            "chain_breaks": len(st.chain_breaks),
            "details": {
                "gaps": st.gaps[:50],
                "out_of_order": st.out_of_order[:50],
                "chain_breaks": st.chain_breaks[:50],
            },
        }
    return {
        "dataroot": str(dataroot),
        "version": version,
        "scenes": scene_names,
        "gap_factor": gap_factor,
        "channels": channels,
    }


def _fmt(v: float | int | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.1f}"


def report_markdown(report: dict[str, Any]) -> str:
    """A Markdown table of a :func:`build_sync_report` result (offsets in ms)."""
    lines = [
        f"# Sync report: {report['version']} ({len(report['scenes'])} scenes)",
        "",
        "Offsets are `timestamp - LIDAR_TOP keyframe timestamp`, in ms.",
        "",
        "| channel | msgs | period ms | key mean | key std | key min | key max | key p95 abs | nearest p95 abs"
        " | missing kf | gaps | max gap ms | out of order | chain breaks |",
        "|---|" + "---:|" * 13,
    ]
    for ch, c in report["channels"].items():
        k, n = c["keyframe_offset"], c["nearest_offset"]
        lines.append(
            f"| {ch} | {c['messages']} | {_fmt(c['median_period_us'])} | {_fmt(k['mean_us'])} | {_fmt(k['std_us'])}"
            f" | {_fmt(k['min_us'])} | {_fmt(k['max_us'])} | {_fmt(k['p95_abs_us'])} | {_fmt(n['p95_abs_us'])}"
            f" | {c['missing_keyframes']} | {c['gaps']} | {_fmt(c['max_gap_us'])} | {c['out_of_order']} | {c['chain_breaks']} |"
        )
    return "\n".join(lines) + "\n"
