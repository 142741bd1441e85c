"""The one trainer of the offline scorers: logistic regressions on sentence-embedding features.

Every offline scorer (the toxicity classifier, the TruthfulQA truth and info judges, the refusal
probe, the harm judge) is a *feature set* and a *configuration* on top of this module:

- features: an ``(n, d)`` array computed by the scorer's own module from packaged MiniLM
  embeddings (:mod:`safetylens.scorers.embeddings`) and whatever else it adds;
- :func:`fit_logistic`: the one logistic-regression fit (scikit-learn, lbfgs, L2);
- :func:`group_split` and :func:`grouped_folds`: splits that keep a group (a question, an
  objective, a prompt file) on one side;
- :func:`select_best`: the choice of C (and of any other setting) on data the final model is not
  validated on; the first best candidate wins, so the order of a grid is part of the recipe;
- :func:`binary_metrics`: held-out validation (accuracy, balanced accuracy, AUC by
  :func:`~safetylens.stats.classification.roc_auc`, F1, with intervals);
- :func:`write_artifact` / :func:`read_artifact`: the stored JSON artefact, weights as exact float
  lists so the same training gives the same bytes and the same ``weights_sha256``, with the hashes
  of the training data and of the encoder, and the validation scores, which travel into every
  manifest that uses it. :class:`LinearProbe` is the binary artefact; the judges and the harm
  model store their own weight layout through the same two functions.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from safetylens.errors import DataError
from safetylens.spec import ScorerRecord, utc_now
from safetylens.stats.bootstrap import bootstrap_distribution
from safetylens.stats.ci import wilson_interval
from safetylens.stats.classification import roc_auc
from safetylens.util import atomic_write_text, canonical_json, sha256_text

PROBE_FORMAT = 1

T = TypeVar("T")

# --------------------------------------------------------------------------------------------------
# Stored artefacts


def weights_hash(payload: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of what determines a scorer's predictions."""
    return sha256_text(canonical_json(payload))


def write_artifact(path: Path, payload: dict[str, Any]) -> None:
    """Write an artefact as JSON (atomic; one-space indent, NaN allowed, final newline).

    The layout is fixed so that retraining with the same recipe writes the same bytes.
    """
    atomic_write_text(path, json.dumps(payload, indent=1, allow_nan=True) + "\n")


def read_artifact(path: Path, what: str, hint: str | None = None) -> dict[str, Any]:
    """Read an artefact's JSON object.

    Args:
        path: The file.
        what: What it is, for messages (``"probe"``, ``"offline judge"``).
        hint: How to make a new one, for messages.

    Raises:
        DataError: Missing file, or not a JSON object.
    """
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}", hint=hint)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{path}: not a valid {what} file ({exc})", hint=hint) from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a valid {what} file (not a JSON object)", hint=hint)
    return data


def check_weights_hash(path: Path, stored: Any, computed: str, *, required: bool, hint: str | None = None) -> None:
    """Refuse an artefact whose stored ``weights_sha256`` does not match its weights.

    Args:
        path: The file (for the message).
        stored: The hash the file records (None when it records none).
        computed: The hash of the weights as read.
        required: Whether a file without a hash is refused too.
        hint: How to make a new one.

    Raises:
        DataError: The hashes differ (the file was edited or is corrupt).
    """
    if stored is None and not required:
        return
    if stored != computed:
        raise DataError(f"{path}: weights hash mismatch (file edited or corrupt)", hint=hint)


REPRODUCTION_TOLERANCE = 1e-4
"""Largest weight difference, relative to the largest stored weight, at which a retrained scorer still
counts as reproducing a stored one.

Embedding a text in a batch of another shape moves its embedding by float rounding (about 1e-7);
the solver, which stops at a gradient tolerance, turns that into weight differences some orders of
magnitude smaller than this, while another C or other data moves the weights by a tenth or more of
their size. An identical ``weights_sha256`` is the stronger statement."""


def _largest_number(a: Any) -> float:
    if isinstance(a, dict):
        return max((_largest_number(v) for v in a.values()), default=0.0)
    if isinstance(a, (list, tuple)):
        return max((_largest_number(v) for v in a), default=0.0)
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        return abs(float(a))
    return 0.0


def max_weight_difference(a: Any, b: Any) -> float:
    """Largest absolute difference between the numbers of two weight payloads of the same layout.

    Args:
        a: A ``weights_payload()`` (nested dicts and lists of numbers and strings).
        b: Another one.

    Returns:
        The largest difference; ``inf`` when the layouts or any non-numeric part (the encoder's
        identity, the aspect) differ.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return float("inf")
        return max((max_weight_difference(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return float("inf")
        return max((max_weight_difference(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    numeric = (int, float)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(float(a) - float(b))
    return 0.0 if a == b else float("inf")


def reproduction(retrained: Any, stored: Any) -> dict[str, Any]:
    """Whether a retrained scorer reproduces a stored one: same hash, or weights within the tolerance.

    Args:
        retrained: Anything with ``weights_payload()`` and ``weights_sha256``.
        stored: The same kind of object, e.g. the shipped artefact.

    Returns:
        ``{"identical", "max_weight_difference", "relative_difference", "within_tolerance", "tolerance"}``;
        the relative difference is against the largest stored weight.
    """
    payload = stored.weights_payload()
    diff = max_weight_difference(retrained.weights_payload(), payload)
    relative = diff / max(_largest_number(payload), 1e-300)
    return {
        "identical": retrained.weights_sha256 == stored.weights_sha256,
        "max_weight_difference": diff,
        "relative_difference": relative,
        "within_tolerance": relative <= REPRODUCTION_TOLERANCE,
        "tolerance": REPRODUCTION_TOLERANCE,
    }


def describe_reproduction(rep: dict[str, Any]) -> str:
    """One line for people: ``reproduced exactly``, ``reproduced within 0.0001 (...)`` or ``DIFFERENT (...)``."""
    if rep["identical"]:
        return "reproduced exactly (same weights hash)"
    diff = (
        f"largest weight difference {rep['max_weight_difference']:.1e}, "
        f"{rep['relative_difference']:.1e} of the largest weight"
    )
    if rep["within_tolerance"]:
        return f"reproduced within {rep['tolerance']:g} ({diff}; the hash differs by float rounding)"
    return f"DIFFERENT ({diff})"


# --------------------------------------------------------------------------------------------------
# Fitting, splitting, selecting


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    *,
    seed: int = 0,
    class_weight: str | None = None,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 2000,
    tol: float = 1e-4,
    quiet: bool = False,
) -> Any:
    """Fit scikit-learn's ``LogisticRegression`` (lbfgs, L2) with inverse regularisation ``c``.

    Two-class labels give one weight row; more classes a multinomial model with a row per class.

    Args:
        x: Features, shape ``(n, d)``.
        y: Class labels.
        c: Inverse regularisation strength.
        seed: The solver's ``random_state``.
        class_weight: ``"balanced"`` or None.
        sample_weight: Per-row weights (None: all 1).
        max_iter: Solver iterations (part of the recipe: changing it can change the weights).
        tol: The solver's stopping tolerance (scikit-learn's default 1e-4). Where the problem is
            ill-conditioned, a loose tolerance lets inputs that differ by float rounding stop at
            weights that differ far more; a tighter one makes retraining reproduce the weights.
        quiet: Silence convergence warnings (tiny subsets in tests and quick checks).

    Raises:
        DataError: The labels hold a single class.
    """
    from sklearn.linear_model import LogisticRegression

    if len(set(np.asarray(y).tolist())) < 2:
        raise DataError("training data has a single class; cannot train a classifier")
    clf = LogisticRegression(C=c, class_weight=class_weight, max_iter=max_iter, tol=tol, random_state=seed)
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        clf.fit(x, y, sample_weight=sample_weight)
    return clf


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


def grouped_folds(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number of each row, with every group (e.g. one objective's responses) in a single fold."""
    uniq = sorted(set(groups.tolist()))
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of = {uniq[j]: i % k for i, j in enumerate(order)}
    return np.array([fold_of[g] for g in groups])


def select_best(
    candidates: Iterable[T], score: Callable[[T], float], *, higher_is_better: bool, margin: float = 0.0
) -> tuple[T, list[tuple[T, float]]]:
    """The candidate with the best score; a later one must beat the best so far by more than ``margin``.

    So ties go to the earliest candidate: a grid of C listed from strong to weak regularisation
    prefers the stronger one.

    Args:
        candidates: Settings to try, in order of preference.
        score: The setting's score on data the final model is not validated on.
        higher_is_better: Maximise (accuracy, AUC) or minimise (log loss, MAE).
        margin: How much a later candidate must improve on the best so far.

    Returns:
        The chosen candidate and every ``(candidate, score)`` in order.

    Raises:
        ValueError: No candidates.
    """
    tried: list[tuple[T, float]] = []
    best: tuple[T, float] | None = None
    for cand in candidates:
        s = score(cand)
        tried.append((cand, s))
        if best is None or (s > best[1] + margin if higher_is_better else s < best[1] - margin):
            best = (cand, s)
    if best is None:
        raise ValueError("no candidates to select from")
    return best[0], tried


@dataclass(frozen=True)
class ProbeConfig:
    """The fitting settings of one offline scorer; with its feature set, they are its recipe.

    Attributes:
        c_grid: Candidate inverse regularisation strengths, in order of preference (a tie in the
            selection score goes to the earlier one).
        max_iter: Solver iterations.
        tol: The solver's stopping tolerance (see :func:`fit_logistic`).
        class_weight: ``"balanced"`` or None.
        higher_is_better: Whether the selection score (accuracy, AUC) is maximised or (log loss,
            MAE) minimised.
        selection_margin: How much a later C must improve the score to be chosen.
    """

    c_grid: tuple[float, ...]
    max_iter: int = 2000
    tol: float = 1e-4
    class_weight: str | None = None
    higher_is_better: bool = True
    selection_margin: float = 0.0

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        c: float,
        *,
        seed: int = 0,
        sample_weight: np.ndarray | None = None,
        quiet: bool = False,
    ) -> Any:
        """:func:`fit_logistic` with these settings."""
        return fit_logistic(
            x,
            y,
            c,
            seed=seed,
            class_weight=self.class_weight,
            sample_weight=sample_weight,
            max_iter=self.max_iter,
            tol=self.tol,
            quiet=quiet,
        )

    def select_c(
        self, score: Callable[[float], float], grid: Sequence[float] | None = None
    ) -> tuple[float, list[tuple[float, float]]]:
        """:func:`select_best` over ``grid`` (default :attr:`c_grid`) with this selection rule."""
        return select_best(
            self.c_grid if grid is None else grid,
            score,
            higher_is_better=self.higher_is_better,
            margin=self.selection_margin,
        )


# --------------------------------------------------------------------------------------------------
# Held-out validation


def binary_metrics(
    y_true: Sequence[int] | np.ndarray,
    p: Sequence[float] | np.ndarray,
    threshold: float = 0.5,
    seed: int = 0,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, AUC, F1, precision and recall, with 95% intervals.

    Accuracy uses a Wilson interval; AUC a percentile bootstrap over examples (resamples with a
    single class have no AUC and are left out).

    Args:
        y_true: Human labels (0/1).
        p: Predicted positive-class probabilities.
        threshold: Decision threshold (label = p >= threshold).
        seed: Bootstrap seed.
        n_resamples: Bootstrap resamples for the AUC interval.
    """
    from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score

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
        out["auc"] = roc_auc(y, prob)
        dist = bootstrap_distribution(n, lambda idx: roc_auc(y[idx], prob[idx]), n_resamples=n_resamples, seed=seed)
        aucs = dist[~np.isnan(dist)]
        lo, hi = np.quantile(aucs, [0.025, 0.975]) if aucs.size else (float("nan"), float("nan"))
        out["auc_ci"] = [float(lo), float(hi)]
    else:
        out["auc"] = float("nan")
    return out


# --------------------------------------------------------------------------------------------------
# The binary probe artefact


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
        return weights_hash(self.weights_payload())

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
        """Positive-class probabilities for features of shape ``(n, dim)``."""
        z = embeddings.astype(np.float64) @ np.asarray(self.coef, dtype=np.float64) + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def with_validation(self, validation: dict[str, Any]) -> LinearProbe:
        """The same probe with other validation scores (the weights, and so the hash, unchanged)."""
        return replace(self, validation=validation)

    def save(self, path: Path) -> None:
        """Write the probe as JSON (atomic)."""
        write_artifact(
            path,
            {
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
            },
        )

    @classmethod
    def load(cls, path: Path) -> LinearProbe:
        """Read a probe and check its weights hash.

        Raises:
            DataError: Missing, malformed, or tampered file.
        """
        data = read_artifact(path, "probe")
        try:
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
        check_weights_hash(
            path,
            data.get("weights_sha256"),
            probe.weights_sha256,
            required=False,
            hint="retrain it, or restore the original file",
        )
        return probe


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
    max_iter: int = 2000,
) -> LinearProbe:
    """Fit a binary probe on the training rows and score it on the validation rows.

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
        max_iter: Solver iterations.

    Raises:
        DataError: The training rows hold a single class.
    """
    y = np.asarray(labels, dtype=int)
    clf = fit_logistic(
        embeddings[train_mask],
        y[train_mask],
        c,
        seed=seed,
        class_weight=class_weight,
        sample_weight=None if sample_weight is None else sample_weight[train_mask],
        max_iter=max_iter,
    )
    probe = LinearProbe(
        id=probe_id,
        version=version,
        coef=tuple(float(x) for x in clf.coef_[0]),
        intercept=float(clf.intercept_[0]),
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
    return probe.with_validation(validation)


def check_encoder(trained_on: dict[str, Any], encoder: Any, what: str, hint: str) -> None:
    """Refuse an encoder other than the one a scorer was trained on (its features would mean nothing).

    Raises:
        DataError: The weights hashes differ.
    """
    have = encoder.identity.get("weights_sha256")
    if have != trained_on.get("weights_sha256"):
        raise DataError(
            f"{what} was trained on encoder {trained_on.get('weights_sha256')}, but the installed encoder is {have}",
            hint=hint,
        )


class ProbeClassifier:
    """A :class:`~safetylens.scorers.base.TextClassifier` from a probe and an encoder.

    Args:
        probe: The trained probe.
        encoder: Anything with ``encode(texts, progress)`` (a SentenceEncoder or EmbeddingCache) whose
            identity matches the probe's encoder.
        threshold: Override the probe's decision threshold.
    """

    def __init__(self, probe: LinearProbe, encoder: Any, threshold: float | None = None) -> None:
        check_encoder(probe.encoder, encoder, f"probe {probe.id}", "retrain the probe with the installed encoder")
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
