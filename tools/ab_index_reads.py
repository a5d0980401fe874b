"""The index's records read with ``pread`` (the default) against the same records read through the mapping, in
one process, interleaved: what reading without a mapping costs per sample (``docs/scale.md`` §4).

    .venv/bin/python tools/ab_index_reads.py datasets/synth-tv850 [--version v1.0-trainval] [--items 300] [--rounds 2]

Each round loads the same shuffled train keyframes as index items (``bench.scale.IndexItems``: the real
assembly, 1-point payloads) once per way of reading, each after 20 items of warm-up on a fresh ``NuScenesIndex``
(the records kept per table start empty), and prints ms per item and the growth of the process's RssFile.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from sensorfuse.bench.scale import IndexItems
from sensorfuse.sources.nuscenes.index import NuScenesIndex


def _rss_file_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _time(dataroot: str, version: str, tokens: list[str], mapped: bool) -> tuple[float, float]:
    index = NuScenesIndex(dataroot, version, progress=False)
    if mapped:  # the same columns, records built from the memory-mapped arrays
        index._attach(index.columns.a, None, index.columns.meta)
    items = IndexItems(index, tokens)
    for i in range(min(20, len(tokens))):
        items[i]
    rss, t = _rss_file_mb(), time.perf_counter()
    for i in range(len(tokens)):
        items[i]
    return (time.perf_counter() - t) / len(tokens) * 1e3, _rss_file_mb() - rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataroot")
    ap.add_argument("--version", default="v1.0-trainval")
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--split", default="train")
    args = ap.parse_args()
    tokens = NuScenesIndex(args.dataroot, args.version, progress=False).split_tokens(args.split)
    tokens = random.Random(0).sample(tokens, min(args.items, len(tokens)))
    for r in range(args.rounds):
        for name, mapped in (("pread", False), ("mapping", True)):
            ms, grew = _time(args.dataroot, args.version, tokens, mapped)
            print(f"round {r} {name:8s} {ms:6.2f} ms per item  RssFile {grew:+7.1f} MB")


if __name__ == "__main__":
    main()
