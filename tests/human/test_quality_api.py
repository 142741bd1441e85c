"""Quality features through HTTP, the library and the CLI (SQLite and PostgreSQL), plus pure rules.

Authorization: raters never see answer keys, check flags or other raters' data. Audit trail:
creation and edits are logged with actor and time, a submitted rating only changes through an
audited edit, the log exports as CSV and JSONL (web and CLI). Adaptive overlap adds a rater on
disagreement; the dashboard's numbers match a hand count.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.errors import ConfigError
from safetylens.human import audit, dashboard, gold, quizzes
from safetylens.human.assignment import next_assignment, skip_assignment, submit_rating
from safetylens.human.db import Database
from safetylens.human.models import Assignment, AuditLog, GoldItem, Item, Rating
from safetylens.human.results import compute_results

from .conftest import LiveServer, login
from .helpers import make_study

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "safetylens" / "human" / "examples" / "quiz_example.yaml"
runner = CliRunner()


def _quiz(name: str = "q", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "quality",
        "cooldown": 0,
        "questions": [
            {"type": "choice", "text": "2+2?", "options": ["3", "4"], "answer": "4", "reference": "SECRET-REF"},
            {"type": "ranking", "text": "Order", "options": ["b", "a"], "answer": ["a", "b"], "rubric": "SECRET-RUB"},
        ],
        **extra,
    }


def _import(db: Database, *defs: dict[str, Any]) -> list[int]:
    parsed, _ = quizzes.parse_quiz_text(json.dumps({"quizzes": list(defs)}), yaml_ok=False)
    return quizzes.import_quizzes(db, parsed)


def test_raters_cannot_see_keys_check_flags_or_other_raters_data(
    live: LiveServer, people: dict[str, Any], db: Database
) -> None:
    r1, r2, r3 = people["raters"]
    study = make_study(db, [r1, r2], n_prompts=4, raters_per_item=2)
    other = make_study(db, [r3], n_prompts=1, raters_per_item=1, name="other")
    quiz_id, foreign_quiz = _import(db, _quiz("screen"), _quiz("foreign"))
    quizzes.set_required_quizzes(db, study.id, [quiz_id], actor_id=None)
    quizzes.set_required_quizzes(db, other.id, [foreign_quiz], actor_id=None)
    gold.add_gold_items(
        db,
        study.id,
        gold.parse_gold_records(
            [{"id": "g1", "prompt": "check prompt", "response": "check response", "accepted": [3], "kind": "attention"}]
        ),
    )
    gold.update_quality_settings(db, study.id, {"gold_rate": 0.5}, actor_id=None)

    c1, t1 = login(live.url, r1.username)
    h1 = {"X-CSRF-Token": t1}
    # Not qualified yet: the API refuses work with a clear message.
    r = c1.post(f"/api/studies/{study.id}/next", headers=h1)
    assert r.status_code == 409 and "qualification" in r.json()["error"]
    # The quiz page never carries the key, the reference or the rubric.
    r = c1.post(f"/quiz/{quiz_id}/start", data={"csrf_token": t1})
    assert r.status_code == 303
    page = c1.get(f"/quiz/{quiz_id}").text
    assert "2+2?" in page and "SECRET-REF" not in page and "SECRET-RUB" not in page and "answer_key" not in page
    # A quiz of a study the rater is not in does not exist for them; staff pages are closed.
    assert c1.get(f"/quiz/{foreign_quiz}").status_code == 404
    for url in (
        f"/admin/quizzes/{quiz_id}",
        "/admin/quizzes",
        "/admin/quizzes/review",
        f"/admin/studies/{study.id}/raters",
        f"/admin/studies/{study.id}/raters.json",
        f"/admin/studies/{study.id}/adjudication",
        f"/admin/studies/{study.id}/quality",
        "/admin/audit",
        "/admin/audit.csv",
        f"/api/studies/{study.id}/results",
    ):
        assert c1.get(url).status_code == 403, url
    assert c1.post(f"/admin/studies/{study.id}/adjudication/1", data={"csrf_token": t1}).status_code == 403
    # Pass the quiz through the form (ranks per option: b -> 2, a -> 1).
    with db.read() as s:
        qs = quizzes.questions_of(s, quiz_id)
    r = c1.post(
        f"/quiz/{quiz_id}/submit",
        data={"csrf_token": t1, f"q{qs[0].id}": "1", f"q{qs[1].id}_0": "2", f"q{qs[1].id}_1": "1"},
    )
    assert r.status_code == 303
    assert 'data-status="passed"' in c1.get(f"/quiz/{quiz_id}").text

    # Items through the API: checks look exactly like regular items.
    with db.read() as s:
        check_items = set(s.scalars(select(GoldItem.item_id)))
    payloads = []
    r = c1.post(f"/api/studies/{study.id}/next", headers=h1).json()
    while not r["done"]:
        payloads.append(r)
        r = c1.post(f"/api/assignments/{r['assignment_id']}/rating?next=true", headers=h1, json={"value": 3})
        assert r.status_code == 200, r.text
        r = r.json()["next"]
    with db.read() as s:
        item_of = dict(s.execute(select(Rating.assignment_id, Rating.item_id)).all())
    kinds = {item_of[p["assignment_id"]] in check_items for p in payloads}
    assert kinds == {True, False}
    # Every reservation, check or regular, is in the audit trail with its item.
    with db.read() as s:
        logged = {
            int(log.entity_id): log.details
            for log in s.scalars(select(AuditLog).where(AuditLog.action == "assignment.reserve"))
        }
    assert all(logged[p["assignment_id"]] == {"item_id": item_of[p["assignment_id"]]} for p in payloads)
    assert {json.dumps(sorted(p)) for p in payloads} == {json.dumps(sorted(payloads[0]))}
    assert {json.dumps(sorted(p["item"])) for p in payloads} == {json.dumps(sorted(payloads[0]["item"]))}
    assert all("gold" not in json.dumps(p).lower() and "check item" not in json.dumps(p) for p in payloads)

    # Another rater's item: refused.
    quizzes.start_attempt(db, quiz_id, r2.id)
    quizzes.submit_attempt(db, quiz_id, r2.id, {qs[0].id: 1, qs[1].id: [2, 1]})
    c2, t2 = login(live.url, r2.username)
    first = payloads[0]["assignment_id"]
    assert c2.get(f"/rate/item/{first}").status_code == 403
    r = c2.post(f"/api/assignments/{first}/rating", headers={"X-CSRF-Token": t2}, json={"value": 1})
    assert r.status_code == 403
    assert c2.post(f"/rate/item/{first}/skip", data={"csrf_token": t2}).status_code == 404


def test_audit_trail_edits_and_exports(live: LiveServer, people: dict[str, Any], db: Database, tmp_path: Path) -> None:
    r1 = people["raters"][0]
    study = make_study(db, [r1], n_prompts=2, raters_per_item=1)
    gold.update_quality_settings(db, study.id, {"adaptive_overlap": True}, actor_id=people["admin"].id)
    res = next_assignment(db, study.id, r1.id)
    assert res is not None
    rating_id = submit_rating(db, res.assignment_id, r1.id, 2).rating_id
    c1, t1 = login(live.url, r1.username)
    # A rater cannot change a submitted rating.
    r = c1.post(f"/api/assignments/{res.assignment_id}/rating", headers={"X-CSRF-Token": t1}, json={"value": 5})
    assert r.status_code == 409
    r = c1.post(f"/admin/ratings/{rating_id}/edit", data={"csrf_token": t1, "value": 5, "reason": "x"})
    assert r.status_code == 403
    # Staff can, with a reason, and the edit is logged.
    ca, ta = login(live.url, "res")
    r = ca.post(f"/admin/ratings/{rating_id}/edit", data={"csrf_token": ta, "value": 4, "reason": "typo"})
    assert r.status_code == 303
    with pytest.raises(ConfigError, match="reason"):
        audit.edit_rating(db, rating_id, 3, " ", actor_id=people["admin"].id)
    # The database itself refuses an unaudited change, whoever sends it.
    with pytest.raises(DBAPIError, match="audited edit"), db.write() as s:
        s.execute(text("UPDATE ratings SET value = 1 WHERE id = :i"), {"i": rating_id})
    with db.read() as s:
        rating = s.get(Rating, rating_id)
        assert rating is not None and rating.value == 4 and rating.edited_at is not None
        logs = s.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    by_action = {log.action: log for log in logs}
    edit = by_action["rating.edit"]
    assert edit.actor_id == people["researcher"].id and edit.details["value"] == {"from": 2, "to": 4}
    assert edit.details["reason"] == "typo" and edit.at is not None
    assert by_action["rating.create"].actor_id == r1.id and by_action["rating.create"].details["value"] == 2
    reserve = by_action["assignment.reserve"]
    assert reserve.actor_id == r1.id and reserve.entity == "assignment" and reserve.study_id == study.id
    with db.read() as s:
        reserved = s.get(Assignment, int(reserve.entity_id))
        assert reserved is not None and reserve.details == {"item_id": reserved.item_id}
    settings_log = by_action["study.settings.update"]
    assert settings_log.details == {"adaptive_overlap": {"from": False, "to": True}}
    assert settings_log.actor_id == people["admin"].id

    # Exports: admin page (CSV, JSONL) and CLI agree with the table.
    cadm, _ = login(live.url, "admin")
    assert login(live.url, "res")[0].get("/admin/audit.csv").status_code == 403  # admins only
    csv_text = cadm.get(f"/admin/audit.csv?study={study.id}").text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {r["action"] for r in rows} >= {"rating.create", "rating.edit", "study.settings.update", "study.create"}
    edit_row = next(r for r in rows if r["action"] == "rating.edit")
    assert edit_row["actor"] == "res" and json.loads(edit_row["details"])["value"] == {"from": 2, "to": 4}
    lines = cadm.get("/admin/audit.jsonl?action=rating.").text.splitlines()
    assert [json.loads(x)["action"] for x in lines] == ["rating.create", "rating.edit"]
    out = tmp_path / "audit.csv"
    cmd = ["human", "audit", "export", "--db", db.url, "--out", str(out), "--study", str(study.id)]
    result = runner.invoke(app, cmd)
    assert result.exit_code == 0, result.output
    assert list(csv.DictReader(out.open())) == rows
    page = cadm.get(f"/admin/audit?study={study.id}")
    assert page.status_code == 200 and "rating.edit" in page.text and "typo" in page.text
    assert audit._csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"


def test_adaptive_overlap_dashboard_and_skips(people: dict[str, Any], db: Database) -> None:
    admin = people["admin"]
    from safetylens.human.auth import create_user

    r4 = create_user(db, "rater4", "correct horse battery", "rater")
    raters = [*people["raters"], r4]
    study = make_study(db, raters, n_prompts=2, raters_per_item=3, max_items_per_rater=2)
    gold.update_quality_settings(db, study.id, {"adaptive_overlap": True}, actor_id=admin.id)
    with db.read() as s:
        items = sorted(s.scalars(select(Item.id).where(Item.study_id == study.id)))
    values = {items[0]: [1, 4, 5], items[1]: [5, 5, 4]}  # disagreement on the violation flag, agreement
    given: dict[int, list[int]] = {i: [] for i in items}
    for k, r in enumerate(raters[:3]):
        for _ in items:
            res = next_assignment(db, study.id, r.id)
            assert res is not None
            submit_rating(db, res.assignment_id, r.id, values[res.item_id][k])
            given[res.item_id].append(r.id)
    with db.read() as s:
        targets = dict(s.execute(select(Item.id, Item.target_ratings).where(Item.study_id == study.id)).all())
    assert targets == {items[0]: 4, items[1]: 3}
    # The fourth rater gets exactly the disputed item; a skip first, to measure the skip rate.
    res = next_assignment(db, study.id, r4.id)
    assert res is not None and res.item_id == items[0]
    skip_assignment(db, res.assignment_id, r4.id)
    assert next_assignment(db, study.id, r4.id) is None  # skipped items are not offered again
    with db.read() as s:
        assert s.get(Item, items[0]).claimed == 3  # type: ignore[union-attr]
    res2 = next_assignment(db, study.id, people["raters"][0].id)
    assert res2 is None  # the others rated it already
    # 3 ratings + 1 of the now-open 4th slot: nobody else can take it, so it stays incomplete.
    results = compute_results(db, study.id)
    labels = {x["item_id"]: x for x in results["labels"]}
    assert labels[items[0]]["source"] == "majority" and labels[items[0]]["label"] == "no violation"
    result = runner.invoke(app, ["human", "results", str(study.id), "--db", db.url, "--resamples", "200"])
    assert result.exit_code == 0 and "item labels by source: majority 2" in result.output, result.output

    d = dashboard.rater_dashboard(db, study.id)
    rows = {x["username"]: x for x in d["raters"]}
    assert rows["rater4"]["items_done"] == 0 and rows["rater4"]["skipped"] == 1
    assert rows["rater4"]["skip_rate"]["value"] == pytest.approx(100.0)
    assert rows["rater1"]["items_done"] == 2 and rows["rater1"]["skip_rate"]["value"] == 0.0
    # rater1 (1 -> violation) disagrees with the other two on item 0, agrees on item 1.
    assert rows["rater1"]["agreement_with_majority"]["value"] == pytest.approx(50.0)
    assert rows["rater2"]["agreement_with_majority"]["value"] == pytest.approx(100.0)
    pairs = {(p["rater_a"], p["rater_b"]): p for p in d["pairwise"]}
    names = {r.id: r.pseudonym for r in people["raters"]}
    key = (names[people["raters"][0].id], names[people["raters"][1].id])
    p = pairs.get(key) or pairs[(key[1], key[0])]
    assert p["shared_items"] == 2 and p["agreement"]["value"] == pytest.approx(50.0)
    with db.read() as s:
        grow = s.scalars(select(AuditLog).where(AuditLog.action == "item.overlap.add")).all()
    assert len(grow) == 1 and grow[0].details["target_ratings"] == {"from": 3, "to": 4}


def test_example_quizzes_import_and_cli(db: Database, people: dict[str, Any]) -> None:
    result = runner.invoke(app, ["human", "quiz", "import", str(EXAMPLE), "--db", db.url])
    assert result.exit_code == 0, result.output
    assert "example-grammar" in result.output and "(example)" in result.output
    result = runner.invoke(app, ["human", "quiz", "list", "--db", db.url])
    assert result.exit_code == 0, result.output
    listed = {q["name"]: q for q in quizzes.list_quizzes(db)}
    assert listed["example-quality"]["pass_rules"] == ["auto_accuracy > 26/31"] and listed["example-writing"]["example"]
    # Importing again is refused (names are unique), nothing is half-imported.
    result = runner.invoke(app, ["human", "quiz", "import", str(EXAMPLE), "--db", db.url])
    assert result.exit_code != 0 and "already exists" in str(result.exception)
    study = make_study(db, people["raters"][:1], n_prompts=1, raters_per_item=1)
    result = runner.invoke(app, ["human", "quiz", "require", str(study.id), "example-writing", "--db", db.url])
    assert result.exit_code == 0, result.output
    # The writing quiz: choose at least 6 of 18 prompts, average grade above 4.
    rid = people["raters"][0].id
    with db.read() as s:
        quiz = quizzes.find_quiz(s, "example-writing")
        qs = quizzes.questions_of(s, quiz.id)
    assert len(qs) == 18
    quizzes.start_attempt(db, quiz.id, rid)
    with pytest.raises(quizzes.QuizError, match="no attempt in progress"):
        quizzes.submit_attempt(db, quiz.id, people["raters"][1].id, {})
    attempt = quizzes.submit_attempt(db, quiz.id, rid, {q.id: f"answer {i}" for i, q in enumerate(qs[:5])})
    assert attempt.status == "failed"  # 5 < 6 answered: failed without review
    with db.write() as s:
        s.get(type(attempt), attempt.id).finished_at = attempt.finished_at.replace(year=2000)  # type: ignore[union-attr]
    quizzes.start_attempt(db, quiz.id, rid)
    attempt = quizzes.submit_attempt(db, quiz.id, rid, {q.id: f"answer {i}" for i, q in enumerate(qs[:6])})
    assert attempt.status == "pending_review"
    queue = quizzes.review_queue(db)
    assert len(queue) == 6
    for k, e in enumerate(queue):
        status = quizzes.grade_answer(db, e.answer_id, 5 if k else 4, grader_id=people["admin"].id)
    assert status == "passed"  # mean 29/6 > 4
    result = runner.invoke(app, ["human", "quiz", "results", "example-writing", "--db", db.url])
    assert result.exit_code == 0 and "passed" in result.output and "failed" in result.output


def test_pass_rules_interleaving_and_validation() -> None:
    # One check per block of round(1 / rate) items, at a position that varies by block and rater.
    for rate, block in ((0.1, 10), (0.25, 4), (0.5, 2)):
        for rater in (1, 2):
            taken_regular = taken_checks = 0
            positions = []
            for pos in range(200):
                if gold.check_due(7, rater, taken_regular, taken_checks, rate):
                    taken_checks += 1
                    positions.append(pos)
                else:
                    taken_regular += 1
            assert taken_checks == 200 // block
            assert [p // block for p in positions] == list(range(200 // block))
            if block > 2:
                assert len({p % block for p in positions}) > 1
    assert not gold.check_due(7, 1, 5, 0, 0.0)
    # Paper thresholds as defaults; "more than 26 of 31" is exactly auto_accuracy > 26/31.
    assert 27 / 31 > quizzes.DEFAULT_RULES["quality"][0]["value"] >= 26 / 31
    assert quizzes._holds({"op": ">", "value": 26 / 31}, 27 / 31)
    assert not quizzes._holds({"op": ">", "value": 26 / 31}, 26 / 31)
    assert not quizzes._holds({"op": ">=", "value": 0.9}, math.nan)
    with pytest.raises(ConfigError, match="answer must be one of the options"):
        quizzes.parse_quiz({"name": "x", "kind": "quality", "questions": [{"text": "t", "options": ["a", "b"]}]})
    with pytest.raises(ConfigError, match="needs text questions"):
        quizzes.parse_quiz(
            {"name": "x", "kind": "sensitive", "questions": [{"text": "t", "options": ["a", "b"], "answer": "a"}]}
        )
    with pytest.raises(ConfigError, match="section"):
        quizzes.parse_quiz(
            {"name": "x", "kind": "grammar", "questions": [{"text": "t", "options": ["a", "b"], "answer": 0}]}
        )
    with pytest.raises(ConfigError, match="reference order"):
        quizzes.parse_quiz(
            {
                "name": "x",
                "kind": "quality",
                "questions": [{"type": "ranking", "text": "t", "options": ["a", "b"], "answer": ["a"]}],
            }
        )
    with pytest.raises(ConfigError, match="accepted"):
        gold.parse_gold_records([{"id": "a", "prompt": "p", "response": "r", "accepted": "x"}])
    with pytest.raises(ValueError, match="gold_rate"):
        gold.QualitySettings(gold_rate=0.6)


def test_migration_0002_downgrades_and_upgrades(db: Database) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from safetylens.human.db import _alembic_config, current_revision, upgrade

    cfg = _alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert current_revision(db.engine) == "0001"
    with db.engine.connect() as conn:
        assert not inspect(conn).has_table("quizzes")
        assert "status" not in {c["name"] for c in inspect(conn).get_columns("study_members")}
    upgrade(db)
    db.check_schema()


def test_a_skipped_item_page_and_form_send_the_rater_on(live: LiveServer, people: dict[str, Any], db: Database) -> None:
    """A back button or stale tab on a skipped item: no form to rate it, no rating stored."""
    r1 = people["raters"][0]
    study = make_study(db, [r1], n_prompts=2, raters_per_item=1)
    res = next_assignment(db, study.id, r1.id)
    assert res is not None
    c1, t1 = login(live.url, r1.username)
    r = c1.post(f"/rate/item/{res.assignment_id}/skip", data={"csrf_token": t1})
    assert r.status_code == 303
    for r in (
        c1.get(f"/rate/item/{res.assignment_id}"),
        c1.post(f"/rate/item/{res.assignment_id}", data={"csrf_token": t1, "value": "4"}),
    ):
        assert r.status_code == 303 and r.headers["location"] == f"/rate/{study.id}/next?m=skipped"
    r = c1.post(f"/api/assignments/{res.assignment_id}/rating", headers={"X-CSRF-Token": t1}, json={"value": 4})
    assert r.status_code == 409 and "skipped" in r.json()["error"]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Rating)) == 0
