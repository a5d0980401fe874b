"""``sensorfuse export onnx``: per-stage ONNX graphs of a trained detector (docs/deploy.md).

Examples::

    sensorfuse export onnx --checkpoint runs/demo/train/checkpoints/last.pt --out runs/demo/onnx
    sensorfuse export onnx --checkpoint C --out DIR --dataroot datasets/synth-mini --split mini_val --samples 4

Also :func:`add_runtime_arguments`: the ``--runtime`` options that ``replay`` and ``bench latency`` share.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sensorfuse.deploy import ORT_OPT_LEVELS, RUNTIMES


def add_onnx_arguments(onnx: argparse.ArgumentParser) -> None:
    """The options of ``sensorfuse export onnx`` (the ``export`` command itself: :mod:`sensorfuse.export_cli`)."""
    onnx.add_argument(
        "--checkpoint", type=Path, required=True, help="training checkpoint (weights_only load)"
    )
    onnx.add_argument("--out", type=Path, required=True, help="output folder: *.onnx + manifest.json")
    onnx.add_argument(
        "--dataroot", type=Path, default=None,
        help="check the graphs on real keyframes of this dataset (default: synthetic samples)",
    )  # fmt: skip
    onnx.add_argument("--version", default="v1.0-mini", help="table folder of --dataroot")
    onnx.add_argument("--split", default="mini_val", help="split of --dataroot to take samples from")
    onnx.add_argument("--samples", type=int, default=3, help="samples the graphs are checked on (>= 1)")
    onnx.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    onnx.add_argument(
        "--attention", choices=("mha", "onnx"), default="mha",
        help="the fuser's attention as ONNX Runtime's fused MultiHeadAttention (default) or standard ONNX ops",
    )  # fmt: skip
    onnx.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")


def add_runtime_arguments(parser: argparse.ArgumentParser, several: bool = False) -> None:
    """``--runtime`` and the ONNX Runtime settings (``sensorfuse replay`` and ``sensorfuse bench latency``)."""
    parser.add_argument(
        "--runtime", default="eager", metavar="NAME" + ("[,NAME...]" if several else ""),
        help=f"runtime of the network stages: {', '.join(RUNTIMES)}"
        + (" (comma-separated: compared side by side in one run)" if several else ""),
    )  # fmt: skip
    parser.add_argument(
        "--onnx", type=Path, default=None, metavar="DIR",
        help="graphs from `sensorfuse export onnx` for onnxruntime/tensorrt (default: exported on the fly)",
    )  # fmt: skip
    parser.add_argument(
        "--ort-threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: torch's)"
    )
    parser.add_argument(
        "--ort-opt", choices=ORT_OPT_LEVELS, default="all", help="ONNX Runtime graph optimisation level"
    )
    parser.add_argument(
        "--ort-spinning", action="store_true", help="let idle ONNX Runtime threads spin (default: off)"
    )


def run_onnx(args: argparse.Namespace) -> int:
    """``sensorfuse export onnx``."""
    import torch

    from sensorfuse.deploy.export import dataset_batches, export_onnx, synthetic_batches
    from sensorfuse.engine.evaluate import load_model
    from sensorfuse.errors import ConfigError

    if args.samples < 1:
        raise ConfigError(f"--samples: expected >= 1, got {args.samples}")
    model, cfg = load_model(args.checkpoint, torch.device("cpu"))
    if args.dataroot is not None:
        batches, tokens = dataset_batches(
            args.dataroot, args.version, args.split, cfg.data.sample, args.samples
        )
        source = f"{args.dataroot} {args.version} {args.split}: {', '.join(tokens)}"
    else:
        batches, source = synthetic_batches(cfg.data.sample, args.samples), "synthetic (engine.runner)"
    try:
        manifest = export_onnx(
            model, batches, args.out, source=source, checkpoint=args.checkpoint, opset=args.opset,
            attention=args.attention, overwrite=args.overwrite,
        )  # fmt: skip
    except FileExistsError as e:
        raise ConfigError(f"--out {args.out}: already exists (pass --overwrite to replace it)") from e
    print(f"exported {len(manifest['graphs'])} graphs to {args.out} (opset {manifest['opset']}):")
    for g in manifest["graphs"].values():
        worst = max(g["max_abs_error"].values())
        print(f"  {g['file']:<24} stage {g['stage']:<15} max abs error vs PyTorch {worst:.2e}")
    e2e = manifest["end_to_end"]
    print(f"  whole model through ONNX Runtime vs eager: max abs error heatmap {e2e['heatmap']:.2e}, "
          f"score {e2e['score']:.2e}, regression {e2e['regression']:.2e}")  # fmt: skip
    return 0
