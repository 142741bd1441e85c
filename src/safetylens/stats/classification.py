"""Agreement of a classifier with people on labelled items, each figure with its interval and n.

:func:`classifier_agreement` treats the classifier as a second rater beside the human label:

- accuracy with a Wilson interval;
- Cohen's kappa and Gwet's AC1 with their linearised standard errors and t intervals (the same code
  that computes rater agreement in studies, :mod:`safetylens.stats.irr`), because accuracy alone
  flatters a classifier on a skewed set (a constant guess is right on the majority class);
- precision, recall and F1 per class with percentile-bootstrap intervals over items, and macro F1.

:func:`roc_auc` is the one area under the ROC curve of safetylens (probe validation, judge metrics,
model selection), for one set of scores or for every row of a block of bootstrap resamples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from safetylens.errors import DataError
from safetylens.stats.ci import Estimate, bootstrap_ci, proportion
from safetylens.stats.irr import cohen_kappa, gwet_ac


class ClassScores(BaseModel):
    """Precision, recall and F1 of one class (as fractions), with the class's human and predicted counts."""

    model_config = ConfigDict(frozen=True)

    label: str
    n_human: int
    n_predicted: int
    precision: Estimate
    recall: Estimate
    f1: Estimate


class Agreement(BaseModel):
    """A classifier's agreement with human labels.

    Attributes:
        n: Items compared.
        labels: The classes, in the order of ``confusion``'s rows and columns.
        accuracy: Share of items where the classifier gives the human label (fraction, Wilson interval).
        cohen_kappa: Cohen's kappa, classifier vs human.
        gwet_ac1: Gwet's AC1, classifier vs human.
        macro_f1: Unweighted mean of the per-class F1 (bootstrap interval).
        per_class: Precision, recall and F1 of each class.
        confusion: ``confusion[i][j]`` = items the human put in ``labels[i]`` and the classifier in ``labels[j]``.
    """

    model_config = ConfigDict(frozen=True)

    n: int
    labels: tuple[str, ...]
    accuracy: Estimate
    cohen_kappa: Estimate
    gwet_ac1: Estimate
    macro_f1: Estimate
    per_class: tuple[ClassScores, ...]
    confusion: tuple[tuple[int, ...], ...]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict: every estimate as ``{value, ci_low, ci_high, n, method}``."""

        def est(e: Estimate) -> dict[str, Any]:
            out: dict[str, Any] = {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n}
            if "se" in e.extra:
                out["se"] = e.extra["se"]
            out["method"] = e.method
            return out

        return {
            "n": self.n,
            "labels": list(self.labels),
            "accuracy": est(self.accuracy),
            "cohen_kappa": est(self.cohen_kappa),
            "gwet_ac1": est(self.gwet_ac1),
            "macro_f1": est(self.macro_f1),
            "per_class": {
                c.label: {
                    "n_human": c.n_human,
                    "n_predicted": c.n_predicted,
                    "precision": est(c.precision),
                    "recall": est(c.recall),
                    "f1": est(c.f1),
                }
                for c in self.per_class
            },
            "confusion": [list(r) for r in self.confusion],
        }


def roc_auc(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> Any:
    """Area under the ROC curve: the chance that a random positive scores above a random negative.

    Computed in the Mann-Whitney form, ``(sum of the positives' ranks - n1 (n1 + 1) / 2) / (n1 n0)``,
    with average ranks for ties (a tie counts one half), which equals scikit-learn's
    ``roc_auc_score``. The rank sums are sums of half-integers and so exact in floating point: the
    value does not depend on the order of the items. Rows of 2-D inputs are scored independently,
    which is how a block of bootstrap resamples is scored in one call.

    Args:
        y_true: 0/1 labels, shape ``(n,)`` or ``(b, n)``.
        scores: Scores (higher = more likely positive), the same shape.

    Returns:
        A float for 1-D inputs, else an array of shape ``(b,)``; NaN where a row has a single class
        (no AUC is defined).

    Raises:
        ValueError: The shapes differ.
    """
    from scipy.stats import rankdata

    y = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"labels have shape {y.shape} but scores {s.shape}")
    if y.shape[-1] == 0:
        return float("nan") if y.ndim == 1 else np.full(y.shape[0], np.nan)
    ranks = rankdata(s, axis=-1)
    n1 = y.sum(axis=-1)
    n0 = y.shape[-1] - n1
    auc = ((ranks * y).sum(axis=-1) - n1 * (n1 + 1) / 2) / np.maximum(n1 * n0, 1)
    auc = np.where((n1 > 0) & (n0 > 0), auc, np.nan)
    return float(auc) if y.ndim == 1 else np.asarray(auc, dtype=np.float64)


def _f1_stat(human: np.ndarray, pred: np.ndarray, k: int) -> Any:
    """Vectorised F1 of class ``k`` over resampled index rows (``idx`` of shape ``(B, n)``)."""

    def stat(idx: np.ndarray) -> np.ndarray:
        h = human[idx.astype(int)] == k
        p = pred[idx.astype(int)] == k
        tp = (h & p).sum(axis=1)
        denom = h.sum(axis=1) + p.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)
        return np.asarray(f1, dtype=float)

    return stat


def _macro_stat(human: np.ndarray, pred: np.ndarray, q: int) -> Any:
    per = [_f1_stat(human, pred, k) for k in range(q)]

    def stat(idx: np.ndarray) -> np.ndarray:
        return np.asarray(np.nanmean(np.stack([f(idx) for f in per]), axis=0), dtype=float)

    return stat


def _f1_value(h: np.ndarray, p: np.ndarray, k: int) -> float:
    tp = int(((h == k) & (p == k)).sum())
    denom = int((h == k).sum() + (p == k).sum())
    return 2 * tp / denom if denom else float("nan")


def classifier_agreement(
    human: Sequence[str],
    predicted: Sequence[str],
    labels: Sequence[str],
    *,
    level: float = 0.95,
    n_resamples: int = 2_000,
    seed: int = 0,
) -> Agreement:
    """Agreement of ``predicted`` with ``human`` over the same items.

    Args:
        human: The human label of each item.
        predicted: The classifier's label of each item.
        labels: Every class, in report order (a class nobody used still counts for chance agreement).
        level: Confidence level of every interval.
        n_resamples: Bootstrap resamples for the F1 intervals.
        seed: Seed of the bootstrap.

    Raises:
        DataError: Lengths differ, no items, or a label outside ``labels``.
    """
    if len(human) != len(predicted):
        raise DataError(f"{len(human)} human labels but {len(predicted)} predictions")
    if not human:
        raise DataError("no items to compare")
    index = {lab: i for i, lab in enumerate(labels)}
    for name, seq in (("human", human), ("predicted", predicted)):
        stray = sorted({x for x in seq if x not in index})
        if stray:
            raise DataError(f"{name} labels outside the classes {list(labels)}: {stray[:5]}")
    h = np.array([index[x] for x in human])
    p = np.array([index[x] for x in predicted])
    n, q = len(h), len(labels)
    confusion = np.zeros((q, q), dtype=int)
    np.add.at(confusion, (h, p), 1)
    pairs = [[a, b] for a, b in zip(human, predicted, strict=True)]
    kappa = cohen_kappa(pairs, categories=list(labels)).to_estimate()
    ac1 = gwet_ac(pairs, categories=list(labels)).to_estimate()
    items = np.arange(n, dtype=float)
    method = f"bootstrap-percentile({n_resamples}, seed={seed}) over items"
    per_class: list[ClassScores] = []
    for k, lab in enumerate(labels):
        tp = int(confusion[k, k])
        n_h, n_p = int(confusion[k].sum()), int(confusion[:, k].sum())
        lo, hi = bootstrap_ci(items, _f1_stat(h, p, k), n_resamples=n_resamples, level=level, seed=seed)
        per_class.append(
            ClassScores(
                label=lab,
                n_human=n_h,
                n_predicted=n_p,
                # A class nobody used has no precision or recall: NaN with the whole [0, 1] interval.
                precision=proportion(tp, n_p, level, percent=False),
                recall=proportion(tp, n_h, level, percent=False),
                f1=Estimate(value=_f1_value(h, p, k), ci_low=lo, ci_high=hi, n=n, level=level, method=method),
            )
        )
    lo, hi = bootstrap_ci(items, _macro_stat(h, p, q), n_resamples=n_resamples, level=level, seed=seed)
    macro = (
        float(np.nanmean([c.f1.value for c in per_class]))
        if any(c.n_human or c.n_predicted for c in per_class)
        else float("nan")
    )
    return Agreement(
        n=n,
        labels=tuple(labels),
        accuracy=proportion(int(np.trace(confusion)), n, level, percent=False),
        cohen_kappa=kappa,
        gwet_ac1=ac1,
        macro_f1=Estimate(value=macro, ci_low=lo, ci_high=hi, n=n, level=level, method=method),
        per_class=tuple(per_class),
        confusion=tuple(tuple(int(x) for x in row) for row in confusion),
    )
