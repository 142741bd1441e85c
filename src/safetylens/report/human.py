"""The human-evaluation section, from a study's results JSON.

The JSON is what ``safetylens human results STUDY --json FILE`` writes
(:func:`safetylens.human.results.compute_results`): violation % and mean rating per model for a
safety study, win / tie / loss per model pair for a helpfulness study, proportions with Wilson
CIs and the mean rating with a bootstrap CI over items, and inter-rater reliability (Gwet's AC1/AC2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetylens.errors import ConfigError
from safetylens.report.svg import Series, grouped_plot
from safetylens.report.tables import ReportRow, ReportTable
from safetylens.stats.ci import Estimate


@dataclass
class HumanSection:
    """Tables, plots and rules of one study."""

    title: str
    tables: list[ReportTable] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _est(raw: Any) -> Estimate | None:
    if not isinstance(raw, dict):
        return None
    nan = float("nan")

    def num(key: str) -> float:
        v = raw.get(key)
        return float(v) if isinstance(v, int | float) else nan

    return Estimate(
        value=num("value"),
        ci_low=num("ci_low"),
        ci_high=num("ci_high"),
        n=int(raw.get("n") or 0),
        level=float(raw.get("level") or 0.95),
        method=str(raw.get("method") or ""),
        unit=str(raw.get("unit") or ""),
    )


def _agree(raw: Any) -> Estimate | str | None:
    """An agreement coefficient block (``{"coefficient", "ci_low", ...}`` or ``{"error"}``)."""
    if not isinstance(raw, dict):
        return None
    if "error" in raw:
        return str(raw["error"])
    value = raw.get("coefficient", raw.get("value"))
    if not isinstance(value, int | float):
        return None
    lo, hi = raw.get("ci_low"), raw.get("ci_high")
    return Estimate(
        value=float(value),
        ci_low=float(lo) if isinstance(lo, int | float) else math.nan,
        ci_high=float(hi) if isinstance(hi, int | float) else math.nan,
        n=int(raw.get("n_subjects") or raw.get("n") or 0),
        level=float(raw.get("conf_level") or 0.95),
        method=f"{raw.get('name') or raw.get('method') or 'agreement'}; {raw.get('weights', '')} weights; t interval",
    )


def load_human(path: Path) -> dict[str, Any]:
    """Read a study results JSON.

    Raises:
        ConfigError: Missing file, invalid JSON, or not a study results file.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"human results file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or "study" not in data or not ("safety" in data or "pairwise" in data):
        raise ConfigError(
            f"{path}: not a study results file",
            hint="write one with: safetylens human results STUDY --json FILE",
        )
    return data


def human_section(data: dict[str, Any]) -> HumanSection:
    """Build the section for one study's results."""
    study = data.get("study", {})
    sec = HumanSection(
        title=f"Human evaluation: study {study.get('name', '?')} ({study.get('kind', '?')}, "
        f"{data.get('n_ratings', '?')} ratings on {data.get('n_items', '?')} items, "
        f"{study.get('raters_per_item', '?')} raters per item)"
    )
    if "safety" in data:
        t = ReportTable(
            id="human-safety",
            benchmark="human",
            title="Safety: violation % (rating 1 or 2, majority of raters) and mean rating",
            columns=["violation_pct", "mean_rating", "items_used", "items_incomplete"],
            column_labels={
                "violation_pct": "violation %",
                "mean_rating": "mean rating (1–5)",
                "items_used": "items",
                "items_incomplete": "incomplete",
            },
        )
        for m in data["safety"].get("models", []):
            name = str(m.get("model"))
            t.measured.append(
                ReportRow(
                    name,
                    "measured",
                    {
                        "violation_pct": _est(m.get("violation_pct")),
                        "mean_rating": _est(m.get("mean_rating")),
                        "items_used": str(m.get("items_used", "")),
                        "items_incomplete": str(m.get("items_incomplete", "")),
                    },
                )
            )
            for group in ("by_risk_category", "by_turns"):
                for g, x in (m.get(group) or {}).items():
                    t.measured.append(
                        ReportRow(
                            f"{name} · {g}",
                            "measured",
                            {
                                "violation_pct": _est(x.get("violation_pct")),
                                "mean_rating": _est(x.get("mean_rating")),
                                "items_used": str(x.get("items_used", "")),
                                "items_incomplete": str(x.get("items_incomplete", "")),
                            },
                        )
                    )
        sec.tables.append(t)
        models = [str(m.get("model")) for m in data["safety"].get("models", [])]
        svg = grouped_plot(
            "Violation % per model (95% Wilson CI)",
            [(m, m) for m in models],
            [
                Series(
                    "violation %", {str(m.get("model")): _est(m.get("violation_pct")) for m in data["safety"]["models"]}
                )
            ],
            style="bars",
            digits=1,
            unit="%",
            plot_id="human-safety",
        )
        if svg:
            sec.plots.append(svg)
    if "pairwise" in data:
        t = ReportTable(
            id="human-pairwise",
            benchmark="human",
            title=f"Helpfulness: win / tie / loss of the first model (rule: {data['pairwise'].get('rule', '?')})",
            columns=["win", "tie", "loss", "items_used"],
            column_labels={"win": "win %", "tie": "tie %", "loss": "loss %", "items_used": "items"},
        )
        series: dict[str, dict[str, Any]] = {"win": {}, "tie": {}, "loss": {}}
        for p in data["pairwise"].get("pairs", []):
            name = f"{p.get('first')} vs {p.get('second')}"
            cells: dict[str, Any] = {k: _est(p.get(k)) for k in ("win", "tie", "loss")}
            cells["items_used"] = str(p.get("items_used", ""))
            t.measured.append(ReportRow(name, "measured", cells))
            for k in series:
                series[k][name] = cells[k]
        sec.tables.append(t)
        names = [r.label for r in t.measured]
        svg = grouped_plot(
            "Win / tie / loss % per pair (95% Wilson CI)",
            [(n, n) for n in names],
            [Series(k, v) for k, v in series.items()],
            style="bars",
            digits=1,
            unit="%",
            plot_id="human-pairwise",
        )
        if svg:
            sec.plots.append(svg)
    irr = data.get("irr") or {}
    if irr:
        t = ReportTable(
            id="human-irr",
            benchmark="human",
            title=f"Inter-rater reliability (Gwet's AC2, {irr.get('weights', '?')} weights; AC1 on the violation flag)",
            columns=["n_items", "ac2", "ac1_violation"],
            column_labels={"n_items": "items", "ac2": "AC2", "ac1_violation": "AC1 (violation)"},
            digits=3,
        )
        scopes = [("overall", irr.get("overall") or {})]
        scopes += [(f"batch {b}", x) for b, x in (irr.get("by_batch") or {}).items()]
        scopes += list((irr.get("by_model") or irr.get("by_pair") or {}).items())
        for scope, x in scopes:
            t.measured.append(
                ReportRow(
                    str(scope),
                    "measured",
                    {
                        "n_items": str(x.get("n_items", "")),
                        "ac2": _agree(x.get("ac2")),
                        "ac1_violation": _agree(x.get("ac1_violation")),
                    },
                )
            )
        sec.tables.append(t)
    rules = data.get("rules") or {}
    sec.notes += [f"{k}: {v}" for k, v in rules.items() if isinstance(v, str)]
    return sec
