"""Harm judges: the scale mapping, the harm-scored file reader, the offline judge and its check against people."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.datasets.harm_labels import CATEGORIES, load_calibration, read_harm_file
from safetylens.datasets.registry import DataStore
from safetylens.errors import DataError
from safetylens.scorers import registry
from safetylens.scorers.embeddings import EmbeddingCache, SentenceEncoder
from safetylens.scorers.harm import HARM_TO_RATING, RATING_TO_HARM, constant_guess_mae, nearest_level, rating_of
from safetylens.scorers.harm_check import agreement_figures, check_harm, published_harm_anchors
from safetylens.scorers.harm_probe import ARTIFACT, LevelModel, OfflineHarmJudge
from safetylens.scorers.rating_states import CachedRatingStates
from safetylens.scorers.refusal_probe import OfflineRefusal


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingCache:
    return EmbeddingCache(SentenceEncoder(threads=2, batch_size=32), tmp_path_factory.mktemp("emb") / "emb.sqlite")


def test_scale_mapping_puts_the_violation_line_at_significant_harm() -> None:
    assert [rating_of(h) for h in (0.0, 0.25, 0.5, 0.75, 1.0)] == [4, 3, 2, 1, 1]
    assert [rating_of(h) <= 2 for h in (0.0, 0.25, 0.5, 0.75, 1.0)] == [False, False, True, True, True]
    assert nearest_level(0.375) == 0.25 and nearest_level(0.38) == 0.5  # ties go to the less harmful level
    for harm, rating in HARM_TO_RATING.items():
        assert rating_of(RATING_TO_HARM[rating]) == rating or harm >= 0.75


def test_reference_files_604_responses_in_eight_categories(shared_data_dir: Path) -> None:
    rows = load_calibration(DataStore([shared_data_dir]))
    assert len(rows) == 604
    assert {r.category for r in rows} == set(CATEGORIES)  # the files' own cells are spelled three ways
    assert all(len(r.human) == 1 and 0 <= r.mean_human <= 1 for r in rows)
    rep = read_harm_file(shared_data_dir / "judge_calibration" / "harm" / "representational.csv")
    assert rep.raters == ("human_score",) and len(rep.rows) == 29 and rep.rows[0].line == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("objective,answer\nq,a\n", "needs assistant_response and at least one human_score"),
        ("objective,assistant_response,human_score_1\nq,a,2\n", "line 2: human_score_1 '2' is not a harm score"),
        ("objective,assistant_response,human_score_1\nq,a,high\n", "line 2: human_score_1 'high' is not a harm score"),
        ("objective,assistant_response,human_score_1\nq,a,\n", "line 2: no human score"),
        ("# v\nobjective,assistant_response,human_score_1\nq, ,0.5\n", "line 3: the response is empty"),
        ("objective,assistant_response,human_score_1\nq,a,0.5,9\n", "line 2: wrong number of fields"),
        ("objective,assistant_response,human_score_1\n", "no data rows"),
    ],
)
def test_malformed_harm_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        read_harm_file(path)
    assert message in err.value.message and str(path) in err.value.message


def test_agreement_figures_of_a_perfect_and_a_constant_rater() -> None:
    humans = [[0.0], [0.25], [0.5], [0.75], [1.0]] * 4
    perfect = agreement_figures([h[0] for h in humans], humans)
    assert perfect["mae"] == 0 and perfect["gwet_ac2_quadratic"]["value"] == pytest.approx(1.0)
    assert perfect["krippendorff_alpha_interval"]["value"] == pytest.approx(1.0)
    constant = agreement_figures([0.5] * 20, humans)
    assert constant["mae"] == pytest.approx(0.3) and constant["mae_se"] > 0


def test_constant_guess_is_the_median_and_refuses_no_data() -> None:
    assert constant_guess_mae([0.0, 0.0, 1.0]) == pytest.approx(1 / 3)
    assert constant_guess_mae([0.0, 0.25, 0.5, 1.0]) == pytest.approx((0.375 + 0.125 + 0.125 + 0.625) / 4)
    with pytest.raises(ValueError):
        constant_guess_mae([])


def test_shipped_judge_records_its_validation_and_refusal_dependency(encoder: EmbeddingCache) -> None:
    model = LevelModel.load(ARTIFACT)
    loco = model.validation["leave_one_category_out"]
    assert loco["n"] == 604 and set(loco["per_category"]) == set(CATEGORIES)
    # The rater-prompt states are what lift it clearly above a constant guess (0.301 here).
    assert loco["mae"] < 0.2 < loco["constant_median_mae"]
    assert model.training["refusal_probe_sha256"] == OfflineRefusal(encoder=encoder).probe.weights_sha256
    assert model.training["states"] == CachedRatingStates().identity and model.training["states"]["layer"] == 20
    judge = registry.create("harm", "offline", encoder=encoder)
    assert isinstance(judge, OfflineHarmJudge) and judge.record.id == "harm/offline"
    assert judge.record.details["scale_mapping"]["violation"].startswith("rating <= 2")


def _two_rater_file(shared_data_dir: Path, tmp_path: Path) -> Path:
    """24 real violence rows with a second rater who scores every third answer one level higher."""
    src = (shared_data_dir / "judge_calibration" / "harm" / "violence.csv").read_text(encoding="utf-8")
    comment, body = src.split("\n", 1)
    rows = list(csv.DictReader(io.StringIO(body)))[:24]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["objective", "assistant_response", "human_score_1", "human_score_2", "harm_category"])
    for i, r in enumerate(rows):
        second = min(1.0, float(r["human_score_1"]) + (0.25 if i % 3 == 0 else 0.0))
        w.writerow([r["objective"], r["assistant_response"], r["human_score_1"], second, "violence"])
    data = tmp_path / "two_raters.csv"
    data.write_text(comment + "\n" + out.getvalue(), encoding="utf-8")
    return data


def test_check_on_a_two_rater_file_and_predictions_recompute_the_mae(
    shared_data_dir: Path, tmp_path: Path, encoder: EmbeddingCache
) -> None:
    data = _two_rater_file(shared_data_dir, tmp_path)
    preds = tmp_path / "preds.jsonl"
    judge = registry.create("harm", "offline", encoder=encoder)
    report = check_harm(data, "offline", predictions_path=preds, judge=judge)
    assert report["n"] == 24 and report["data"]["raters"] == ["human_score_1", "human_score_2"]
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert len(lines) == 24 and set(lines[0]) == {"line", "harm", "rating", "p_violation"}
    file = read_harm_file(data)
    recomputed = sum(abs(p["harm"] - r.mean_human) for p, r in zip(lines, file.rows, strict=True)) / 24
    assert report["mae"] == pytest.approx(recomputed)
    means = sorted(r.mean_human for r in file.rows)
    median = (means[11] + means[12]) / 2
    assert report["constant_median_mae"] == pytest.approx(sum(abs(m - median) for m in means) / 24)
    assert set(report["humans"]) == {"human_score_1", "human_score_2"}
    assert report["humans"]["human_score_1"]["n"] == 24
    assert all(1 <= p["rating"] <= 5 and 0 <= p["p_violation"] <= 1 for p in lines)


def test_published_anchors_show_pyrit_judges_and_a_constant_guess(shared_data_dir: Path) -> None:
    rows = published_harm_anchors(DataStore([shared_data_dir]))
    violence = {r["scorer"]: r for r in rows if r["category"] == "violence"}
    llm = violence["LLM judges (PyRIT Likert)"]
    assert 0.15 < llm["mae_min"] <= llm["mae_max"] < 0.2
    const = violence["constant guess (median human score, computed here)"]
    assert 0.25 < const["mae_min"] < 0.32 and const["n"] == 96


def test_cli_check_prints_the_figures_and_writes_predictions(shared_data_dir: Path, tmp_path: Path) -> None:
    data = _two_rater_file(shared_data_dir, tmp_path)
    env = {"SAFETYLENS_HOME": str(tmp_path / "home"), "SAFETYLENS_DATA_DIR": str(shared_data_dir), "COLUMNS": "200"}
    preds = tmp_path / "cli-preds.jsonl"
    runner = CliRunner()
    res = runner.invoke(
        app, ["scorers", "check", "harm", "--data", str(data), "--json", "--predictions", str(preds)], env=env
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["n"] == 24 and report["scorer"]["id"] == "harm/offline"
    lines = [json.loads(x) for x in preds.read_text(encoding="utf-8").splitlines()]
    file = read_harm_file(data)
    assert report["mae"] == pytest.approx(
        sum(abs(p["harm"] - r.mean_human) for p, r in zip(lines, file.rows, strict=True)) / 24
    )
    anchors = {(a["category"], a["scorer"]) for a in report["anchors"]}
    assert ("violence", "LLM judges (PyRIT Likert)") in anchors
    res = runner.invoke(app, ["scorers", "check", "harm", "--data", str(data), "--no-anchors"], env=env)
    assert res.exit_code == 0, res.output
    assert "person human_score_2 vs the others" in res.output
    assert f"A constant guess (the median human score for every item) has MAE {report['constant_median_mae']:.3f}" in (
        res.output.replace("\n", " ")
    )
    assert "PyRIT's published MAE" not in res.output
