"""The probe trainer every offline scorer uses: splits, selection, validation, the artefact, and the one AUC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from safetylens.errors import DataError
from safetylens.scorers.probe import (
    LinearProbe,
    ProbeClassifier,
    binary_metrics,
    fit_logistic,
    group_split,
    grouped_folds,
    max_weight_difference,
    reproduction,
    select_best,
    train_probe,
)
from safetylens.stats.classification import roc_auc


def _toy(n: int = 400, dim: int = 8, seed: int = 1) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, dim)) + y[:, None] * 1.5
    groups = [f"q{i // 4}" for i in range(n)]
    return x, y, groups


def test_group_split_is_disjoint_and_sized() -> None:
    _, _, groups = _toy()
    train, val = group_split(groups, 0.25, seed=3)
    val_groups = {g for g, m in zip(groups, val, strict=True) if m}
    train_groups = {g for g, m in zip(groups, train, strict=True) if m}
    assert not val_groups & train_groups
    assert abs(val.mean() - 0.25) < 0.02
    again = group_split(groups, 0.25, seed=3)
    assert (again[1] == val).all()


def test_binary_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    m = binary_metrics(y, p, threshold=0.5)
    assert m["n"] == 300
    assert m["accuracy"] == pytest.approx(((p >= 0.5) == y).mean())
    assert m["auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["accuracy_ci"][0] < m["accuracy"] < m["accuracy_ci"][1]
    assert m["auc_ci"][0] < m["auc"] < m["auc_ci"][1]


def test_train_save_load_roundtrip_and_tamper(tmp_path: Path) -> None:
    x, y, groups = _toy()
    train, val = group_split(groups, 0.2, seed=0)
    enc = {"id": "toy", "weights_sha256": "abc"}
    probe = train_probe(
        x,
        y,
        train_mask=train,
        val_mask=val,
        probe_id="toy",
        version="1",
        encoder=enc,
        training={"data": "synthetic"},
        description="toy probe",
    )
    assert probe.validation["held_out"]["accuracy"] > 0.8
    again = train_probe(
        x,
        y,
        train_mask=train,
        val_mask=val,
        probe_id="toy",
        version="1",
        encoder=enc,
        training={"data": "synthetic"},
        description="toy probe",
    )
    assert again.weights_sha256 == probe.weights_sha256  # deterministic training, deterministic hash
    path = tmp_path / "probe.json"
    probe.save(path)
    loaded = LinearProbe.load(path)
    assert loaded.weights_sha256 == probe.weights_sha256
    np.testing.assert_array_equal(loaded.decision(x), probe.decision(x))
    data = json.loads(path.read_text())
    data["coef"][0] += 1.0
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="hash mismatch"):
        LinearProbe.load(path)


def test_single_class_training_is_an_error() -> None:
    x, _, groups = _toy()
    y = np.zeros(len(x), dtype=int)
    train, val = group_split(groups, 0.2, seed=0)
    with pytest.raises(DataError, match="single class"):
        train_probe(
            x, y, train_mask=train, val_mask=val, probe_id="t", version="1", encoder={}, training={}, description=""
        )


class _Enc:
    def __init__(self, sha: str) -> None:
        self.identity = {"weights_sha256": sha}

    def encode(self, texts: list[str], progress: object = None) -> np.ndarray:
        return np.array([[len(t), t.count("!")] for t in texts], dtype=np.float32)


def test_probe_classifier_checks_encoder_identity() -> None:
    probe = LinearProbe(
        id="p",
        version="1",
        coef=(0.0, 2.0),
        intercept=-1.0,
        threshold=0.5,
        encoder={"weights_sha256": "aaa"},
        training={},
        validation={},
    )
    clf = ProbeClassifier(probe, _Enc("aaa"))
    p = clf.predict_proba(["calm", "angry!!"])
    assert p[0] < 0.5 < p[1]
    assert clf.record.weights_sha256 == probe.weights_sha256
    with pytest.raises(DataError, match="encoder"):
        ProbeClassifier(probe, _Enc("bbb"))


def test_roc_auc_equals_sklearn_with_ties_and_per_row() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300) * 0.5 + 0.5 * y * rng.random(300), 2)  # many ties
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    idx = np.random.default_rng(3).integers(0, 300, size=(40, 300))
    np.testing.assert_allclose(roc_auc(y[idx], p[idx]), [roc_auc_score(y[i], p[i]) for i in idx], atol=1e-12)
    # Hand-computed: 8 positive-negative pairs, 6 ordered right.
    assert roc_auc([1, 0, 1, 0, 1, 1], [0.9, 0.2, 0.4, 0.6, 0.7, 0.5]) == 6 / 8
    assert roc_auc([1, 0], [0.5, 0.5]) == 0.5
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert np.isnan(roc_auc(np.array([[1, 1], [0, 1]]), np.array([[0.1, 0.2], [0.1, 0.2]]))[0])
    with pytest.raises(ValueError, match="shape"):
        roc_auc([0, 1], [0.5])


def test_select_best_keeps_the_first_of_equals_and_the_margin() -> None:
    scores = {0.1: 0.5, 0.3: 0.7, 1.0: 0.7, 3.0: 0.6}
    best, tried = select_best(scores, scores.__getitem__, higher_is_better=True)
    assert best == 0.3 and tried == list(scores.items())
    assert select_best(scores, lambda c: -scores[c], higher_is_better=False)[0] == 0.3
    # A later candidate must beat the best by more than the margin.
    near = {0.1: 0.5, 0.3: 0.5 + 1e-13}
    assert select_best(near, near.__getitem__, higher_is_better=True, margin=1e-12)[0] == 0.1
    assert select_best(near, near.__getitem__, higher_is_better=True)[0] == 0.3
    with pytest.raises(ValueError):
        select_best([], float, higher_is_better=True)


def test_grouped_folds_keep_groups_together() -> None:
    groups = np.array([f"g{i % 7}" for i in range(50)])
    folds = grouped_folds(groups, 3, seed=1)
    assert set(folds.tolist()) == {0, 1, 2}
    for g in set(groups.tolist()):
        assert len(set(folds[groups == g].tolist())) == 1


def test_fit_logistic_is_sklearn_with_the_recipe_settings() -> None:
    from sklearn.linear_model import LogisticRegression

    x, y, _ = _toy()
    w = np.linspace(0.5, 2.0, len(y))
    got = fit_logistic(x, y, 0.3, seed=4, class_weight="balanced", sample_weight=w, max_iter=3000)
    ref = LogisticRegression(C=0.3, class_weight="balanced", max_iter=3000, random_state=4).fit(x, y, sample_weight=w)
    np.testing.assert_array_equal(got.coef_, ref.coef_)
    np.testing.assert_array_equal(got.intercept_, ref.intercept_)


def test_reproduction_is_an_equal_hash_or_weights_within_float_rounding() -> None:
    x, y, groups = _toy()
    train, val = group_split(groups, 0.2, seed=0)
    common: dict = dict(train_mask=train, val_mask=val, probe_id="t", version="1", training={}, description="")
    enc = {"id": "toy", "weights_sha256": "abc"}
    probe = train_probe(x, y, encoder=enc, **common)
    assert reproduction(train_probe(x, y, encoder=enc, **common), probe)["identical"]
    # Features moved by float rounding: another hash, the same weights to well within the tolerance.
    noisy = train_probe(x * (1 + 1e-9), y, encoder=enc, **common)
    rep = reproduction(noisy, probe)
    assert not rep["identical"] and rep["within_tolerance"] and 0 < rep["max_weight_difference"] < 1e-6
    # Another C, or another encoder, is a different scorer.
    assert not reproduction(train_probe(x, y, encoder=enc, c=0.01, **common), probe)["within_tolerance"]
    other = train_probe(x, y, encoder={**enc, "weights_sha256": "def"}, **common)
    assert max_weight_difference(other.weights_payload(), probe.weights_payload()) == float("inf")
    assert max_weight_difference({"a": [1.0, 2.0]}, {"a": [1.0]}) == float("inf")
