"""Preference export for reward-model training: strengths, Llama 2 margins, the 3-way safety bin,
drop rules, provenance, and that the file loads with `datasets` in TRL's preference format.

Fixed ratings on a pairwise study (alpha vs beta) and a safety study of the same responses; every
expected row is worked out by hand in the comments. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from safetylens.errors import ConfigError
from safetylens.human import assignment as A
from safetylens.human.auth import create_user
from safetylens.human.db import Database
from safetylens.human.preferences import PreferenceOptions, preference_rows, strength_and_direction, write_preferences

from .conftest import PASSWORD
from .helpers import make_study

# Signed scores from alpha's (the first model's) point of view, one per rater.
PAIRWISE = {
    "p0": (3, 3, 2),  # median 3: alpha "significantly better"
    "p1": (-1, -2, -2),  # median -2: beta "better"
    "p2": (0, 1, -1),  # median 0: a tie
    "p3": (1, 1, 0),  # median 1: alpha "slightly better", but alpha is unsafe and beta safe
    "p4": (2, 1, 3),  # median 2: alpha "better"
}
# Safety ratings (1-5) of each response by three raters.
SAFETY = {
    ("p0", "alpha"): (5, 5, 4),
    ("p0", "beta"): (1, 1, 1),
    ("p1", "alpha"): (2, 2, 1),
    ("p1", "beta"): (2, 1, 1),
    ("p2", "alpha"): (4, 4, 4),
    ("p2", "beta"): (5, 4, 4),
    ("p3", "alpha"): (1, 2, 2),
    ("p3", "beta"): (4, 4, 5),
    ("p4", "alpha"): (4, 5, 5),
    ("p4", "beta"): (3, 4, 3),
}


def _rated_studies(db: Database) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    pw = make_study(db, raters, kind="pairwise", n_prompts=5, models=("alpha", "beta"), name="pw")
    sf = make_study(db, raters, kind="safety", n_prompts=5, models=("alpha", "beta"), name="sf")
    from sqlalchemy import select

    from safetylens.human.models import Item, Prompt, Response

    with db.read() as s:
        info = {
            i.id: (p.external_id, ra.model, i.response_b_id is not None)
            for i, p, ra in s.execute(
                select(Item, Prompt, Response)
                .join(Prompt, Prompt.id == Item.prompt_id)
                .join(Response, Response.id == Item.response_id)
            )
        }
    for k, r in enumerate(raters):
        for study in (pw, sf):
            while (res := A.next_assignment(db, study.id, r.id)) is not None:
                ext, model_a, pairwise = info[res.item_id]
                if pairwise:
                    score = PAIRWISE[ext][k]
                    # Shown value: 1 = "A is much better"; alpha may be on either side.
                    value = 4 - score if model_a == "alpha" else 4 + score
                else:
                    value = SAFETY[(ext, model_a)][k]
                A.submit_rating(db, res.assignment_id, r.id, value, time_spent_ms=1000)


def test_strength_rules() -> None:
    assert strength_and_direction([3, 3, 2], "median") == (1, 3)
    assert strength_and_direction([-1, -2, -2], "median") == (-1, 2)
    assert strength_and_direction([0, 1, -1], "median") == (0, 0)
    assert strength_and_direction([1, 2], "median") == (1, 1)  # 1.5 rounds towards zero
    # Majority: 2 of 3 prefer alpha with strengths 3 and 1 -> median 2; the third prefers beta.
    assert strength_and_direction([3, 1, -3], "majority") == (1, 2)
    assert strength_and_direction([3, -1, 0], "majority") == (0, 0)


def test_preference_rows_margins_bins_and_drop_rules(db: Database, db_url: str, tmp_path: Path) -> None:
    _rated_studies(db)
    rows, stats = preference_rows(db, "pw", PreferenceOptions(safety_study="sf"))
    by_prompt = {r["prompt_id"]: r for r in rows}
    assert sorted(by_prompt) == ["p0", "p1", "p4"]
    assert stats["counts"] == {
        "items": 5,
        "exported": 3,
        "dropped_incomplete": 0,
        "dropped_ties": 1,
        "dropped_unsafe_chosen": 1,
        "safety_unknown": 0,
    }
    p0, p1, p4 = by_prompt["p0"], by_prompt["p1"], by_prompt["p4"]
    assert (p0["chosen_model"], p0["preference_label"], p0["margin"]) == ("alpha", "significantly better", 1.0)
    assert (p1["chosen_model"], p1["preference_label"], p1["margin"]) == ("beta", "better", pytest.approx(2 / 3))
    assert (p4["chosen_model"], p4["preference_label"], p4["margin"]) == ("alpha", "better", pytest.approx(2 / 3))
    assert p0["safety_bin"] == "chosen safe, rejected unsafe"
    assert p1["safety_bin"] == "both unsafe"
    assert p4["safety_bin"] == "both safe"
    # TRL conversational format with an explicit prompt.
    assert p1["prompt"] == [{"role": "user", "content": "prompt 1"}]
    assert p1["chosen"] == [{"role": "assistant", "content": "response of beta to prompt 1"}]
    assert p1["rejected"] == [{"role": "assistant", "content": "response of alpha to prompt 1"}]
    # Provenance: raters, individual labels from alpha's side, agreement, A/B mapping, guidelines.
    assert len(p1["raters"]) == 3 and len(set(p1["raters"])) == 3
    assert sorted(x["signed_score_first_model"] for x in p1["individual_labels"]) == [-2, -2, -1]
    assert p1["agreement"] == 1.0
    assert p1["agreement_exact_pairwise"] == pytest.approx(1 / 3)  # one of three rater pairs gave the same label
    assert set(p1["a_b_mapping"].values()) == {"alpha", "beta"}
    a_is_alpha = p1["a_b_mapping"]["A"] == "alpha"
    shown = sorted(x["value"] for x in p1["individual_labels"])
    assert shown == (sorted([5, 6, 6]) if a_is_alpha else sorted([3, 2, 2]))
    assert p1["guidelines_versions"] == [1]
    assert p4["agreement"] == 1.0 and p4["median_score_first_model"] == 2.0

    large, _ = preference_rows(db, "pw", PreferenceOptions(margin="large", keep_ties=True, keep_unsafe_chosen=True))
    by = {r["prompt_id"]: r for r in large}
    assert {k: by[k]["margin"] for k in sorted(by)} == {"p0": 3.0, "p1": 2.0, "p2": 0.0, "p3": 1.0, "p4": 2.0}
    # The tie: mean score 0 as well, so the first model (alpha) is chosen, flagged as a tie.
    assert (by["p2"]["is_tie"], by["p2"]["chosen_model"], by["p2"]["preference_label"]) == (
        True,
        "alpha",
        "negligibly better/unsure",
    )
    assert by["p2"]["agreement"] == pytest.approx(1 / 3)  # one rater said "about the same"
    assert by["p3"]["safety_bin"] is None  # no safety study given: unknown, so nothing is dropped for it

    with_bins, _ = preference_rows(db, "pw", PreferenceOptions(safety_study="sf", keep_unsafe_chosen=True))
    assert {r["prompt_id"]: r["safety_bin"] for r in with_bins}["p3"] == "chosen unsafe, rejected safe"
    none, _ = preference_rows(db, "pw", PreferenceOptions(margin="none", prompt_format="implicit"))
    assert "margin" not in none[0] and "prompt" not in none[0]
    assert none[0]["chosen"][0]["role"] == "user" and none[0]["chosen"][-1]["role"] == "assistant"
    with pytest.raises(ConfigError, match="pairwise"):
        preference_rows(db, "sf")

    from typer.testing import CliRunner

    from safetylens.cli import app

    out = tmp_path / "p.jsonl"
    args = ["human", "export-preferences", "pw", str(out), "--safety-study", "sf", "--margin", "large", "--db", db_url]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "3 preference pairs written" in result.output and "1 ties, 1 chosen-unsafe" in result.output
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["margin"] for r in exported) == [2.0, 2.0, 3.0]


def test_export_loads_with_datasets_in_trl_format(db: Database, tmp_path: Path) -> None:
    try:
        import datasets
    except ImportError:
        pytest.fail("the `datasets` package is needed for this test (dev extra)")
    _rated_studies(db)
    out = tmp_path / "prefs.jsonl"
    stats = write_preferences(db, "pw", out, PreferenceOptions(safety_study="sf"))
    manifest: dict[str, Any] = json.loads((tmp_path / "prefs.jsonl.manifest.json").read_text())
    assert manifest["counts"] == stats["counts"] and manifest["options"]["margin"] == "small"
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert ds.num_rows == 3
    # What TRL's RewardTrainer reads: prompt/chosen/rejected as lists of {role, content}, margin a float.
    for col in ("prompt", "chosen", "rejected"):
        feature = ds.features[col]
        inner = getattr(feature, "feature", feature[0] if isinstance(feature, list) else None)
        assert inner is not None and set(inner) == {"role", "content"}, (col, feature)
    assert ds.features["margin"].dtype in ("float64", "float32")
    for col in (
        "safety_bin",
        "item_id",
        "raters",
        "individual_labels",
        "agreement",
        "guidelines_versions",
        "a_b_mapping",
    ):
        assert col in ds.column_names
    row = ds[0]
    assert row["chosen"][0]["role"] == "assistant" and isinstance(row["margin"], float)
