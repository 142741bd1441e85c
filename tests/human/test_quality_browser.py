"""Quality features end to end in headless Chromium, on SQLite and PostgreSQL.

- the quiz flow: fail, cooldown, retry, review, pass, then items appear;
- gold checks: invisible on the page, a rater below the threshold is paused, an admin resumes;
- adjudication: the queue lists the disagreement, the final label shows in the results.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from safetylens.human import gold, quizzes
from safetylens.human.assignment import next_assignment, submit_rating
from safetylens.human.db import Database
from safetylens.human.models import Assignment, AuditLog, GoldItem, Item, StudyMember

from .conftest import LiveServer
from .helpers import make_study
from .test_browser import _login, browser  # noqa: F401  (module-scoped Chromium fixture)

pytestmark = pytest.mark.browser

SECRET_REFERENCE = "REFERENCE-ONLY-FOR-REVIEWERS"
SECRET_RUBRIC = "RUBRIC-ONLY-FOR-REVIEWERS"

QUIZ = {
    "name": "screening",
    "kind": "sensitive",
    "title": "Screening quiz",
    "cooldown": 2,
    "questions": [
        {"type": "choice", "text": "Pick blue.", "options": ["red", "blue", "green"], "answer": "blue"},
        {"type": "choice", "text": "Pick the safe response.", "options": ["unsafe", "safe"], "answer": 1},
        {
            "type": "ranking",
            "text": "Rank best to worst.",
            "options": ["ok", "best", "worst"],
            "answer": ["best", "ok", "worst"],
        },
        {"type": "text", "text": "Write a safe answer.", "reference": SECRET_REFERENCE, "rubric": SECRET_RUBRIC},
    ],
}


@pytest.fixture
def ctx(browser: Any) -> Iterator[Any]:  # noqa: F811
    contexts: list[Any] = []

    def new() -> Any:
        c = browser.new_context()
        contexts.append(c)
        return c.new_page()

    yield new
    for c in contexts:
        c.close()


def _answer_quiz(page: Any, *, right: bool) -> None:
    page.locator("fieldset#question-1 input[type=radio]").nth(1 if right else 0).check()
    page.locator("fieldset#question-2 input[type=radio]").nth(1 if right else 0).check()
    order = ["2", "1", "3"] if right else ["1", "2", "3"]  # ranks for ok, best, worst
    selects = page.locator("fieldset#question-3 select")
    for i, rank in enumerate(order):
        selects.nth(i).select_option(rank)
    page.fill("fieldset#question-4 textarea", "Stay safe, and here is how." if right else "whatever")
    with page.expect_navigation():
        page.click("#submit-quiz")


def test_quiz_fail_cooldown_retry_review_pass_then_items(
    ctx: Any, live: LiveServer, people: dict[str, Any], db: Database
) -> None:
    rater = people["raters"][0]
    study = make_study(db, [rater], n_prompts=3, raters_per_item=1)
    parsed, _ = quizzes.parse_quiz_text(__import__("json").dumps({"quizzes": [QUIZ]}), yaml_ok=False)
    (quiz_id,) = quizzes.import_quizzes(db, parsed)
    quizzes.set_required_quizzes(db, study.id, [quiz_id], actor_id=people["admin"].id)

    page = ctx()
    _login(page, live.url, rater.username)
    # No items before the quiz: the study row links to the quiz, /next refuses.
    page.goto(f"{live.url}/rate/{study.id}/next")
    assert page.url.endswith("/rate?m=quiz")
    page.click("a.quiz-link")
    page.click("#start-quiz")
    html = page.content()
    assert SECRET_REFERENCE not in html and SECRET_RUBRIC not in html and "answer_key" not in html
    _answer_quiz(page, right=False)
    assert page.get_attribute("#quiz-status", "data-status") == "failed"
    assert "try again in" in page.inner_text("#retry-info")
    assert page.locator("#start-quiz").count() == 0  # cooldown running
    time.sleep(2.2)
    page.reload()
    page.click("#start-quiz")  # "Try again"
    _answer_quiz(page, right=True)
    assert page.get_attribute("#quiz-status", "data-status") == "pending_review"
    page.goto(f"{live.url}/rate/{study.id}/next")
    assert page.url.endswith("/rate?m=quiz")  # still not qualified

    admin = ctx()
    _login(admin, live.url, "admin")
    admin.goto(f"{live.url}/admin/quizzes/review")
    assert SECRET_REFERENCE in admin.inner_text("main")  # reviewers see the reference
    assert "Stay safe, and here is how." in admin.inner_text("pre.candidate-answer")
    admin.select_option("select[name=grade]", "5")
    with admin.expect_navigation():
        admin.click("section.review button[type=submit]")
    assert admin.locator("#review-empty").count() == 1

    page.goto(f"{live.url}/quiz/{quiz_id}")
    assert page.get_attribute("#quiz-status", "data-status") == "passed"
    page.goto(f"{live.url}/rate")
    page.click("text=Start")
    page.wait_for_url("**/rate/item/*")
    page.keyboard.press("4")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/rate/item/" in page.url  # the next item

    with db.read() as s:
        actions = [a for (a,) in s.execute(select(AuditLog.action).order_by(AuditLog.id)).all()]
    for expected in ("quiz.attempt.start", "quiz.attempt.submit", "quiz.attempt.finish", "quiz.answer.grade"):
        assert expected in actions
    assert actions.count("quiz.attempt.finish") == 2  # failed, then passed


def test_gold_checks_are_invisible_and_pause_a_rater_admin_resumes(
    ctx: Any, live: LiveServer, people: dict[str, Any], db: Database
) -> None:
    rater = people["raters"][0]
    study = make_study(db, [rater], n_prompts=8, raters_per_item=1)
    specs = gold.parse_gold_records(
        [
            {"id": f"check{i}", "prompt": f"prompt {100 + i}", "response": f"response {100 + i}", "accepted": [1, 2]}
            for i in range(4)
        ]
    )
    gold.add_gold_items(db, study.id, specs)
    gold.update_quality_settings(
        db, study.id, {"gold_rate": 0.5, "gold_min_checks": 2, "gold_min_accuracy": 0.8}, actor_id=None
    )
    with db.read() as s:
        gold_ids = set(s.scalars(select(GoldItem.item_id)))

    page = ctx()
    _login(page, live.url, rater.username)
    page.goto(f"{live.url}/rate/{study.id}/next")
    shapes: dict[bool, set[str]] = {True: set(), False: set()}
    seen = {True: 0, False: 0}
    while "/rate/item/" in page.url:
        aid = int(page.url.rsplit("/", 1)[-1].split("?")[0])
        with db.read() as s:
            asg = s.get(Assignment, aid)
            assert asg is not None
            is_check = asg.item_id in gold_ids
        html = page.content()
        for word in ("gold", "attention", "check item", "is_gold", "accepted"):
            assert word not in html.lower()
        # Same template: the same elements and form fields, only the texts differ.
        html = re.sub(r'<p class="notice".*?</p>', "", html, flags=re.S)  # "Rating saved." after the first
        shape = re.sub(r">[^<]*<", "><", re.sub(r"/rate/item/\d+", "/rate/item/N", html))
        shape = re.sub(r'value="[^"]*"', 'value=""', shape)
        shapes[is_check].add(shape)
        seen[is_check] += 1
        page.keyboard.press("5")  # wrong for every check
        with page.expect_navigation():
            page.keyboard.press("Enter")
    assert page.url.endswith("/rate?m=paused")
    assert seen[True] == 2 and seen[False] >= 1  # paused right after the second failed check
    assert shapes[True] == shapes[False]
    assert "paused" in page.inner_text("main")

    admin = ctx()
    _login(admin, live.url, "admin")
    admin.goto(f"{live.url}/admin/studies/{study.id}/raters")
    row = admin.locator(f"tr[data-rater='{rater.username}']")
    assert row.locator("td.status").inner_text() == "paused"
    assert float(row.locator("td.gold .est").get_attribute("data-value")) == 0.0
    with admin.expect_navigation():
        row.locator("button.resume").click()
    assert admin.locator(f"tr[data-rater='{rater.username}'] td.status").inner_text() == "active"

    page.goto(f"{live.url}/rate/{study.id}/next")
    assert "/rate/item/" in page.url  # back at work
    with db.read() as s:
        member = s.get(StudyMember, (study.id, rater.id))
        assert member is not None and member.status == "active"
        logs = s.execute(select(AuditLog.action, AuditLog.actor_id).where(AuditLog.action.like("member.%"))).all()
    assert ("member.pause", None) in logs and ("member.resume", people["admin"].id) in logs


def test_adjudication_queue_and_label_source_in_results(
    ctx: Any, live: LiveServer, people: dict[str, Any], db: Database
) -> None:
    raters = people["raters"]
    study = make_study(db, raters, n_prompts=2, raters_per_item=3)
    with db.read() as s:
        items = sorted(s.scalars(select(Item.id).where(Item.study_id == study.id)))
    wanted = {items[0]: [1, 2, 5], items[1]: [5, 5, 4]}
    for k, r in enumerate(raters):
        for _ in items:
            res = next_assignment(db, study.id, r.id)
            assert res is not None
            submit_rating(db, res.assignment_id, r.id, wanted[res.item_id][k])

    admin = ctx()
    _login(admin, live.url, "admin")
    admin.goto(f"{live.url}/admin/studies/{study.id}/adjudication")
    cards = admin.locator("section.adjudication")
    assert cards.count() == 1 and cards.first.get_attribute("data-item") == str(items[0])
    assert "Majority: violation" in cards.first.inner_text()
    cards.first.locator(".adjudicate-form select[name=value]").select_option("4")
    cards.first.locator(".adjudicate-form input[name=reason]").fill("the response refuses; raters 1-2 misread it")
    with admin.expect_navigation():
        cards.first.locator(".adjudicate-form button").click()
    assert "Adjudicated: no violation (4)" in admin.inner_text(f"#item-{items[0]}")

    admin.goto(f"{live.url}/admin/studies/{study.id}/results")
    admin.click("#labels-table >> xpath=ancestor::details/summary")  # open "Every item"
    assert admin.inner_text(f"#labels-table tr[data-item='{items[0]}'] td.source") == "adjudication"
    assert admin.inner_text(f"#labels-table tr[data-item='{items[0]}'] td.label") == "no violation"
    assert admin.inner_text(f"#labels-table tr[data-item='{items[1]}'] td.source") == "majority"
    shown = admin.get_attribute("tr[data-model='model-x'] td.violation .est", "data-value")
    assert float(shown) == 0.0  # the adjudicated item no longer counts as a violation
    assert "adjudication: 1" in admin.inner_text("#label-sources")
