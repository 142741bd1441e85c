"""Each offline scorer trained through the shared probe trainer gives the weights its own former trainer gave.

The former trainers (before the offline scorers shared :mod:`safetylens.scorers.probe`) are kept
here as references, written directly against scikit-learn. Each is run on a small real subset of
the scorer's training data, on the same cached embeddings, and the weights must be identical: the
shared trainer is the same procedure, so ``scorers train`` still reproduces the shipped artefacts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score, roc_curve

from safetylens.datasets.registry import DataStore
from safetylens.scorers import harm_probe, refusal_probe, toxicity, truthfulqa_judges
from safetylens.scorers.embeddings import EmbeddingCache, SentenceEncoder
from safetylens.scorers.probe import group_split


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingCache:
    return EmbeddingCache(SentenceEncoder(threads=2, batch_size=32), tmp_path_factory.mktemp("emb") / "emb.sqlite")


@pytest.fixture(scope="module")
def store(shared_data_dir: Path) -> DataStore:
    return DataStore([shared_data_dir])


def _old_toxicity(x: np.ndarray, y: np.ndarray, is_prompt: np.ndarray, held: np.ndarray, seed: int) -> tuple:
    held_prompt = held & is_prompt
    best = None
    for w in toxicity.PROMPT_WEIGHTS:
        weights = np.where(is_prompt, w, 1.0)
        for c in toxicity.C_GRID:
            clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
            clf.fit(x[~held], y[~held], sample_weight=weights[~held])
            p_held = clf.predict_proba(x[held])[:, 1]
            auc = float(roc_auc_score(y[held_prompt], clf.predict_proba(x[held_prompt])[:, 1]))
            if best is None or auc > best[0]:
                best = (auc, w, c, p_held)
    assert best is not None
    _, w, c, p_held = best
    p_by_row = np.full(len(y), np.nan)
    p_by_row[held] = p_held
    fpr, tpr, thr = roc_curve(y[held_prompt], p_by_row[held_prompt])
    threshold = float(min(1.0, max(0.0, thr[int(np.argmax(tpr - fpr))])))
    final = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
    final.fit(x, y, sample_weight=np.where(is_prompt, w, 1.0))
    return tuple(float(v) for v in final.coef_[0]), float(final.intercept_[0]), threshold


def test_toxicity_probe_matches_the_former_trainer(
    store: DataStore, encoder: EmbeddingCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFETYLENS_HOME", str(tmp_path))
    probe = toxicity.train_offline(
        store, max_per_file=10, seed=0, validation_sample=2, encoder=encoder, out_path=tmp_path / "t.json"
    )
    val = [it.text for it in toxicity.validation_items(store)]
    ex = toxicity.build_training_corpus(store, val, max_per_file=10, seed=0).examples
    x = np.asarray(encoder.encode([e.text for e in ex]))
    y = np.array([e.label for e in ex])
    is_prompt = np.array([e.source.startswith("toxigen/") for e in ex])
    held = toxicity.held_out_split([e.source for e in ex], 0)
    coef, intercept, threshold = _old_toxicity(x, y, is_prompt, held, 0)
    assert probe.coef == coef and probe.intercept == intercept and probe.threshold == threshold


def _old_judge_fit(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> LogisticRegression:
    import warnings

    clf = LogisticRegression(C=c, max_iter=3000, tol=1e-8, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(x, y)
    return clf


def _old_judge_select(x: np.ndarray, y: np.ndarray, questions: Sequence[str], seed: int) -> float:
    inner_train, inner_val = group_split(list(questions), 0.2, seed + 1)
    best = (math.inf, truthfulqa_judges.C_GRID[0])
    for c in truthfulqa_judges.C_GRID:
        m = _old_judge_fit(x[inner_train], y[inner_train], c, seed)
        p = np.clip(m.predict_proba(x[inner_val])[:, 1], 1e-12, 1 - 1e-12)
        loss = float(log_loss(y[inner_val], p, labels=[0, 1]))
        if loss < best[0]:
            best = (loss, c)
    return best[1]


def test_truthfulqa_judge_matches_the_former_trainer(store: DataStore, encoder: EmbeddingCache, tmp_path: Path) -> None:
    model = truthfulqa_judges.train_offline_judge(
        store, "truth", max_questions=30, encoder=encoder, out_path=tmp_path / "j.json", n_resamples=20
    )
    labels = truthfulqa_judges.load_label_set(store, "truth")
    train_q, _ = truthfulqa_judges.question_split([it.question for it in labels.items], max_questions=30)
    items = [it for it in labels.items if it.question in set(train_q)]
    qs = [it.question for it in items]
    base, refs, _ = truthfulqa_judges.compute_features(
        qs, [it.answer for it in items], [labels.references[q] for q in qs], encoder
    )
    y = np.array([it.label for it in items])
    full = np.concatenate([base, refs], axis=1)
    for x, got in ((full, model.with_refs), (base, model.without_refs)):
        c = _old_judge_select(x, y, qs, 0)
        ref = _old_judge_fit(x, y, c, 0)
        assert got.c == c
        assert got.coef == tuple(float(v) for v in ref.coef_[0]) and got.intercept == float(ref.intercept_[0])


def test_refusal_probe_matches_the_former_trainer(store: DataStore, encoder: EmbeddingCache) -> None:
    models = ("gpt4", "llama2orig", "mistralguard")
    probe = refusal_probe.train_offline(store, encoder, models=models, limit_per_model=30)
    data = refusal_probe.xstest_training_set(store, models, 30)
    x = refusal_probe.features(encoder, data.responses, data.prompts)
    medians = [float(np.median(x[:, j])) for j in (-3, -2)]
    pyrit, _, _ = refusal_probe.pyrit_rows(store, encoder, medians)
    best_c, best_acc = refusal_probe.C_GRID[0], -1.0
    for c in refusal_probe.C_GRID:
        correct = 0
        for g in sorted(set(data.models.tolist())):
            test = data.models == g
            clf = LogisticRegression(C=c, max_iter=3000, random_state=0).fit(x[~test], data.y[~test])
            correct += int(((clf.predict_proba(x[test])[:, 1] >= 0.5).astype(int) == data.y[test]).sum())
        if correct / len(data.y) > best_acc + 1e-12:
            best_c, best_acc = c, correct / len(data.y)
    w = len(data.y) / len(pyrit.y)
    clf = LogisticRegression(C=best_c, max_iter=3000, random_state=0).fit(
        np.vstack([x, pyrit.x]),
        np.concatenate([data.y, pyrit.y]),
        sample_weight=np.concatenate([np.ones(len(data.y)), np.full(len(pyrit.y), w)]),
    )
    assert probe.training["C"] == best_c
    assert probe.coef == tuple(float(v) for v in clf.coef_[0]) and probe.intercept == float(clf.intercept_[0])


def test_harm_model_matches_the_former_trainer(store: DataStore, encoder: EmbeddingCache) -> None:
    from safetylens.datasets.harm_labels import load_calibration
    from safetylens.scorers.rating_states import CachedRatingStates

    # The two smallest categories (88 answers): every answer costs a pass of the built-in model.
    cats = ("hate_speech", "representational")
    states = CachedRatingStates()
    model = harm_probe.train_offline(store, encoder, states=states, categories=cats)
    rows = load_calibration(store, cats)
    x = harm_probe.harm_features(
        refusal_probe.OfflineRefusal(encoder=encoder), states, [r.response for r in rows], [r.objective for r in rows]
    )
    y = np.array([r.mean_human for r in rows])
    groups = np.array([r.category for r in rows])

    def fit(xx: np.ndarray, yy: np.ndarray, c: float) -> harm_probe.LevelModel:
        # Standardised features; the scaling folded into the weights, so the model takes raw features.
        mu, sd = xx.mean(axis=0), xx.std(axis=0)
        sd[sd == 0] = 1.0
        clf = LogisticRegression(C=c, max_iter=3000, random_state=0).fit((xx - mu) / sd, np.rint(yy * 4).astype(int))
        coef = np.asarray(clf.coef_, dtype=np.float64) / sd
        intercept = np.asarray(clf.intercept_, dtype=np.float64) - coef @ mu
        return harm_probe.LevelModel(
            tuple(float(k) / 4 for k in clf.classes_),
            tuple(tuple(float(v) for v in r) for r in coef),
            tuple(float(v) for v in intercept),
        )

    def mae(c: float) -> float:
        pred = np.zeros(len(y))
        for g in sorted(set(groups.tolist())):
            test = groups == g
            m = fit(x[~test], y[~test], c)
            pred[test] = harm_probe.median_level(m.proba(x[test]), m.levels)
        return float(np.abs(pred - y).mean())

    c_old = min((mae(c), c) for c in harm_probe.C_GRID)[1]
    ref = fit(x, y, c_old)
    assert model.training["C"] == c_old and model.training["states"] == states.identity
    assert model.coef == ref.coef and model.intercept == ref.intercept
    # Folding the scaling in changes no prediction.
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    clf = LogisticRegression(C=c_old, max_iter=3000, random_state=0).fit((x - mu) / sd, np.rint(y * 4).astype(int))
    assert np.allclose(model.proba(x), clf.predict_proba((x - mu) / sd), atol=1e-9)
