"""Schemathesis against the app's OpenAPI schema: no request gets a server error (5xx).

Every operation of the schema (pages, forms and the JSON API) gets a fixed number of generated
requests, valid and invalid ones, first with a rater's session and then with an admin's, both
logged in through ``/api/login`` and sending the session's CSRF token in ``X-CSRF-Token`` as the
API requires. The database holds a little of everything (studies of both kinds with ratings, gold
checks, a quiz with an answer waiting for review, a red-team campaign with dialogues), so that the
small ids the generator favours name real rows. Generation is derandomised: the same requests
every run. Live red-team chats and replays get a canned model instead of loading one.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy import select

from safetylens.human import gold, quizzes
from safetylens.human.app import create_app
from safetylens.human.assignment import next_assignment, submit_rating
from safetylens.human.auth import SESSION_COOKIE, create_user
from safetylens.human.db import Database
from safetylens.human.models import Item, QuizAnswer, RedTeamDialogue
from safetylens.human.redteam import (
    BackendPool,
    ExternalDialogue,
    add_redteamers,
    create_campaign,
    record_dialogues,
    start_dialogue,
)
from safetylens.models.base import GenerationResult, ModelIdentity

from .conftest import PASSWORD, LiveServer, login
from .helpers import make_study

# Requests per operation, session and kind (valid, invalid, valid naming real rows): about 2,000
# requests per database.
MAX_EXAMPLES = 5
# Far above the usual run (well under a minute per database): a guard against a hang, not a budget.
TIME_LIMIT_S = 240

QUIZ = {
    "name": "fuzz-quiz",
    "kind": "sensitive",
    "title": "Quiz",
    "cooldown": 0,
    "questions": [
        {"type": "choice", "text": "Pick blue.", "options": ["red", "blue"], "answer": "blue"},
        {"type": "ranking", "text": "Rank.", "options": ["a", "b"], "answer": ["a", "b"]},
        {"type": "text", "text": "Write.", "reference": "ref", "rubric": "rub"},
    ],
}


class CannedModel:
    """A model backend that answers every prompt with the same text (no model is loaded)."""

    identity = ModelIdentity(backend="canned", backend_version="0", model="canned")

    def generate(self, requests: list[Any]) -> list[GenerationResult]:
        """One canned reply per request."""
        return [GenerationResult(text="A canned reply.", finish_reason="stop", completion_tokens=3) for _ in requests]

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class Session:
    """A logged-in HTTP session and the headers its state-changing requests need."""

    role: str
    http: requests.Session
    headers: dict[str, str]


def _populate(db: Database, people: dict[str, Any]) -> dict[str, list[Any]]:
    """A little of everything; returns ids of real rows per path parameter name."""
    raters = people["raters"]
    study = make_study(db, raters, n_prompts=4, models=("model-x", "model-y"), name="safety")
    pairwise = make_study(db, raters, kind="pairwise", n_prompts=3, models=("model-x", "model-y"), name="pairwise")
    rating_ids, assignment_ids = [], []
    for r in raters[1:]:
        for _ in range(3):
            res = next_assignment(db, study.id, r.id)
            assert res is not None
            rating_ids.append(submit_rating(db, res.assignment_id, r.id, 1 + res.item_id % 5).rating_id)
    for one in (study, pairwise):  # the rater's own items on screen, then another rater's
        for r in (raters[0], raters[2]):
            res = next_assignment(db, one.id, r.id)
            assert res is not None
            assignment_ids.append(res.assignment_id)
    specs = gold.parse_gold_records([{"id": "g1", "prompt": "p", "response": "r", "accepted": [1, 2]}])
    gold.add_gold_items(db, study.id, specs)
    parsed, _ = quizzes.parse_quiz_text(json.dumps({"quizzes": [QUIZ]}), yaml_ok=False)
    (quiz_id,) = quizzes.import_quizzes(db, parsed)
    quizzes.start_attempt(db, quiz_id, raters[1].id)
    with db.read() as s:
        q = quizzes.questions_of(s, quiz_id)
    quizzes.submit_attempt(db, quiz_id, raters[1].id, {q[0].id: 1, q[1].id: [1, 2], q[2].id: "x"})
    campaign = create_campaign(db, "fuzz-campaign")
    add_redteamers(db, campaign.id, [raters[0].username, raters[1].username])
    live = start_dialogue(db, campaign.id, raters[0].id)
    record_dialogues(
        db,
        campaign.id,
        [
            ExternalDialogue(
                external_id="e1",
                redteamer=raters[1].username,
                model="m",
                messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "no"}],
                risk_category="unqualified advice",
                degree_of_risk=2,
            )
        ],
    )
    victim = create_user(db, "victim", PASSWORD, "rater")
    with db.read() as s:
        answers = list(s.scalars(select(QuizAnswer.id).where(QuizAnswer.grade.is_(None)).order_by(QuizAnswer.id)))
        items = list(s.scalars(select(Item.id).where(Item.study_id == study.id).order_by(Item.id)))
        dialogues = list(s.scalars(select(RedTeamDialogue.id).order_by(RedTeamDialogue.id)))
    assert live.id in dialogues
    return {
        "study_id": [study.id, pairwise.id],
        "assignment_id": assignment_ids,
        "user_id": [victim.id, raters[2].id],
        "quiz_id": [quiz_id],
        "answer_id": answers[-1:],
        "rating_id": rating_ids[:2],
        "item_id": items[:2],
        "campaign_id": [campaign.id],
        "dialogue_id": dialogues,
        "fmt": ["csv", "jsonl", "parquet"],
        "action": ["pause", "resume", "remove"],
    }


@dataclass
class Target:
    """The live app under test, its OpenAPI schema and real ids per path parameter name."""

    url: str
    openapi: dict[str, Any]
    known: dict[str, list[Any]]


@pytest.fixture
def target(db: Database, people: dict[str, Any]) -> Iterator[Target]:
    known = _populate(db, people)
    app = create_app(db)
    pool = BackendPool()
    pool.register({"name": "builtin"}, CannedModel())
    app.state.redteam_pool = pool
    with LiveServer(app) as server:
        # The app serves no schema (openapi_url=None); FastAPI still builds it from the routes.
        yield Target(server.url, app.openapi(), known)


def _session(base_url: str, username: str, role: str) -> Session:
    client, csrf = login(base_url, username)
    http = requests.Session()
    http.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    client.close()
    return Session(role, http, {"X-CSRF-Token": csrf})


def _strategies(op: Any, known: dict[str, list[Any]]) -> list[Any]:
    """Generated requests, valid and invalid; and valid ones whose path names real rows."""
    names = [p.name for p in op.path_parameters]
    # The admin changing its own account or the rater's would only end the sessions the rest of
    # the run needs; the route is exercised on a user of its own.
    pinned = {"user_id": known["user_id"][0]} if op.path == "/admin/users/{user_id}" else None
    out = [op.as_strategy(generation_mode=mode, path_parameters=pinned) for mode in GenerationMode]
    if names and all(n in known for n in names):
        combos = list(itertools.islice(itertools.product(*(known[n] for n in names)), 6))
        real = [op.as_strategy(path_parameters=pinned or dict(zip(names, c, strict=True))) for c in combos]
        out.append(st.one_of(real))
    return out


def _run_operation(op: Any, session: Session, base_url: str, known: dict[str, list[Any]], found: list[str]) -> None:
    for strategy in _strategies(op, known):

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, session=session.http, headers=session.headers, timeout=60)
            if response.status_code >= 500:
                found.append(f"{session.role}: {response.status_code} for {case.as_curl_command()}")

        with contextlib.suppress(Unsatisfiable):  # no invalid request to make: no parameters at all
            check()


def test_no_server_errors_for_a_rater_and_an_admin(target: Target) -> None:
    schema = schemathesis.openapi.from_dict(target.openapi)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Logging out ends the session every later request uses.
    operations = [op for op in operations if op.path != "/logout"]
    assert len(operations) > 50
    found: list[str] = []
    started = time.monotonic()
    for username, role in (("rater1", "rater"), ("admin", "admin")):
        session = _session(target.url, username, role)
        for op in operations:
            _run_operation(op, session, target.url, target.known, found)
            assert time.monotonic() - started < TIME_LIMIT_S, f"over {TIME_LIMIT_S} s at {op.method} {op.path}"
    assert not found, "server errors:\n" + "\n".join(found)
