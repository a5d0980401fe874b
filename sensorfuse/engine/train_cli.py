"""``sensorfuse train --config CFG.yaml [--resume] [key=value ...]`` (multi-GPU: ``torchrun --nproc_per_node N
-m sensorfuse train ...``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="YAML config (e.g. sensorfuse/configs/synth_small.yaml)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the latest checkpoint in runtime.out_dir/checkpoints",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. optim.lr=1e-3 runtime.out_dir=runs/x",
    )


def run(args: argparse.Namespace) -> int:
    from sensorfuse.engine.config import load_config
    from sensorfuse.engine.train import train

    cfg = load_config(args.config, args.overrides)
    result = train(cfg, resume=bool(args.resume))
    losses = " ".join(f"{k}={v:.4f}" for k, v in sorted(result.last_losses.items()))
    print(f"trained to step {result.step}: {losses}; checkpoint {result.checkpoint}")
    if result.dropped is not None:  # also in <out_dir>/summary.json
        print(f"sensors {result.dropped.summary_line()}")
    return 0
