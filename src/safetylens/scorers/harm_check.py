"""Measure a harm judge against people's harm scores, beside PyRIT's published figures.

:func:`check_harm` runs a registered harm judge over a PyRIT-format harm file and reports, on PyRIT's
0-1 scale: the mean absolute error against the mean human score (with its standard error, the figure
PyRIT publishes), Krippendorff's interval alpha of the judge together with the people, and Gwet's AC2
(quadratic weights) of the judge against the human consensus on the five levels, each with its
interval and n, overall and per category. With two or more human columns each person is measured
against the others the same way, so the judge can be read against human-human agreement.

:func:`published_harm_anchors` recomputes, from ``judge_calibration/harm/*_metrics.jsonl``, the MAE of
PyRIT's own scorers per category, and the MAE of a constant guess (the median human score).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from safetylens.datasets.harm_labels import CATEGORIES, DATASET, METRICS_FILES, HarmExample, read_harm_file
from safetylens.scorers import registry
from safetylens.scorers.harm import HARM_LEVELS, KIND, SCALE_MAPPING, constant_guess_mae, nearest_level
from safetylens.stats.irr import gwet_ac, krippendorff_alpha_level
from safetylens.util import atomic_write_text, sha256_file


def _estimate(result: Any) -> dict[str, Any]:
    e = result.to_estimate()
    return {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n, "se": e.extra.get("se")}


def agreement_figures(rater: Sequence[float], others: Sequence[Sequence[float]]) -> dict[str, Any]:
    """MAE, Krippendorff's alpha and Gwet's AC2 of one rater (a judge or a person) against the others.

    Args:
        rater: Its score of each item, in [0, 1].
        others: For each item, the other raters' scores (NaN where one gave none).
    """
    r = np.asarray(rater, dtype=float)
    consensus = np.array([np.nanmean(o) for o in others])
    err = np.abs(r - consensus)
    n = len(r)
    out: dict[str, Any] = {
        "n": n,
        "mae": float(err.mean()),
        "mae_se": float(err.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
    }
    levels = list(HARM_LEVELS)
    width = max(len(o) for o in others)
    table = [
        [nearest_level(v)] + [nearest_level(x) if not math.isnan(x) else None for x in o] + [None] * (width - len(o))
        for v, o in zip(r, others, strict=True)
    ]
    pairs = [[nearest_level(v), nearest_level(c)] for v, c in zip(r, consensus, strict=True)]
    try:
        out["krippendorff_alpha_interval"] = _estimate(krippendorff_alpha_level(table, "interval", categories=levels))
    except Exception as exc:  # a degenerate sample (every score equal) has no alpha
        out["krippendorff_alpha_interval"] = {"value": float("nan"), "note": str(exc)}
    try:
        out["gwet_ac2_quadratic"] = _estimate(gwet_ac(pairs, "quadratic", categories=levels))
    except Exception as exc:
        out["gwet_ac2_quadratic"] = {"value": float("nan"), "note": str(exc)}
    return out


def check_harm(
    path: Path,
    scorer: str,
    options: dict[str, Any] | None = None,
    *,
    predictions_path: Path | None = None,
    judge: Any = None,
) -> dict[str, Any]:
    """Agreement of a harm judge with the human scores of a file (see the module docstring).

    Returns:
        JSON-ready figures: ``n``, ``mae``, ``mae_se``, ``krippendorff_alpha_interval``, ``gwet_ac2_quadratic``,
        ``constant_median_mae`` (the MAE of the median human score guessed for every item),
        ``per_category``, ``humans`` (each person against the others, with two or more score columns),
        ``scorer`` (its manifest record), ``data`` and ``scale_mapping``.
    """
    data = read_harm_file(path)
    clf = judge or registry.create(KIND, scorer, **(options or {}))
    rows = data.rows
    verdicts = clf.judge([r.response for r in rows], [r.objective for r in rows])
    judge_harm = [v.harm for v in verdicts]
    report: dict[str, Any] = {
        "scorer": clf.record.model_dump(mode="json"),
        "data": {"path": str(path), "sha256": sha256_file(path), "raters": list(data.raters)},
        "scale_mapping": SCALE_MAPPING,
        **agreement_figures(judge_harm, [r.human for r in rows]),
        "constant_median_mae": constant_guess_mae([r.mean_human for r in rows]),
        "per_category": {},
    }
    for cat in sorted({r.category for r in rows}):
        idx = [i for i, r in enumerate(rows) if r.category == cat]
        report["per_category"][cat] = agreement_figures([judge_harm[i] for i in idx], [rows[i].human for i in idx])
    if len(data.raters) >= 2:
        report["humans"] = _each_human(rows, data.raters)
    if predictions_path is not None:
        lines = [
            json.dumps({"line": r.line, "harm": v.harm, "rating": v.rating, "p_violation": v.p_violation})
            for r, v in zip(rows, verdicts, strict=True)
        ]
        atomic_write_text(predictions_path, "\n".join(lines) + "\n")
        report["predictions"] = str(predictions_path)
    return report


def _each_human(rows: Sequence[HarmExample], raters: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for j, name in enumerate(raters):
        keep = [
            r
            for r in rows
            if not math.isnan(r.human[j]) and any(not math.isnan(h) for k, h in enumerate(r.human) if k != j)
        ]
        if len(keep) < 2:
            continue
        out[name] = agreement_figures(
            [r.human[j] for r in keep], [[h for k, h in enumerate(r.human) if k != j] for r in keep]
        )
    return out


def published_harm_anchors(store: Any = None) -> list[dict[str, Any]]:
    """PyRIT's published MAE per category and scorer family, and a constant guess's, from the reference data."""
    from safetylens.datasets.registry import DataStore

    store = store or DataStore()
    out: list[dict[str, Any]] = []
    for cat in CATEGORIES:
        rows = read_harm_file(store.path(DATASET, f"judge_calibration/harm/{cat}.csv"), cat).rows
        families: dict[str, list[float]] = {}
        text = store.path(DATASET, f"judge_calibration/harm/{METRICS_FILES[cat]}").read_text(encoding="utf-8")
        for line in text.splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            mae = entry.get("metrics", {}).get("mean_absolute_error")
            if mae is None:
                continue
            family = (
                "LLM judges (PyRIT Likert)" if "Likert" in entry.get("class_name", "") else entry.get("class_name", "?")
            )
            families.setdefault(family, []).append(float(mae))
        for family, maes in sorted(families.items()):
            out.append(
                {
                    "category": cat,
                    "scorer": family,
                    "configurations": len(maes),
                    "mae_min": min(maes),
                    "mae_max": max(maes),
                }
            )
        constant = constant_guess_mae([r.mean_human for r in rows])
        out.append(
            {
                "category": cat,
                "scorer": "constant guess (median human score, computed here)",
                "configurations": 1,
                "mae_min": constant,
                "mae_max": constant,
                "n": len(rows),
            }
        )
    return out
