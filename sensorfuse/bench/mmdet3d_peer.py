"""The mmdetection3d peer of the scale benchmark: ``create_data.py`` info files, their load, DataLoader workers.

Runs in the mmdet3d venv (``tools/setup_bench_env.sh --with-mmdet3d``), never in the main one (mmdet3d pins
mmcv < 2.2 and its own numpy/torch ranges)::

    .venv-mmdet3d/bin/python -m sensorfuse.bench.mmdet3d_peer --dataroot D --version V --out FILE.json

It measures, each step in a fresh process, what ``tools/create_data.py nuscenes`` does before training:

* **infos**: ``create_nuscenes_infos`` (the devkit's tables → ``nuscenes_infos_{train,val}.pkl``) and
  ``update_pkl_infos`` (the v2 format the 1.x datasets read; it loads the devkit again for each file): wall
  time, peak RSS, file sizes. The ground
  truth database (``create_groundtruth_database``, which reads every LiDAR file) is not info generation and is
  left out. create_data writes its files into the dataroot: it gets a folder of links to the dataroot.
* **load**: ``mmengine.load`` of the v2 train info file, and building ``NuScenesDataset`` on it (parses every
  info, then serialises the list into one buffer: mmengine's ``serialize_data``, the detectron2 trick).
* **pass**: RSS/PSS of 4 DataLoader workers over one shuffled pass of ``NuScenesDataset`` (no pipeline and
  ``test_mode``: an item is the parsed info, nothing filtered), with ``serialize_data`` on (the default) and
  off (a list of dicts).

The memory of each worker is measured as in :mod:`sensorfuse.bench.scale` (start, warm, end). With
mmcv-lite (no compiled ops) ``mmcv.ops`` is replaced by a stub that raises when called: neither info
generation nor the dataset calls it; the report says ``"mmcv_ops": "stubbed"``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

from sensorfuse.bench.scale import _child, _load_avg, measure_pass, memory

log = logging.getLogger(__name__)


def _prepare() -> str:
    """Make ``tools.dataset_converters`` importable (it ships inside the mmdet3d wheel) and ``mmcv.ops``
    importable; returns how mmcv's ops are provided (``compiled`` or ``stubbed``)."""
    import mmdet3d

    sys.path.insert(0, str(Path(mmdet3d.__file__).parent / ".mim"))
    try:
        import mmcv.ops  # noqa: F401

        return "compiled"
    except ImportError:
        pass

    import importlib.abc
    import importlib.machinery

    def missing(name: str) -> Any:
        """A class (some are base classes there) that raises when called or instantiated."""
        if name.startswith("__"):  # module attributes (__file__, __path__, ...): it has none
            raise AttributeError(name)

        def init(self: Any, *a: Any, **k: Any) -> None:
            raise RuntimeError(f"mmcv.ops: {name} is a stub here (mmcv-lite), and it was called")

        return type(name, (), {"__init__": init})

    class StubOps(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        """``mmcv.ops``, its submodules and the compiled ``mmcv._ext`` as empty packages whose every name is
        a stub that raises."""

        def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
            if fullname in ("mmcv.ops", "mmcv._ext") or fullname.startswith("mmcv.ops."):
                return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            return None

        def create_module(self, spec: Any) -> types.ModuleType:
            module = types.ModuleType(spec.name)
            module.__getattr__ = missing  # type: ignore[method-assign]
            module.__path__ = []
            return module

        def exec_module(self, module: types.ModuleType) -> None:
            pass

    sys.meta_path.insert(0, StubOps())
    return "stubbed"


def _farm(root: Path, version: str, folder: Path) -> Path:
    """``folder/data/nuscenes``: a dataroot of links to ``root``. create_data writes its info files into the
    dataroot, and its v2 update opens the devkit on ``./data/nuscenes`` (it runs in ``folder``)."""
    farm = folder / "data" / "nuscenes"
    farm.mkdir(parents=True)
    for entry in root.iterdir():
        if not entry.name.startswith("."):
            (farm / entry.name).symlink_to(entry.resolve())
    return farm


def step_infos(farm: str, version: str) -> dict[str, Any]:
    ops = _prepare()
    from tools.dataset_converters import nuscenes_converter
    from tools.dataset_converters.update_infos_to_v2 import update_pkl_infos

    os.chdir(Path(farm).parents[1])  # update_pkl_infos reads the devkit's tables from ./data/nuscenes
    t0 = time.perf_counter()
    nuscenes_converter.create_nuscenes_infos(farm, "nuscenes", version=version, max_sweeps=10)
    t1 = time.perf_counter()
    for split in ("train", "val"):
        update_pkl_infos("nuscenes", out_dir=farm, pkl_path=str(Path(farm, f"nuscenes_infos_{split}.pkl")))
    t2 = time.perf_counter()
    files = {p.name: round(p.stat().st_size / 1e6, 1) for p in Path(farm).glob("*.pkl")}
    return {
        "create_infos_s": round(t1 - t0, 2),
        "update_to_v2_s": round(t2 - t1, 2),
        "seconds": round(t2 - t0, 2),
        "peak_rss_mb": round(memory()["VmHWM"] / 1024, 1),
        "files_mb": files,
        "mmcv_ops": ops,
    }


def _dataset(farm: str, serialize: bool) -> Any:
    _prepare()
    from mmdet3d.datasets import NuScenesDataset
    from mmdet3d.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    return NuScenesDataset(
        data_root=farm, ann_file="nuscenes_infos_train.pkl", pipeline=[], serialize_data=serialize, test_mode=True,
        modality=dict(use_lidar=True, use_camera=True),
    )  # fmt: skip


def step_load(farm: str) -> dict[str, Any]:
    import mmengine

    rss0 = memory()["VmRSS"]
    t0 = time.perf_counter()
    infos = mmengine.load(str(Path(farm, "nuscenes_infos_train.pkl")))
    t1 = time.perf_counter()
    rss1 = memory()["VmRSS"]
    del infos
    t2 = time.perf_counter()
    ds = _dataset(farm, serialize=True)
    t3 = time.perf_counter()
    return {
        "pickle_load_s": round(t1 - t0, 2),
        "rss_growth_pickle_mb": round((rss1 - rss0) / 1024, 1),
        "dataset_s": round(t3 - t2, 2),
        "samples": len(ds),
    }


def step_pass(farm: str, serialize: bool, workers: int, batch: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    run = measure_pass(_dataset(farm, serialize), workers, batch, len, lambda n: n)
    return {"serialize_data": serialize, **run}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--dataroot", type=Path, required=True)
    p.add_argument("--version", default="v1.0-trainval")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--no-pass", action="store_true", help="only the info files and their load")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import mmdet3d

    rep: dict[str, Any] = {"dataroot": str(args.dataroot), "version": args.version, "load_avg": {}}
    rep["mmdet3d"] = mmdet3d.__version__
    with tempfile.TemporaryDirectory(prefix="sensorfuse-mmdet3d-") as tmp:
        farm = str(_farm(args.dataroot, args.version, Path(tmp)))
        steps: list[tuple[str, Any, tuple[Any, ...]]] = [
            ("infos", step_infos, (farm, args.version)),
            ("load", step_load, (farm,)),
        ]
        if not args.no_pass:
            steps += [
                ("pass_serialized", step_pass, (farm, True, args.workers, args.batch_size)),
                ("pass_list", step_pass, (farm, False, args.workers, args.batch_size)),
            ]
        for name, fn, fargs in steps:
            rep["load_avg"][name] = _load_avg()
            log.info("%s (load average %s)", name, rep["load_avg"][name])
            rep[name] = _child(fn, *fargs)
            log.info("%s: %s", name, json.dumps(rep[name])[:400])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    tmp_out.write_text(json.dumps(rep, indent=2))
    os.replace(tmp_out, args.out)
    print(json.dumps({k: rep[k] for k in ("infos", "load")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
