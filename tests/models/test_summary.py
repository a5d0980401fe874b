"""The model summary times the model's own ``predict`` (through the stage hook) on a fake sample."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny import tiny_config

from sensorfuse.models import build_detector
from sensorfuse.models.fake import fake_sample
from sensorfuse.models.stages import MODEL_STAGES
from sensorfuse.models.summary import main, stage_times
from sensorfuse.structures import collate


def test_stage_times_names_every_stage() -> None:
    cfg = tiny_config()
    torch.manual_seed(0)
    model = build_detector(cfg).eval()
    batch = collate([fake_sample(("CAM_A", "CAM_B"), (32, 88), n_lidar=500, n_radar=20, extent=12.8)])
    times = stage_times(model, batch, runs=2)
    assert tuple(times.stages) == MODEL_STAGES  # every stage, in pipeline order
    assert times.n_frames == 2 and all(s.n == 2 and s.p50 > 0 for s in times.stages.values())
    assert times.stage_sum_mean_ms <= times.end_to_end.mean * 1.001 + 0.05


def test_summary_cli_prints_parts_and_stages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from sensorfuse.utils.dataclass_io import to_dict

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"model": to_dict(tiny_config())}))
    assert main([str(path), "--runs", "1", "--image-hw", "32", "88"]) == 0
    out = capsys.readouterr().out
    assert "fuser" in out and "view_transform" in out and "total" in out
