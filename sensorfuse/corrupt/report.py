"""The corruption suite's numbers: resilience rate, corruption error, their means, a Markdown table and a heat
map (corruption x severity).

Definitions (RoboBEV, ``docs/RESULTS.md``; the same in Robo3D), over the severities L evaluated:

* resilience rate of corruption i: ``RR_i = sum_l NDS_{i,l} / (|L| * NDS_clean)`` (the model against its own
  clean score); ``mRR`` = mean of ``RR_i`` over the corruptions;
* corruption error against a baseline model: ``CE_i = sum_l (1 - NDS_{i,l}) / sum_l (1 - NDS^base_{i,l})``;
  ``mCE`` = mean of ``CE_i`` (below 100% = more robust than the baseline).

A row whose corruption changes no sensor the model reads is the clean score (marked ``applicable=False``):
the model's inputs are exactly the clean ones, so it is not evaluated again, and it counts in the means (a
LiDAR-only model is not hurt by a foggy camera).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensorfuse.corrupt.catalog import Corruption

CLEAN = ("clean", 0)


@dataclass(frozen=True)
class Score:
    """One evaluated row: the devkit's NDS and mAP, and whether the corruption touched the model's inputs."""

    nds: float
    map: float
    applicable: bool = True


#: (corruption name, severity) → score; the clean row is ``("clean", 0)``
Scores = Mapping[tuple[str, int], Score]


def levels_for(c: Corruption, severities: Sequence[int]) -> tuple[int, ...]:
    """The severities evaluated for ``c``: those asked that it has; a one-level corruption always its one."""
    if len(c.severities) == 1:
        return c.severities
    return tuple(s for s in severities if s in c.severities)


def resilience(
    scores: Scores, corruptions: Sequence[Corruption], severities: Sequence[int]
) -> dict[str, float]:
    """``RR_i`` per corruption (see the module docstring); NaN when the clean NDS is 0."""
    clean = scores[CLEAN].nds
    out = {}
    for c in corruptions:
        nds = [scores[(c.name, s)].nds for s in levels_for(c, severities)]
        out[c.name] = sum(nds) / (len(nds) * clean) if clean > 0 and nds else math.nan
    return out


def corruption_error(
    scores: Scores, baseline: Scores, corruptions: Sequence[Corruption], severities: Sequence[int]
) -> dict[str, float]:
    """``CE_i`` per corruption against ``baseline`` (see the module docstring); NaN when the baseline is
    perfect at every level."""
    out = {}
    for c in corruptions:
        lv = levels_for(c, severities)
        err = sum(1.0 - scores[(c.name, s)].nds for s in lv)
        base = sum(1.0 - baseline[(c.name, s)].nds for s in lv)
        out[c.name] = err / base if base > 0 else math.nan
    return out


def mean(values: Mapping[str, float]) -> float:
    """The mean of the finite values (NaN when none)."""
    finite = [v for v in values.values() if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.1f}%"


def _f(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.4f}"


def summary(
    scores: Scores,
    corruptions: Sequence[Corruption],
    severities: Sequence[int],
    baseline: Scores | None = None,
) -> dict[str, Any]:
    """Everything the table shows, JSON-ready: clean scores, per-row scores, RR / CE per corruption and
    family, mRR, mCE."""
    rr = resilience(scores, corruptions, severities)
    ce = corruption_error(scores, baseline, corruptions, severities) if baseline else {}
    families = sorted({c.family for c in corruptions}, key=[c.family for c in corruptions].index)
    rows = [
        {
            "corruption": c.name,
            "family": c.family,
            "severity": s,
            "level": c.levels[s - 1],
            "nds": scores[(c.name, s)].nds,
            "map": scores[(c.name, s)].map,
            "applicable": scores[(c.name, s)].applicable,
            **({"baseline_nds": baseline[(c.name, s)].nds} if baseline else {}),
        }
        for c in corruptions
        for s in levels_for(c, severities)
    ]
    return {
        "clean": {"nds": scores[CLEAN].nds, "map": scores[CLEAN].map},
        **({"baseline_clean": {"nds": baseline[CLEAN].nds, "map": baseline[CLEAN].map}} if baseline else {}),
        "severities": list(severities),
        "rows": rows,
        "rr": rr,
        "ce": ce,
        "mrr": mean(rr),
        "mce": mean(ce) if baseline else None,
        "family_mrr": {f: mean({c.name: rr[c.name] for c in corruptions if c.family == f}) for f in families},
        "family_mce": (
            {f: mean({c.name: ce[c.name] for c in corruptions if c.family == f}) for f in families}
            if baseline
            else {}
        ),
    }


def format_table(s: Mapping[str, Any], title: str, corruptions: Sequence[Corruption]) -> str:
    """The suite's Markdown report: headline, per-family means, one line per corruption (NDS and mAP per
    severity, RR, CE)."""
    sev = s["severities"]
    has_ce = s["mce"] is not None
    lines = [f"# {title}", ""]
    lines.append(f"Clean: NDS {_f(s['clean']['nds'])}, mAP {_f(s['clean']['map'])}.")
    if has_ce:
        b = s["baseline_clean"]
        lines.append(f"Baseline clean: NDS {_f(b['nds'])}, mAP {_f(b['map'])}.")
    lines.append("")
    lines.append(f"**mRR {_pct(s['mrr'])}**" + (f", **mCE {_pct(s['mce'])}**" if has_ce else "") + "")
    lines += ["", "| family | mRR |" + (" mCE |" if has_ce else ""), "|---|---|" + ("---|" if has_ce else "")]
    for f, v in s["family_mrr"].items():
        lines.append(f"| {f} | {_pct(v)} |" + (f" {_pct(s['family_mce'][f])} |" if has_ce else ""))
    by: dict[tuple[str, int], Mapping[str, Any]] = {(r["corruption"], r["severity"]): r for r in s["rows"]}
    head = ["corruption", *(f"NDS s{k}" for k in sev), *(f"mAP s{k}" for k in sev), "RR"]
    if has_ce:
        head.append("CE")
    lines += ["", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for c in corruptions:
        cells = [c.name]
        for key in ("nds", "map"):
            for k in sev:
                r = by.get((c.name, k)) or (
                    by.get((c.name, 1)) if len(c.severities) == 1 and k == sev[0] else None
                )
                cells.append("" if r is None else _f(r[key]) + ("" if r["applicable"] else " ·"))
        cells.append(_pct(s["rr"][c.name]))
        if has_ce:
            cells.append(_pct(s["ce"][c.name]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "RR = mean NDS over the severities / clean NDS; CE = sum(1 - NDS) / the baseline's sum(1 - NDS) "
        "(RoboBEV). `·` = the corruption changes no sensor the model reads: the clean score. One-level "
        "corruptions (a whole sensor missing) show under the first severity.",
        "",
    ]
    return "\n".join(lines)


def heatmap(path: str | Path, s: Mapping[str, Any], corruptions: Sequence[Corruption], title: str) -> Path:
    """A PNG heat map, corruption x severity: colour = NDS / clean NDS, text = NDS (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sensorfuse.utils.atomic import atomic_write_bytes

    sev = list(s["severities"])
    clean = float(s["clean"]["nds"])
    grid = np.full((len(corruptions), len(sev)), np.nan)
    for r in s["rows"]:
        i = [c.name for c in corruptions].index(r["corruption"])
        j = sev.index(r["severity"]) if r["severity"] in sev else 0
        grid[i, j] = r["nds"]
    fig, ax = plt.subplots(figsize=(2.0 + 1.3 * len(sev), 1.2 + 0.32 * len(corruptions)))
    rel = grid / clean if clean > 0 else grid
    im = ax.imshow(np.ma.masked_invalid(rel), cmap="RdYlGn", vmin=0.0, vmax=1.05, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(sev)), [f"severity {k}" for k in sev])
    ax.set_yticks(range(len(corruptions)), [c.name for c in corruptions], fontsize=7)
    width = max(24, int(fig.get_figwidth() * 11))  # characters of a 9 pt title that fit the figure
    ax.set_title(f"{textwrap.fill(title, width)}\nNDS (colour: NDS / clean {clean:.3f})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.05, label="NDS / clean NDS")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
