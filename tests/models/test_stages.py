"""One staged execution: every hooked path (timer, profiler ranges, the model runner) runs ``predict``'s own
composition and gives bit-identical outputs, for every fuser and every sensor subset.

class: timed path diverges from predict (a second copy of the stage order that drifts from the real one).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from tiny import tiny_config

from sensorfuse.models import build_detector
from sensorfuse.models.detector import FusionDetector
from sensorfuse.models.parts import FusedBEV
from sensorfuse.models.stages import MODEL_STAGES, ProfilerRanges
from sensorfuse.structures import Boxes3D, FusionBatch
from sensorfuse.utils.timing import STAGES, StageTimer

SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(("lidar", "camera", "radar"), r)]


class Recorder:
    """A stage hook that records the stage names in call order, keeps the results of the stages in ``keep``
    and can replace a stage's result."""

    def __init__(
        self, replace: dict[str, Callable[[Any], Any]] | None = None, keep: tuple[str, ...] = ()
    ) -> None:
        self.names: list[str] = []
        self.replace = replace or {}
        self.keep = keep
        self.kept: dict[str, Any] = {}

    def run(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        self.names.append(name)
        out = fn(*args, **kwargs)
        if name in self.keep:
            self.kept[name] = out
        return self.replace[name](out) if name in self.replace else out


def _model(fuser: str) -> FusionDetector:
    torch.manual_seed(0)
    return build_detector(tiny_config(fuser)).eval()


def _assert_identical(a: list[Boxes3D], b: list[Boxes3D]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for field in ("boxes", "scores", "labels", "attributes"):
            u, v = torch.from_numpy(getattr(x, field)), torch.from_numpy(getattr(y, field))
            assert torch.equal(u, v), field


def _expected_names(subset: tuple[str, ...]) -> list[str]:
    names = []
    for m in ("lidar", "radar"):
        if m in subset:
            names += ["voxelize", f"{m}_encoder"]
    if "camera" in subset:
        names += ["camera_encoder", "view_transform"]
    return [*names, "fuser", "head", "postprocess"]


@pytest.mark.parametrize(
    ("fuser", "subsets"),
    [
        ("transformer", SUBSETS),
        ("late", [("lidar", "camera", "radar"), ("radar",)]),
    ],  # 1 / per-modality streams
    ids=["transformer-every-subset", "late"],
)
def test_hooked_predict_is_bit_identical_to_predict(
    fuser: str, subsets: list[tuple[str, ...]], make_batch: Callable[..., FusionBatch]
) -> None:
    """The timer and a recording hook change nothing (boxes and head maps equal bit for bit), and see every
    stage of the subset in pipeline order."""
    model = _model(fuser)
    batch = make_batch(b=1)
    for subset in subsets:
        plain = model.predict(batch, sensors=subset)
        timer = StageTimer()
        with timer.frame():
            timed = model.predict(batch, sensors=subset, stages=timer)
        rec = Recorder(keep=("head",))
        recorded = model.predict(batch, sensors=subset, stages=rec)
        _assert_identical(plain, timed)
        _assert_identical(plain, recorded)
        assert rec.names == _expected_names(subset), subset
        assert list(timer.frames[0]) == list(dict.fromkeys(rec.names)), subset
        heads = model.extract(batch, subset)[0]
        assert heads.keys() == rec.kept["head"].keys()
        assert all(torch.equal(heads[k], rec.kept["head"][k]) for k in heads), subset


def test_profiler_ranges_change_nothing(make_batch: Callable[..., FusionBatch]) -> None:
    model = _model("concat")
    batch = make_batch(b=1)
    _assert_identical(model.predict(batch), model.predict(batch, stages=ProfilerRanges()))


def test_hook_runs_the_real_stages(make_batch: Callable[..., FusionBatch]) -> None:
    """A hook that changes the fuser's result changes the boxes: the hook wraps the code predict runs."""
    model = _model("transformer")
    batch = make_batch(b=1)

    def scramble(fused: FusedBEV) -> FusedBEV:
        return FusedBEV({s: x.flip(-1) for s, x in fused.maps.items()}, fused.present)

    plain = model.predict(batch)
    changed = model.predict(batch, stages=Recorder({"fuser": scramble}))
    assert not np.array_equal(plain[0].boxes, changed[0].boxes)


def test_model_stage_names_are_the_latency_report_names() -> None:
    """The detector's stage names are the timer's (the latency report's), in the same order."""
    assert [s for s in STAGES if s in MODEL_STAGES] == list(MODEL_STAGES)
    assert set(STAGES) - set(MODEL_STAGES) == {"load", "sync"}
