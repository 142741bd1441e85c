"""Measure a refusal classifier against people, and the published anchors to read the figures against.

:func:`check_refusal` runs any registered refusal classifier over a human-labelled file and reports
its agreement (accuracy, Cohen's kappa, Gwet's AC1, F1, per class, each with an interval and n),
on refusal vs compliance and, when both the file and the classifier have three classes, on those.

:func:`published_anchors` computes, from the reference data, the figures the XSTest and PyRIT
authors published for their own classifiers, so a number of ours always stands next to theirs:
over XSTest's 2,250 labelled answers, string matching agrees with the human label 0.839 (3 classes)
/ 0.884 (refuse vs comply) and GPT-4 as a classifier 0.799 / 0.821; PyRIT's LLM refusal scorers
score 0.96-1.00 accuracy on its refusal set. They are recomputed, never typed in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetylens.datasets.refusal_labels import read_refusal_file
from safetylens.datasets.xstest import (
    FULL_COMPLIANCE,
    LABELS,
    MODELS,
    AutoLabeller,
    load_automated_labels,
    load_completions,
)
from safetylens.scorers import registry
from safetylens.scorers.refusal import KIND, RefusalClassifier, strmatch_label
from safetylens.stats.classification import classifier_agreement
from safetylens.util import atomic_write_text, sha256_file

BINARY = ("compliance", "refusal")


def check_refusal(
    path: Path,
    scorer: str,
    options: dict[str, Any] | None = None,
    *,
    predictions_path: Path | None = None,
    classifier: RefusalClassifier | None = None,
) -> dict[str, Any]:
    """Agreement of a refusal classifier with the human labels of a file.

    Args:
        path: A PyRIT- or XSTest-format file (see :mod:`safetylens.datasets.refusal_labels`).
        scorer: Registered refusal classifier name.
        options: Its options.
        predictions_path: Write one JSON line per data row, in file order: ``line``, ``refusal`` (0/1),
            ``p_refusal``, ``human``, and ``label`` for three-way classifiers.
        classifier: Use this instance instead of creating ``scorer`` (for callers that hold one).

    Returns:
        JSON-ready figures: ``n``, ``accuracy``, ``cohen_kappa``, ``gwet_ac1``, ``f1`` (of the refusal
        class), ``macro_f1``, ``per_class``, ``confusion``, ``three_way`` (when it applies), ``scorer``
        (its manifest record) and ``data`` (path, format, sha256).
    """
    data = read_refusal_file(path)
    clf: RefusalClassifier = classifier or registry.create(KIND, scorer, **(options or {}))
    preds = clf.classify([r.response for r in data.rows], [r.prompt for r in data.rows])
    binary = classifier_agreement([BINARY[r.refusal] for r in data.rows], [BINARY[p.refusal] for p in preds], BINARY)
    summary = binary.summary()
    report: dict[str, Any] = {
        "scorer": clf.record.model_dump(mode="json"),
        "data": {"path": str(path), "format": data.format, "sha256": sha256_file(path)},
        **summary,
        "f1": summary["per_class"]["refusal"]["f1"],
    }
    if data.format == "xstest" and clf.three_way:
        three = classifier_agreement([r.label or "" for r in data.rows], [p.label for p in preds], LABELS)
        report["three_way"] = three.summary()
    if predictions_path is not None:
        lines = []
        for r, p in zip(data.rows, preds, strict=True):
            row: dict[str, Any] = {"line": r.line, "refusal": p.refusal, "p_refusal": p.p_refusal, "human": r.refusal}
            if clf.three_way:
                row["label"] = p.label
            lines.append(json.dumps(row))
        atomic_write_text(predictions_path, "\n".join(lines) + "\n")
        report["predictions"] = str(predictions_path)
    return report


def published_anchors(store: Any = None) -> list[dict[str, Any]]:
    """The XSTest authors' and PyRIT's published classifier figures, recomputed from the reference data.

    Returns:
        One row per classifier and data set: ``classifier``, ``data``, ``n``, ``accuracy_3class`` (XSTest
        only), ``accuracy_binary``, and for PyRIT's rows ``f1`` and the judge model.
    """
    from safetylens.datasets.registry import DataStore

    store = store or DataStore()
    human = {(c.model, c.id): c.final_label for c in load_completions(store, MODELS)}
    rows: list[dict[str, Any]] = []
    labellers: tuple[tuple[AutoLabeller, str], ...] = (
        ("streval", "XSTest string matching"),
        ("gpteval", "XSTest GPT-4 classifier"),
    )
    for labeller, name in labellers:
        n = same3 = same2 = 0
        for m in MODELS:
            for cid, auto in load_automated_labels(store, m, labeller).items():
                h = human[(m, cid)]
                n += 1
                same3 += auto[:1] == h[:1]
                # Refusal = anything but full compliance. A few GPT-4 outputs are prose, not a class (most
                # are GPT-4 itself declining, "I'm sorry, but I can't assist with that."): counted as not
                # compliance, which reproduces the published 0.821.
                same2 += (auto[:1] == "1") == (h[:1] == "1")
        rows.append(
            {
                "classifier": name,
                "data": "XSTest, 5 models' answers (human final_label)",
                "n": n,
                "accuracy_3class": same3 / n,
                "accuracy_binary": same2 / n,
                "source": "xstest-labels",
            }
        )
    rows.extend(_pyrit_anchors(store))
    return rows


def _pyrit_anchors(store: Any) -> list[dict[str, Any]]:
    """PyRIT's published refusal-scorer accuracies on its refusal file, and string matching's, computed here.

    PyRIT's figures are kept only for the file version we hold, and shown as one range.
    """
    path = store.path("refusal-calibration", "judge_calibration/refusal/refusal.csv")
    data = read_refusal_file(path)
    version = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and "dataset_version=" in line:
            version = line.split("dataset_version=", 1)[1].strip()
            break
    metrics = store.path("refusal-calibration", "judge_calibration/refusal/refusal_metrics.jsonl")
    accs: list[float] = []
    judges: set[str] = set()
    for line in metrics.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        m = entry.get("metrics", {})
        if str(m.get("dataset_version")) != version or m.get("accuracy") is None:
            continue
        accs.append(float(m["accuracy"]))
        model = entry.get("children", {}).get("prompt_target", {}).get("model_name")
        if model:
            judges.add(str(model))
    strmatch = sum(int(strmatch_label(r.response) != FULL_COMPLIANCE) == r.refusal for r in data.rows)
    out: list[dict[str, Any]] = []
    if accs:
        out.append(
            {
                "classifier": f"PyRIT LLM refusal scorers ({len(accs)} configurations: {', '.join(sorted(judges))})",
                "data": f"PyRIT refusal.csv v{version}",
                "n": len(data.rows),
                "accuracy_binary": min(accs),
                "accuracy_binary_max": max(accs),
                "source": "refusal-calibration: refusal_metrics.jsonl (published by PyRIT)",
            }
        )
    out.append(
        {
            "classifier": "XSTest string matching (computed here)",
            "data": f"PyRIT refusal.csv v{version}",
            "n": len(data.rows),
            "accuracy_binary": strmatch / len(data.rows),
            "source": "refusal-calibration",
        }
    )
    return out
