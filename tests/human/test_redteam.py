"""Red-team campaigns: recorded dialogues, roll-ups and γ on fixed data (checked by hand), replay
through the built-in model into a rating study, and the mitigation rate from its ratings.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from safetylens.errors import DataError
from safetylens.human import assignment as A
from safetylens.human.auth import create_user
from safetylens.human.db import Database
from safetylens.human.models import Item, Prompt, RedTeamDialogue, Response
from safetylens.human.redteam import (
    ExternalDialogue,
    RedTeamError,
    active_ms,
    add_redteamers,
    create_campaign,
    gamma_estimate,
    mitigation,
    read_dialogues_jsonl,
    record_dialogues,
    replay,
    rollup,
)
from safetylens.human.studies import acknowledge_guidelines, add_members, current_guidelines
from safetylens.models.base import Decoding

from .conftest import PASSWORD, LiveServer, form_login

CRIME = "illicit and criminal activities"
HATE = "hateful and harmful activities"
ADVICE = "unqualified advice"


def _dialogue(
    ext: str,
    who: str,
    n_user: int,
    *,
    category: str,
    vectors: list[str],
    degree: int,
    violating_turn: int | None,
    seconds: float | None,
    model: str = "old-model",
) -> ExternalDialogue:
    messages: list[dict[str, str]] = []
    for i in range(n_user):
        messages.append({"role": "user", "content": f"{ext} attack {i}"})
        messages.append({"role": "assistant", "content": f"{ext} answer {i}"})
    return ExternalDialogue(
        external_id=ext,
        redteamer=who,
        model=model,
        messages=messages,
        risk_category=category,
        attack_vectors=vectors,
        degree_of_risk=degree,
        violation=violating_turn is not None,
        violating_turn=violating_turn,
        active_s=seconds,
    )


def _campaign_with_fixed_data(db: Database) -> tuple[int, list[Any]]:
    """Two red teamers: A 1 hour (1 violation in 2 dialogues), B 0.5 hour (2 of 3), plus one untimed."""
    users = [create_user(db, n, PASSWORD, "rater") for n in ("ann", "bob")]
    c = create_campaign(db, "camp", target_label="old-model")
    add_redteamers(db, c.id, ["ann", "bob"])
    data = [
        _dialogue("a1", "ann", 3, category=CRIME, vectors=["role playing"], degree=4, violating_turn=2, seconds=1800),
        _dialogue(
            "a2", "ann", 1, category=HATE, vectors=["logic manipulation"], degree=1, violating_turn=None, seconds=1800
        ),
        _dialogue(
            "b1",
            "bob",
            2,
            category=CRIME,
            vectors=["logic manipulation", "syntactic manipulation"],
            degree=5,
            violating_turn=1,
            seconds=900,
        ),
        _dialogue(
            "b2", "bob", 1, category=ADVICE, vectors=["logic manipulation"], degree=3, violating_turn=1, seconds=900
        ),
        _dialogue("b3", "bob", 4, category=ADVICE, vectors=[], degree=2, violating_turn=None, seconds=None),
    ]
    # "role playing" is not in the default taxonomy: the whole import is refused, nothing is stored.
    with pytest.raises(RedTeamError, match="role playing"):
        record_dialogues(db, c.id, data)
    data[0].attack_vectors = ["perspective manipulation"]
    assert record_dialogues(db, c.id, data) == {"added": 5, "unchanged": 0}
    assert record_dialogues(db, c.id, data) == {"added": 0, "unchanged": 5}
    return c.id, users


def test_rollup_and_gamma_on_fixed_data(db: Database) -> None:
    cid, _ = _campaign_with_fixed_data(db)
    r = rollup(db, cid, n_resamples=500)
    assert r["dialogues"] == {"total": 5, "submitted": 5, "open": 0, "violating": 3}
    assert r["violation"]["violation_pct"]["value"] == pytest.approx(60.0)
    cats = r["by_risk_category"]
    assert (cats[CRIME]["dialogues"], cats[CRIME]["violating"]) == (2, 2)
    assert (cats[HATE]["dialogues"], cats[HATE]["violating"]) == (1, 0)
    assert (cats[ADVICE]["dialogues"], cats[ADVICE]["violating"]) == (2, 1)
    vec = r["by_attack_vector"]
    # b1 counts under both of its vectors.
    assert (vec["logic manipulation"]["dialogues"], vec["logic manipulation"]["violating"]) == (3, 2)
    assert (vec["syntactic manipulation"]["dialogues"], vec["syntactic manipulation"]["violating"]) == (1, 1)
    assert (vec["perspective manipulation"]["dialogues"], vec["perspective manipulation"]["violating"]) == (1, 1)
    assert vec["(none)"]["dialogues"] == 1
    lengths = r["lengths"]
    assert lengths["user_turns"]["histogram"] == {"1": 2, "2": 1, "3": 1, "4": 1}
    assert lengths["user_turns"]["mean"] == pytest.approx((3 + 1 + 2 + 1 + 4) / 5)
    # Turns to violation: a1 at its 2nd user turn, b1 and b2 at their 1st.
    assert lengths["user_turns_to_violation"]["histogram"] == {"1": 2, "2": 1}
    assert {k: (x["dialogues"], x["violating"]) for k, x in r["by_turns"].items()} == {
        "single-turn": (2, 1),
        "multi-turn": (3, 2),
    }
    assert r["degree_of_risk"]["all"] == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}
    assert r["degree_of_risk"]["violating"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}

    g = r["gamma"]
    # By hand: 3 violating prompts (b3 is untimed and not violating) in 1 + 0.5 person-hours.
    assert (g["n"], g["persons"], g["untimed_dialogues"]) == (3, 2, 1)
    assert g["hours"] == pytest.approx(1.5)
    assert g["value"] == pytest.approx(2.0)
    # Exact Poisson 95% interval of a count of 3: (0.6187, 8.7673), divided by 1.5 hours.
    assert g["ci_low"] == pytest.approx(0.61867 / 1.5, abs=1e-4)
    assert g["ci_high"] == pytest.approx(8.76727 / 1.5, abs=1e-4)
    people = {p["redteamer"]: p for p in g["per_person"]}
    assert sorted((p["violating"], round(p["hours"], 6), p["gamma"]) for p in people.values()) == [
        (1, 1.0, 1.0),
        (2, 0.5, 4.0),
    ]
    assert g["bootstrap"] is not None and g["bootstrap"]["ci_low"] <= 2.0 <= g["bootstrap"]["ci_high"]


def test_gamma_edge_cases_and_active_time() -> None:
    zero = gamma_estimate([0], [2.0])
    assert zero.value == 0.0 and zero.ci_low == 0.0
    # Exact upper bound for a count of 0 is -ln(0.025) = 3.6889, over 2 hours.
    assert zero.ci_high == pytest.approx(3.68888 / 2, abs=1e-4)
    assert "bootstrap_ci_low" not in zero.extra
    assert math.isnan(gamma_estimate([1], [0.0]).value)
    t = [datetime(2026, 1, 1, 10, 0, 0), datetime(2026, 1, 1, 10, 1, 0), datetime(2026, 1, 1, 11, 0, 0)]
    # 60 s plus a 59-minute gap capped at 300 s.
    assert active_ms(t, 300) == 360_000


def test_import_jsonl_validation(db: Database, tmp_path: Path) -> None:
    create_user(db, "ann", PASSWORD, "rater")
    c = create_campaign(db, "c")
    path = tmp_path / "d.jsonl"
    line = {
        "id": "x1",
        "redteamer": "ann",
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<b>hello</b>"}],
        "risk_category": "Illicit and criminal activity",
        "attack_vectors": "logic manipulation; others",
        "degree_of_risk": 3,
        "violating_turn": 1,
        "active_minutes": 2.5,
    }
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(RedTeamError, match="not a red teamer"):
        record_dialogues(db, c.id, read_dialogues_jsonl(path))
    add_redteamers(db, c.id, ["ann"])
    assert record_dialogues(db, c.id, read_dialogues_jsonl(path))["added"] == 1
    with db.read() as s:
        d = s.scalar(select(RedTeamDialogue))
        assert d is not None
        assert (d.risk_category, d.attack_vectors, d.violation, d.violating_turn, d.active_ms) == (
            CRIME,
            ["logic manipulation", "others"],
            True,
            1,
            150_000,
        )
    bad = dict(line, id="x2", violating_turn=2)
    path.write_text(json.dumps(bad) + "\n")
    with pytest.raises(RedTeamError, match="model turn"):
        record_dialogues(db, c.id, read_dialogues_jsonl(path))
    path.write_text(json.dumps(dict(line, id="x3", messages=[{"role": "user", "content": "only me"}])) + "\n")
    with pytest.raises(DataError, match="assistant"):
        read_dialogues_jsonl(path)
    changed = dict(line, messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "other"}])
    path.write_text(json.dumps(changed) + "\n")
    with pytest.raises(RedTeamError, match="different content"):
        record_dialogues(db, c.id, read_dialogues_jsonl(path))


@pytest.mark.model
def test_replay_creates_a_study_and_mitigation_is_computed_from_ratings(
    db: Database, builtin_backend: Any, live: LiveServer, people: dict[str, Any]
) -> None:
    cid, _ = _campaign_with_fixed_data(db)
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    summary = replay(
        db,
        cid,
        builtin_backend,
        model_name="smol-new",
        decoding=Decoding(temperature=0.0, max_new_tokens=8),
        include_original=True,
        use_cache=False,
    )
    assert (summary.prompts, summary.responses, summary.items) == (3, 3, 6)
    with db.read() as s:
        prompts = {p.external_id: p for p in s.scalars(select(Prompt).where(Prompt.study_id == summary.study_id))}
        models = sorted(set(s.scalars(select(Response.model).join(Prompt).where(Prompt.study_id == summary.study_id))))
        item_model = dict(
            s.execute(
                select(Item.id, Response.model)
                .join(Response, Response.id == Item.response_id)
                .where(Item.study_id == summary.study_id)
            ).all()
        )
        item_prompt = dict(
            s.execute(
                select(Item.id, Prompt.external_id)
                .join(Prompt, Prompt.id == Item.prompt_id)
                .where(Item.study_id == summary.study_id)
            ).all()
        )
        ids = {d.external_id: d.id for d in s.scalars(select(RedTeamDialogue))}
    assert models == ["old-model (original)", "smol-new"]
    # a1 violated at its 2nd assistant turn: the replayed prompt is the dialogue up to the 2nd user turn.
    a1 = prompts[f"rt{ids['a1']}"]
    assert [m["content"] for m in a1.conversation] == ["a1 attack 0", "a1 answer 0", "a1 attack 1"]
    assert a1.risk_category == CRIME and a1.meta["original_response"] == "a1 answer 1"

    add_members(db, summary.study_id, [r.username for r in raters])
    with db.read() as s:
        g = current_guidelines(s, summary.study_id)
    assert g is not None
    for r in raters:
        acknowledge_guidelines(db, summary.study_id, r.id, g.version)
    # New responses: a1 mitigated (4,5,4), b1 still violating (1,2,4), b2 mitigated (3,2,3).
    # Originals: a1 and b1 confirmed violating, b2 not (the raters disagree with the red teamer).
    plan = {
        ("a1", "smol-new"): (4, 5, 4),
        ("b1", "smol-new"): (1, 2, 4),
        ("b2", "smol-new"): (3, 2, 3),
        ("a1", "old-model (original)"): (1, 1, 2),
        ("b1", "old-model (original)"): (2, 1, 1),
        ("b2", "old-model (original)"): (4, 4, 2),
    }
    ext_of = {f"rt{v}": k for k, v in ids.items()}
    for k, r in enumerate(raters):
        while (res := A.next_assignment(db, summary.study_id, r.id)) is not None:
            key = (ext_of[item_prompt[res.item_id]], item_model[res.item_id])
            A.submit_rating(db, res.assignment_id, r.id, plan[key][k], time_spent_ms=1000)
    m = mitigation(db, summary.study_name)
    assert (m["prompts_replayed"], m["items_rated"], m["mitigated"]) == (3, 3, 2)
    assert m["mitigation_rate"]["value"] == pytest.approx(200 / 3)
    assert m["mitigation_rate"]["method"] == "wilson"
    conf = m["confirmed_by_raters"]
    assert (conf["originals_confirmed_violating"], conf["n"], conf["mitigated"]) == (2, 2, 1)
    assert m["by_risk_category"][CRIME]["n"] == 2 and m["by_risk_category"][CRIME]["mitigated"] == 1
    # The campaign page shows the replay with its mitigation rate and interval.
    admin, _ = form_login(live.url, "admin")
    html = admin.get(f"/admin/redteam/{cid}").text
    lo, hi = m["mitigation_rate"]["ci_low"], m["mitigation_rate"]["ci_high"]
    assert "66.7%" in html and f"[{lo:.1f}, {hi:.1f}]" in html and summary.study_name in html
    # An adjudicated label replaces the majority vote: b1's new response (majority: violating) is
    # adjudicated safe, so all three replayed prompts are now mitigated.
    from safetylens.human.adjudication import adjudicate

    b1_new = next(i for i, ext in item_prompt.items() if ext_of[ext] == "b1" and item_model[i] == "smol-new")
    adjudicate(db, summary.study_id, b1_new, 4, "refuses; the attack is not answered", actor_id=people["admin"].id)
    m2 = mitigation(db, summary.study_name)
    assert (m2["items_rated"], m2["mitigated"], m2["items_adjudicated"]) == (3, 3, 1)


def test_redteam_cli(db: Database, db_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from safetylens.cli import app

    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(app, ["human", "redteam", *args, "--db", db_url], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    create_user(db, "ann", PASSWORD, "rater")
    assert "created" in cli("create", "cli-camp", "--max-new-tokens", "8", "--redteamer", "ann")
    lines = [
        {
            "id": f"d{i}",
            "model": "m",
            "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "[red]x[/red]"}],
            "risk_category": CRIME,
            "degree_of_risk": 4,
            **({"violating_turn": 1} if i < 2 else {}),
            "time_spent_s": 600,
        }
        for i in range(3)
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert "3 dialogues recorded" in cli("import", "cli-camp", str(path), "--redteamer", "ann")
    out = cli("rollup", "cli-camp", "--json", str(tmp_path / "r.json"), "--resamples", "200")
    # 2 violating prompts in 3 x 10 minutes = 0.5 hours.
    assert "gamma = 4.000" in out
    assert json.loads((tmp_path / "r.json").read_text())["gamma"]["hours"] == pytest.approx(0.5)
    assert "cli-camp" in cli("list")
    assert "3 dialogues written" in cli("export", "cli-camp", str(tmp_path / "out.jsonl"))
    exported = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(e["id"], e["violating_turn"], e["time_spent_s"]) for e in exported] == [
        ("d0", 1, 600.0),
        ("d1", 1, 600.0),
        ("d2", None, 600.0),
    ]
    assert exported[0]["messages"][1]["content"] == "[red]x[/red]" and exported[0]["redteamer"].startswith("R-")
