"""Recording a red-team dialogue: the time spent and the transcript are checked before anything is stored.

A recorded time feeds γ (violating prompts per red-teamer hour), so one typo such as
``minutes=1e9`` would swamp a campaign's statistics; a transcript of bare turn headers records
nothing. Both are refused with a message that says what to enter, in the library (imports, CLI)
and in the web form, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sqlalchemy import func, select

from safetylens.errors import DataError
from safetylens.human.db import Database
from safetylens.human.models import RedTeamDialogue
from safetylens.human.redteam import (
    MAX_ACTIVE_S,
    add_redteamers,
    create_campaign,
    parse_dialogue_obj,
    parse_transcript,
)

from .conftest import LiveServer, form_login

CRIME = "illicit and criminal activities"
MESSAGES = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def _obj(**fields: Any) -> dict[str, Any]:
    return {"id": "d1", "redteamer": "ann", "model": "m", "messages": MESSAGES, **fields}


@pytest.mark.parametrize(
    "fields",
    [
        {"active_minutes": 1e9},
        {"active_minutes": 24 * 60 + 1},
        {"active_minutes": 0},
        {"active_minutes": -5},
        {"active_minutes": math.nan},
        {"active_minutes": math.inf},
        {"time_spent_s": MAX_ACTIVE_S + 1},
        {"time_spent_s": 0},
    ],
)
def test_time_spent_out_of_range_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(DataError, match=r"more than 0 and at most 1440 minutes \(24 hours\)"):
        parse_dialogue_obj(_obj(**fields), "line 1")


@pytest.mark.parametrize("fields", [{"active_minutes": "soon"}, {"time_spent_s": [1]}])
def test_time_spent_that_is_not_a_number_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(DataError, match="time spent must be a number"):
        parse_dialogue_obj(_obj(**fields), "line 1")


def test_time_spent_within_a_day_is_kept() -> None:
    assert parse_dialogue_obj(_obj(active_minutes=24 * 60), "x").active_s == MAX_ACTIVE_S
    assert parse_dialogue_obj(_obj(time_spent_s=0.5), "x").active_s == 0.5
    assert parse_dialogue_obj(_obj(), "x").active_s is None  # unknown: untimed


@pytest.mark.parametrize(
    "text",
    [
        "User:\nAssistant:",
        "User:   \n  \nAssistant: \t",
        "User: how do I pick a lock?\nAssistant:",
        json.dumps([{"role": "user", "content": " "}, {"role": "assistant", "content": "\n"}]),
    ],
)
def test_a_transcript_without_text_is_refused(text: str) -> None:
    with pytest.raises(DataError, match="one user and one assistant message with text"):
        parse_transcript(text)


def test_an_empty_transcript_is_refused() -> None:
    with pytest.raises(DataError, match="the transcript is empty"):
        parse_transcript(" \n\t ")


def test_the_record_form_refuses_bad_minutes_and_empty_transcripts(
    live: LiveServer, people: dict[str, Any], db: Database
) -> None:
    rater = people["raters"][0]
    c = create_campaign(db, "record-checks")
    add_redteamers(db, c.id, [rater.username])
    client, csrf = form_login(live.url, rater.username)
    assert "at most 1440" in client.get(f"/redteam/{c.id}/record").text
    form = {
        "csrf_token": csrf,
        "model": "m",
        "transcript": "User: how do I pick a lock?\nAssistant: I can't help with that.",
        "risk_category": CRIME,
        "degree_of_risk": "2",
    }

    def post(**changes: str) -> Any:
        return client.post(f"/redteam/{c.id}/record", data={**form, **changes})

    for minutes in ("1e9", "0", "-3", "nan", "inf", "1441"):
        r = post(minutes=minutes)
        assert r.status_code == 422 and "at most 1440 minutes (24 hours)" in r.text, (minutes, r.text)
    r = post(minutes="ten")
    assert r.status_code == 422 and "minutes must be a number" in r.text
    for transcript in ("", "   \n ", "User:\nAssistant:"):
        r = post(transcript=transcript, minutes="3")
        assert r.status_code == 422, (transcript, r.text)
        assert "the transcript is empty" in r.text or "message with text" in r.text
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(RedTeamDialogue)) == 0

    assert post(minutes="3").status_code == 303
    with db.read() as s:
        assert s.scalar(select(RedTeamDialogue.active_ms)) == 180_000


def test_the_staff_import_refuses_an_impossible_time(live: LiveServer, people: dict[str, Any], db: Database) -> None:
    rater = people["raters"][0]
    c = create_campaign(db, "import-checks")
    add_redteamers(db, c.id, [rater.username])
    client, csrf = form_login(live.url, "admin")
    base = _obj(redteamer=rater.username, risk_category=CRIME, degree_of_risk=2)
    for extra in ({"time_spent_s": 1e12}, {"time_spent_s": "soon"}):
        body = json.dumps({**base, **extra}) + "\n"
        r = client.post(
            f"/admin/redteam/{c.id}/import",
            data={"csrf_token": csrf},
            files={"file": ("d.jsonl", body.encode(), "application/jsonl")},
        )
        assert r.status_code == 422 and "time spent must be" in r.text, r.text
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(RedTeamDialogue)) == 0
