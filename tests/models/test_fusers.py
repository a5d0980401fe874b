from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from sensorfuse.errors import ConfigError
from sensorfuse.models.build import FUSERS, build_fuser, unread_fuser_fields
from sensorfuse.models.config import FuserConfig

CH = {"lidar": 6, "camera": 5, "radar": 4}
SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(CH, r)]


def _make(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_fuser(CH, FuserConfig(kind=kind, channels=8, window=4, layers=2, heads=2, dim=8)).eval()


@pytest.mark.parametrize("kind", sorted(FUSERS))
@pytest.mark.parametrize("subset", SUBSETS, ids="+".join)
def test_every_fuser_with_every_subset(kind: str, subset: tuple[str, ...]) -> None:
    fuser = _make(kind)
    feats = {m: torch.randn(2, CH[m], 10, 13) for m in subset}  # 10 x 13: not a multiple of the window
    present = {m: torch.tensor([True, True]) for m in subset}
    out = fuser(feats, present)
    expected = set(subset) if kind == "late" else {"fused"}
    assert set(out.maps) == expected
    for x in out.maps.values():
        assert x.shape == (2, 8, 10, 13) and torch.isfinite(x).all()


@pytest.mark.parametrize("kind", ["transformer", "concat", "gated"])
def test_absent_sample_uses_missing_token(kind: str) -> None:
    fuser = _make(kind)
    feats = {m: torch.randn(2, c, 8, 8) for m, c in CH.items()}
    present = {
        "lidar": torch.tensor([True, False]),
        "camera": torch.tensor([True, True]),
        "radar": torch.tensor([True, True]),
    }
    a = fuser(feats, present).maps["fused"]
    feats["lidar"][1] = 1e3  # garbage in the absent sample's lidar map must not matter
    b = fuser(feats, present).maps["fused"]
    assert torch.allclose(a[1], b[1])
    # ... and an absent modality equals a missing key
    c = fuser({k: v for k, v in feats.items() if k != "lidar"}, present).maps["fused"]
    assert torch.allclose(a[1], c[1], atol=1e-5)
    assert not torch.allclose(a[0], c[0], atol=1e-5)


def test_late_fuser_reports_presence() -> None:
    fuser = _make("late")
    present = {"lidar": torch.tensor([True, False]), "radar": torch.tensor([False, True])}
    out = fuser({m: torch.randn(2, CH[m], 4, 4) for m in present}, present)
    assert out.present["lidar"].tolist() == [True, False] and out.present["radar"].tolist() == [False, True]


def _randomize_residual_outputs(fuser: torch.nn.Module) -> None:
    for block in fuser.blocks:  # type: ignore[union-attr]
        for layer in (block.proj, block.mlp[2]):
            torch.nn.init.normal_(layer.weight, std=0.3)


def test_fresh_transformer_blocks_are_the_identity() -> None:
    """Zero-init residual branches: before training, attention changes nothing, so the fuser starts as a
    per-modality projection + fusing conv and each cell's output depends only on its 3x3 neighbourhood."""
    fuser = _make("transformer")
    block: torch.nn.Module = fuser.blocks[0]  # type: ignore[index,assignment]
    x = torch.randn(3, 12, 8)
    assert torch.equal(block(x, None), x)
    _randomize_residual_outputs(fuser)
    assert not torch.allclose(block(x, None), x)


def test_transformer_windows_are_local() -> None:
    """With one layer (no shift), a change in one window reaches only that window plus the 3x3 fusing conv's
    one-cell rim: cells further away are untouched."""
    torch.manual_seed(0)
    fuser = build_fuser(CH, FuserConfig(channels=8, window=4, layers=1, heads=2, dim=8)).eval()
    _randomize_residual_outputs(fuser)  # as after training: the zero-init branches now carry attention
    feats = {m: torch.randn(1, c, 8, 8) for m, c in CH.items()}
    present = {m: torch.tensor([True]) for m in CH}
    a = fuser(feats, present).maps["fused"]
    feats["camera"][0, :, 0, 0] += 5.0
    b = fuser(feats, present).maps["fused"]
    assert not torch.allclose(a[..., :4, :4], b[..., :4, :4])
    assert not torch.allclose(a[..., 3, 3], b[..., 3, 3])  # attention carried (0, 0) across its window
    assert torch.allclose(a[..., 5:, :], b[..., 5:, :]) and torch.allclose(a[..., :, 5:], b[..., :, 5:])


@pytest.mark.parametrize("kind", sorted(FUSERS))
def test_unread_fuser_fields_change_nothing(kind: str) -> None:
    """Changing every field a kind does not read builds the same module, weights and outputs: what lets
    bench.detect reuse a concat run across a change of the transformer's depth."""
    base = FuserConfig(kind=kind, channels=8, window=4, layers=2, heads=2, dim=8)
    changed = {"channels": 16, "window": 2, "layers": 3, "heads": 4, "dim": 16}
    unread = unread_fuser_fields(kind)
    assert unread == ({"window", "layers", "heads", "dim"} if kind != "transformer" else set())
    other = dataclasses.replace(base, **{f: changed[f] for f in unread})
    torch.manual_seed(0)
    a = build_fuser(CH, base).eval()
    torch.manual_seed(0)
    b = build_fuser(CH, other).eval()
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    feats = {m: torch.randn(1, c, 8, 8) for m, c in CH.items()}
    present = {m: torch.tensor([True]) for m in CH}
    out_a, out_b = a(feats, present).maps, b(feats, present).maps
    assert all(torch.equal(out_a[k], out_b[k]) for k in out_a)
    # a field the kind does read does change it (the test can fail)
    torch.manual_seed(0)
    c = build_fuser(CH, dataclasses.replace(base, channels=16)).state_dict()
    assert any(sa[k].shape != c[k].shape for k in sa)


def test_unknown_fuser_kind_is_named() -> None:
    with pytest.raises(ConfigError, match=r"fuser\.kind: unknown 'sum'"):
        build_fuser(CH, FuserConfig(kind="sum"))
