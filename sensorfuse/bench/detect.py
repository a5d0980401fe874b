"""Synthetic detection benchmark: one fixed generated world, every sensor setup and fuser trained with the
same CPU budget, all scored by the official nuScenes devkit.

    python -m sensorfuse.bench.detect --out docs/bench/detect            # the recorded benchmark (~2.3 h on 2 cores)
    python -m sensorfuse.bench.detect --out /tmp/bd --quick              # a smoke run (minutes)

Each variant is a plain ``sensorfuse train`` + ``sensorfuse evaluate`` subprocess (the exact commands are
printed and written to ``commands.txt``), run in ``--work``; a variant whose ``eval/metrics_summary.json``
exists is skipped, and an interrupted training resumes from its last checkpoint — but only if the run's saved
``config.yaml`` equals what the benchmark would train now (and the world was generated with the same
parameters): otherwise it stops with an error instead of mixing, say, 400- and 800-step results in one
table. The output folder gets ``detect.md`` (tables + target checks) and ``detect.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sensorfuse.errors import ConfigError
from sensorfuse.utils.atomic import atomic_write_json, atomic_write_text

CONFIG = "sensorfuse/configs/synth_small.yaml"
NO_DROPOUT = [f"model.dropout.{k}=0.0" for k in ("lidar", "camera", "radar", "single_camera", "radar_sweep")]


@dataclass(frozen=True)
class Variant:
    name: str
    sensors: tuple[str, ...]
    fuser: str
    dropout: bool = False

    def overrides(self) -> list[str]:
        out = [f"model.sensors=[{','.join(self.sensors)}]", f"model.fuser.kind={self.fuser}"]
        return out if self.dropout else out + NO_DROPOUT


VARIANTS = (
    Variant("lidar_only", ("lidar",), "concat"),
    Variant("camera_only", ("camera",), "concat"),
    Variant("radar_only", ("radar",), "concat"),
    Variant("lidar+camera", ("lidar", "camera"), "transformer"),
    Variant("lidar+radar", ("lidar", "radar"), "transformer"),
    Variant("camera+radar", ("camera", "radar"), "transformer"),
    Variant("concat", ("lidar", "camera", "radar"), "concat"),
    Variant("late", ("lidar", "camera", "radar"), "late"),
    Variant("gated", ("lidar", "camera", "radar"), "gated"),
    Variant("transformer", ("lidar", "camera", "radar"), "transformer"),
    Variant("transformer+dropout", ("lidar", "camera", "radar"), "transformer", dropout=True),
)
SINGLE = ("lidar_only", "camera_only", "radar_only")
SIMPLER_FUSERS = ("concat", "late", "gated")
#: sensor subset left after losing one sensor → the specialist trained on exactly that subset
SPECIALIST = {"camera+radar": "camera+radar", "lidar+radar": "lidar+radar", "lidar+camera": "lidar+camera"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", type=Path, default=Path("docs/bench/detect"), help="tables (detect.md, detect.json)"
    )
    p.add_argument("--work", type=Path, default=Path("runs/bench-detect"), help="world, checkpoints, evals")
    p.add_argument("--steps", type=int, default=800, help="training steps per variant (same for all)")
    p.add_argument("--scenes", type=int, default=14, help="scenes in the generated world")
    p.add_argument("--val-scenes", type=int, default=4)
    p.add_argument("--scene-seconds", type=float, default=8.0)
    p.add_argument("--seed", type=int, default=2026, help="world seed (the world is fixed by it)")
    p.add_argument(
        "--train-seeds",
        default="0,1",
        help="comma-separated training seeds: each variant is trained once per seed and scored by the mean",
    )
    p.add_argument(
        "--variants", default=None, help="comma-separated subset of: " + ",".join(v.name for v in VARIANTS)
    )
    p.add_argument("--quick", action="store_true", help="smoke run: tiny world, 3 variants, 4 steps")
    p.add_argument(
        "--allow-code-change",
        action="store_true",
        help="reuse earlier runs even where the package's code differs from the code that trained them"
        " (for changes known not to alter results); by default such runs are refused",
    )
    p.add_argument(
        "--extra", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every training run"
    )


def _run(cmd: list[str], log: Path) -> None:
    print("$ " + shlex.join(cmd), flush=True)
    with log.open("a") as f:
        f.write(shlex.join(cmd) + "\n")
    subprocess.run(cmd, check=True)


def make_world(args: argparse.Namespace, root: Path) -> tuple[Path, str]:
    from sensorfuse.synth import SynthConfig, generate

    version = "v1.0-trainval"
    params = {
        "seed": args.seed,
        "scenes": args.scenes,
        "val_scenes": args.val_scenes,
        "scene_seconds": args.scene_seconds,
    }
    stamp = root / "bench_world.json"
    if not (root / version / "sample.json").is_file():
        cfg = SynthConfig(version=version, **params)
        generate(root, cfg)
        atomic_write_json(stamp, params)
    # a world from an earlier run is reused only if it was made with the same parameters
    if stamp.is_file():
        have = json.loads(stamp.read_text())
    else:  # worlds made before the stamp existed: the scene count is what can be checked
        have = {**params, "scenes": len(json.loads((root / version / "scene.json").read_text()))}
    diffs = [
        f"{k}: world has {have.get(k)!r}, benchmark wants {v!r}"
        for k, v in params.items()
        if have.get(k) != v
    ]
    if diffs:
        raise ConfigError(
            f"{root}: this world was generated with other parameters ({'; '.join(diffs)}). "
            "Use a fresh --work folder, or delete the world folder to regenerate it."
        )
    return root, version


def _work_dir(v: Variant, args: argparse.Namespace, seed: int) -> Path:
    name = v.name.replace("+", "_")
    return args.work / (name if seed == 0 else f"{name}-seed{seed}")


def _finished(v: Variant, args: argparse.Namespace, seed: int) -> bool:
    return (_work_dir(v, args, seed) / "eval" / "metrics_summary.json").is_file()


def _train_overrides(v: Variant, args: argparse.Namespace, root: Path, version: str, seed: int) -> list[str]:
    return [
        f"data.dataroot={root}",
        f"data.version={version}",
        "data.train_split=train",
        "data.val_split=val",
        f"optim.max_steps={args.steps}",
        f"runtime.seed={seed}",
        f"runtime.out_dir={_work_dir(v, args, seed) / 'train'}",
        "runtime.progress=false",
        *v.overrides(),
        *args.extra,
    ]


#: settings that say where a run's files live, not what it learned: a --work folder may be moved
_WHERE_KEYS = frozenset({"data.dataroot", "runtime.out_dir"})


def check_reuse(saved: Path, expected: list[str]) -> None:
    """Refuse to reuse a variant's earlier run (finished or resumable) that was trained with another config.

    ``saved`` is the run's ``config.yaml``; ``expected`` the overrides this benchmark would train it with.
    Fuser fields the variant's fuser kind does not read (``fuser.layers`` for concat) are not compared: they
    cannot change what it learned (:data:`~sensorfuse.models.build.FUSER_FIELDS`).
    Without this, changing ``--steps`` (or the config file) in an existing ``--work`` would silently mix old
    and new results in one table.
    """
    from sensorfuse.engine.config import config_from_dict, config_to_yaml, load_config
    from sensorfuse.models.build import unread_fuser_fields
    from sensorfuse.utils.yaml_io import read_yaml

    # read through the config classes: a key added since the run was trained takes its default, not a diff
    have = yaml.safe_load(config_to_yaml(config_from_dict(read_yaml(saved, "saved run config"), str(saved))))
    want = yaml.safe_load(config_to_yaml(load_config(CONFIG, expected)))
    kind = want["model"]["fuser"]["kind"]
    inert = {f"model.fuser.{f}" for f in unread_fuser_fields(kind)}
    diffs, ignored = [], []
    for k, a, b in _diff(have, want):
        if k in inert:
            ignored.append(k)
        elif k not in _WHERE_KEYS:
            diffs.append(f"{k}: run has {a!r}, benchmark wants {b!r}")
    if diffs:
        raise ConfigError(
            f"{saved}: this run was trained with another config than the benchmark asks for "
            f"({'; '.join(diffs[:5])}{' ...' if len(diffs) > 5 else ''}). "
            f"Use a fresh --work folder, or delete {saved.parent.parent} to retrain this variant."
        )
    if ignored:
        print(
            f"note: reusing {saved.parent}: {', '.join(ignored)} differ, but a {kind} fuser does not read them"
        )


def check_code(train_dir: Path, allow_change: bool) -> None:
    """Refuse to reuse a run trained by other code than the current checkout's (same config, other fuser...).

    Runs from before provenance was recorded cannot be checked: reused, with a note.
    """
    from sensorfuse.engine.provenance import stale_files

    stale = stale_files(train_dir)
    if stale is None:
        print(f"note: {train_dir} has no provenance.json (trained before it was recorded): code not checked")
    elif stale and not allow_change:
        raise ConfigError(
            f"{train_dir}: this run was trained by other code than the current checkout's (changed since: "
            f"{', '.join(stale[:6])}{' ...' if len(stale) > 6 else ''}). Use a fresh --work folder, delete "
            f"{train_dir.parent} to retrain this variant, or pass --allow-code-change if the change cannot "
            "alter its results."
        )
    elif stale:
        print(f"note: reusing {train_dir} across code changes ({', '.join(stale)}): --allow-code-change")


def _diff(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, a's value, b's value) for every leaf where two nested dicts differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [(prefix.rstrip("."), a, b)]


def run_variant(
    v: Variant, args: argparse.Namespace, root: Path, version: str, cmds: Path, seed: int
) -> dict[str, Any]:
    """Train + evaluate one variant with one training seed (skipping finished parts); its evaluation rows."""
    work = _work_dir(v, args, seed)
    summary_path = work / "eval" / "metrics_summary.json"
    overrides = _train_overrides(v, args, root, version, seed)
    if (work / "train" / "config.yaml").is_file():
        check_reuse(work / "train" / "config.yaml", overrides)
        check_code(work / "train", args.allow_code_change)
    if not summary_path.is_file():
        ckpt_dir = work / "train" / "checkpoints"
        train = [sys.executable, "-m", "sensorfuse", "train", "--config", CONFIG, *overrides]
        t0 = time.perf_counter()
        _run(train + (["--resume"] if (ckpt_dir / "last.pt").is_file() else []), cmds)
        train_s = time.perf_counter() - t0
        ev = [
            sys.executable,
            "-m",
            "sensorfuse",
            "evaluate",
            "--checkpoint",
            str(ckpt_dir / "last.pt"),
            "--dataroot",
            str(root),
            "--version",
            version,
            "--split",
            "val",
            "--out",
            str(work / "eval"),
            "--no-plots",
        ]
        _run(ev + (["--robustness"] if v.dropout else []), cmds)
        atomic_write_json(work / "timing.json", {"train_seconds": train_s})
    timing = json.loads((work / "timing.json").read_text()) if (work / "timing.json").is_file() else {}
    rows = {"+".join(v.sensors): _headline(json.loads(summary_path.read_text()))}
    rob = work / "eval" / "robustness.json"
    if rob.is_file():
        rows |= {k: _headline(s) for k, s in json.loads(rob.read_text()).items()}
    return {"rows": rows, **timing}


def mean_over_seeds(name: str, per_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One variant's result: rows averaged over its seeds (mAP, NDS, TP errors), plus the per-seed values."""
    rows: dict[str, Any] = {}
    for row in next(iter(per_seed.values()))["rows"]:
        runs = [r["rows"][row] for r in per_seed.values() if row in r["rows"]]
        rows[row] = {
            "mAP": sum(r["mAP"] for r in runs) / len(runs),
            "NDS": sum(r["NDS"] for r in runs) / len(runs),
            "NDS_per_seed": [r["NDS"] for r in runs],
            "tp_errors": {k: sum(r["tp_errors"][k] for r in runs) / len(runs) for k in runs[0]["tp_errors"]},
        }
    seconds = [r["train_seconds"] for r in per_seed.values() if "train_seconds" in r]
    return {
        "variant": name,
        "seeds": sorted(per_seed),
        "rows": rows,
        "train_seconds": sum(seconds) / len(seconds) if seconds else 0.0,
        "per_seed": {str(k): r for k, r in per_seed.items()},
    }


def _headline(s: dict[str, Any]) -> dict[str, Any]:
    return {"mAP": float(s["mean_ap"]), "NDS": float(s["nd_score"]), "tp_errors": s["tp_errors"]}


def checks(res: dict[str, dict[str, Any]]) -> list[str]:
    """The benchmark's targets, each as a PASS/FAIL/n/a line."""

    def nds(name: str, row: str | None = None) -> float | None:
        if name not in res:
            return None
        rows = res[name]["rows"]
        picked = rows.get(row) if row else next(iter(rows.values()), None)
        return None if picked is None else float(picked["NDS"])

    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4f}"

    out = []
    t = nds("transformer")
    for other in (*SINGLE, *SIMPLER_FUSERS):
        o = nds(other)
        ok = "n/a" if t is None or o is None else ("PASS" if t > o else "FAIL")
        out.append(f"- transformer NDS > {other} NDS: {ok} ({f(t)} vs {f(o)})")
    for subset, spec in SPECIALIST.items():
        d = nds("transformer+dropout", subset) if "transformer+dropout" in res else None
        s = nds(spec)
        ok = "n/a" if d is None or s is None else ("PASS" if d >= 0.9 * s else "FAIL")
        out.append(
            f"- transformer+dropout with only {subset} ≥ 90% of the {spec} specialist's NDS: {ok} ({f(d)} vs {f(s)})"
        )
    return out


def _per_seed(row: dict[str, Any]) -> str:
    return ", ".join(f"{x:.4f}" for x in row.get("NDS_per_seed", [row["NDS"]]))


def write_tables(res: dict[str, dict[str, Any]], args: argparse.Namespace, out: Path) -> str:
    lines = [
        "# Synthetic detection benchmark",
        "",
        f"World: `sensorfuse.synth` seed {args.seed}, {args.scenes} scenes ({args.val_scenes} val) of "
        f"{args.scene_seconds} s; every variant: `{CONFIG}`, {args.steps} steps, CPU. Scores: official devkit "
        "(`detection_cvpr_2019`) on the val split.",
        "",
        f"Training seeds: {args.train_seeds}; mAP and NDS are means over the seeds, the per-seed NDS beside them.",
        "",
        "| variant | sensors | mAP | NDS | NDS per seed | train time per seed (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in res.items():
        sensors, row = next(iter(r["rows"].items()))
        lines.append(
            f"| {name} | {sensors} | {row['mAP']:.4f} | {row['NDS']:.4f} | {_per_seed(row)} "
            f"| {r.get('train_seconds', 0):.0f} |"
        )
    if "transformer+dropout" in res:
        lines += [
            "",
            "Transformer trained with sensor dropout, evaluated with degraded sensors:",
            "",
            "| setting | mAP | NDS | NDS per seed |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {k} | {v['mAP']:.4f} | {v['NDS']:.4f} | {_per_seed(v)} |"
            for k, v in res["transformer+dropout"]["rows"].items()
        ]
    lines += ["", "Targets:", "", *checks(res), "", "Commands: see `commands.txt`.", ""]
    text = "\n".join(lines)
    atomic_write_text(out / "detect.md", text)
    atomic_write_json(out / "detect.json", res, indent=1)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(p)
    args = p.parse_args(argv)
    names = [v.name for v in VARIANTS]
    wanted = args.variants.split(",") if args.variants else names
    if args.quick:
        args.scenes, args.val_scenes, args.scene_seconds, args.steps = 3, 1, 3.0, min(args.steps, 4)
        args.train_seeds = "0"
        wanted = (
            args.variants.split(",")
            if args.variants
            else ["lidar_only", "transformer", "transformer+dropout"]
        )
    unknown = [w for w in wanted if w not in names]
    if unknown:
        p.error(f"unknown variant(s) {unknown}; expected some of {names}")
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    root, version = make_world(args, args.work / "world")
    cmds = args.out / "commands.txt"
    try:
        seeds = [int(x) for x in args.train_seeds.split(",")]
    except ValueError:
        p.error(f"--train-seeds must be comma-separated integers, got {args.train_seeds!r}")
    # variants asked for now, plus every variant an earlier (resumed) run already finished for these seeds
    res = {}
    for v in VARIANTS:
        asked = v.name in wanted
        if not (asked or all(_finished(v, args, k) for k in seeds)):
            continue
        try:
            res[v.name] = mean_over_seeds(
                v.name, {k: run_variant(v, args, root, version, cmds, k) for k in seeds}
            )
        except ConfigError as exc:
            if asked:
                raise
            # not asked for: a stale earlier run is left out of the table, not a reason to stop
            print(f"note: {v.name} left out of the table: {exc}")
    print(write_tables(res, args, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
