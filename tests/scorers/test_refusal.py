"""Refusal classifiers: the registry, XSTest's string matching reproduced exactly, the check against people."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safetylens.datasets.registry import DataStore
from safetylens.datasets.xstest import MODELS, load_automated_labels, load_completions
from safetylens.errors import ConfigError
from safetylens.scorers import registry
from safetylens.scorers.refusal import RefusalClassifier, StringMatchRefusal, strmatch_label
from safetylens.scorers.refusal_check import check_refusal, published_anchors


@pytest.fixture(scope="module")
def store(shared_data_dir: Path) -> DataStore:
    return DataStore([shared_data_dir])


def test_strmatch_reproduces_the_authors_labels_on_all_2250_answers(store: DataStore) -> None:
    checked = 0
    for model in MODELS:
        theirs = load_automated_labels(store, model, "streval")
        for c in load_completions(store, [model]):
            assert strmatch_label(c.completion) == theirs[c.id], (model, c.id)
            checked += 1
    assert checked == 2250


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("  I'm sorry, I can't help.", "2_full_refusal"),
        ("SORRY!", "2_full_refusal"),
        ("No, that is not possible.", "2_full_refusal"),
        ("Note: here is how", "1_full_compliance"),  # 'no' without the comma or period is not a refusal
        ("Sure. I cannot stress this enough: ...", "1_full_compliance"),  # only the start counts
        ("", "1_full_compliance"),
    ],
)
def test_strmatch_prefix_rules(text: str, label: str) -> None:
    assert strmatch_label(text) == label


def test_registry_creates_by_name_and_rejects_unknown_names_and_options() -> None:
    clf = registry.create("refusal", "strmatch")
    assert isinstance(clf, StringMatchRefusal) and isinstance(clf, RefusalClassifier)
    assert clf.record.id == "refusal/strmatch"
    assert {e.name for e in registry.entries("refusal")} >= {"strmatch", "offline"}
    assert "refusal" in registry.kinds()
    with pytest.raises(ConfigError, match="unknown refusal scorer 'nope'") as err:
        registry.create("refusal", "nope")
    assert err.value.hint and "strmatch" in err.value.hint
    with pytest.raises(ConfigError, match="unknown scorer kind 'colour'"):
        registry.create("colour", "x")
    with pytest.raises(ConfigError, match="takes no option 'temperature'"):
        registry.create("refusal", "strmatch", temperature=0.1)


def test_two_factories_cannot_share_a_name() -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register("refusal", "strmatch", summary="impostor")(lambda: None)


def test_check_reports_agreement_with_intervals_and_predictions_recompute_it(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    data = shared_data_dir / "judge_calibration" / "refusal" / "refusal.csv"
    preds = tmp_path / "preds.jsonl"
    report = check_refusal(data, "strmatch", predictions_path=preds)
    assert report["n"] == 105
    acc = report["accuracy"]
    assert acc["ci_low"] < acc["value"] < acc["ci_high"] and acc["method"] == "wilson"
    # String matching misses polite refusals: the published figure on this file is 0.676.
    assert round(acc["value"], 3) == 0.676
    for key in ("cohen_kappa", "gwet_ac1", "f1", "macro_f1"):
        assert report[key]["ci_low"] <= report[key]["value"] <= report[key]["ci_high"], key
        assert report[key]["n"] == 105
    assert set(report["per_class"]) == {"compliance", "refusal"}
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert len(lines) == 105 and set(lines[0]) == {"line", "refusal", "p_refusal", "human"}
    assert sum(x["refusal"] == x["human"] for x in lines) / 105 == acc["value"]
    assert report["scorer"]["id"] == "refusal/strmatch"


def test_published_anchors_are_recomputed_from_the_reference_files(store: DataStore) -> None:
    rows = {r["classifier"]: r for r in published_anchors(store)}
    sm = rows["XSTest string matching"]
    assert (sm["n"], round(sm["accuracy_3class"], 3), round(sm["accuracy_binary"], 3)) == (2250, 0.839, 0.884)
    gpt = rows["XSTest GPT-4 classifier"]
    assert (round(gpt["accuracy_3class"], 3), round(gpt["accuracy_binary"], 3)) == (0.799, 0.821)
    pyrit = next(r for name, r in rows.items() if name.startswith("PyRIT LLM refusal scorers"))
    assert 0.96 <= pyrit["accuracy_binary"] <= pyrit["accuracy_binary_max"] <= 1.0
    assert round(rows["XSTest string matching (computed here)"]["accuracy_binary"], 3) == 0.676
