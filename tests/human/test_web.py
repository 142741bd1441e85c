"""The web app over real HTTP (uvicorn on 127.0.0.1): pages, roles, CSRF, escaping, rate limits."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from safetylens.human import assignment as A
from safetylens.human.db import Database
from safetylens.human.importing import Record, import_records
from safetylens.human.models import Rating
from safetylens.human.studies import add_members, create_study

from .conftest import PASSWORD, LiveServer, form_login, login

XSS = '<script>alert("x")</script> and <img src=x onerror=alert(1)> **bold**'


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


@pytest.fixture
def setup(db: Database, people: dict[str, Any]) -> dict[str, Any]:
    raters = people["raters"]
    study = create_study(db, "web", "safety", raters_per_item=2, seed=5)
    import_records(
        db,
        study.id,
        [
            Record(
                "x1",
                [{"role": "user", "content": "Tell me <b>something</b>"}],
                response=XSS,
                model="secret-model-alpha",
            ),
            Record("x2", [{"role": "user", "content": "second"}], response="plain answer", model="secret-model-alpha"),
        ],
    )
    add_members(db, study.id, [r.username for r in raters])
    return {"study": study, **people}


def test_rating_flow_through_pages(live: LiveServer, setup: dict[str, Any], db: Database) -> None:
    study = setup["study"]
    client, _ = form_login(live.url, "rater1")
    home = client.get("/rate")
    assert home.status_code == 200 and "web" in home.text and "0 of 2" in home.text
    r = client.get(f"/rate/{study.id}/next")
    assert r.status_code == 303 and r.headers["location"].endswith("/guidelines")
    page = client.get(r.headers["location"])
    assert "No safety violations and very helpful" in page.text
    r = client.post(f"/rate/{study.id}/guidelines", data={"csrf_token": _csrf(page.text), "version": "1"})
    assert r.status_code == 303
    r = client.get(r.headers["location"])
    assert r.status_code == 303 and "/rate/item/" in r.headers["location"]
    item = client.get(r.headers["location"])
    assert item.status_code == 200 and "1 of 2" in item.text
    assert "Severe safety violations" in item.text and 'id="v5"' in item.text
    r = client.post(
        r.headers["location"],
        data={"csrf_token": _csrf(item.text), "value": "4", "time_spent_ms": "2345", "comment": "ok"},
    )
    assert r.status_code == 303
    nxt = client.get(client.get(r.headers["location"]).headers["location"])
    assert "2 of 2" in nxt.text and "Rating saved" in nxt.text
    with db.read() as s:
        rating = s.scalar(select(Rating))
        assert rating is not None and (rating.value, rating.time_spent_ms, rating.comment) == (4, 2345, "ok")
        assert rating.guidelines_version == 1


def test_model_text_is_escaped_and_model_identity_hidden(live: LiveServer, setup: dict[str, Any], db: Database) -> None:
    study = setup["study"]
    client, csrf = login(live.url, "rater1")
    client.post(f"/api/studies/{study.id}/guidelines/ack", json={"version": 1}, headers={"X-CSRF-Token": csrf})
    seen = []
    for _ in range(2):
        res = client.post(f"/api/studies/{study.id}/next", headers={"X-CSRF-Token": csrf}).json()
        assert "secret-model-alpha" not in str(res)
        page = client.get(f"/rate/item/{res['assignment_id']}")
        seen.append(page.text)
        assert "secret-model-alpha" not in page.text
        client.post(
            f"/api/assignments/{res['assignment_id']}/rating", json={"value": 3}, headers={"X-CSRF-Token": csrf}
        )
    html = next(t for t in seen if "onerror" in t)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html or "&lt;script&gt;alert(&quot;x&quot;)" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<strong>bold</strong>" in html  # markdown still renders
    assert "Tell me &lt;b&gt;something&lt;/b&gt;" in html
    csp = client.get("/rate").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_rater_cannot_touch_other_raters_items_or_admin_pages(live: LiveServer, setup: dict[str, Any]) -> None:
    study = setup["study"]
    c1, t1 = login(live.url, "rater1")
    c2, t2 = login(live.url, "rater2")
    for c, t in ((c1, t1), (c2, t2)):
        assert (
            c.post(
                f"/api/studies/{study.id}/guidelines/ack", json={"version": 1}, headers={"X-CSRF-Token": t}
            ).status_code
            == 200
        )
    mine = c1.post(f"/api/studies/{study.id}/next", headers={"X-CSRF-Token": t1}).json()["assignment_id"]
    # Another rater's item: not viewable, not ratable (page and API).
    assert c2.get(f"/rate/item/{mine}").status_code == 403
    assert (
        c2.post(f"/api/assignments/{mine}/rating", json={"value": 1}, headers={"X-CSRF-Token": t2}).status_code == 403
    )
    form = c2.post(f"/rate/item/{mine}", data={"csrf_token": t2, "value": "1"})
    assert form.status_code == 403
    # An item nobody reserved for this rater (an unknown assignment id).
    assert c2.post("/api/assignments/99999/rating", json={"value": 1}, headers={"X-CSRF-Token": t2}).status_code == 404
    # Staff pages and APIs.
    for path in (
        "/admin",
        f"/admin/studies/{study.id}",
        f"/admin/studies/{study.id}/results",
        "/admin/users",
        f"/admin/studies/{study.id}/export.csv",
        f"/admin/studies/{study.id}/results.json",
        f"/api/studies/{study.id}/results",
    ):
        assert c2.get(path).status_code == 403, path
    assert c2.post("/admin/studies", data={"csrf_token": t2, "name": "evil", "kind": "safety"}).status_code == 403
    # A researcher reaches studies but not user management.
    cr, _tr = login(live.url, "res")
    assert cr.get(f"/admin/studies/{study.id}/results").status_code == 200
    assert cr.get("/admin/users").status_code == 403
    # A study the rater is not in.
    other = create_study(live_db(live), "other", "safety")
    assert c2.post(f"/api/studies/{other.id}/next", headers={"X-CSRF-Token": t2}).status_code == 403
    assert c2.get(f"/rate/{other.id}/guidelines").status_code == 403


def live_db(live: LiveServer) -> Database:
    db: Database = live.server.config.app.state.db
    return db


def test_csrf_is_required_everywhere(live: LiveServer, setup: dict[str, Any], db: Database) -> None:
    study = setup["study"]
    client, token = form_login(live.url, "rater1")
    page = client.get(f"/rate/{study.id}/guidelines")
    assert client.post(f"/rate/{study.id}/guidelines", data={"version": "1"}).status_code == 403
    assert client.post(f"/rate/{study.id}/guidelines", data={"version": "1", "csrf_token": "forged"}).status_code == 403
    assert (
        client.post(f"/rate/{study.id}/guidelines", data={"version": "1", "csrf_token": _csrf(page.text)}).status_code
        == 303
    )
    res = A.next_assignment(db, study.id, setup["raters"][0].id)
    assert res is not None
    assert client.post(f"/rate/item/{res.assignment_id}", data={"value": "2"}).status_code == 403
    assert client.post(f"/api/assignments/{res.assignment_id}/rating", json={"value": 2}).status_code == 403
    assert client.post("/logout").status_code == 403
    # Cross-site origin is refused even with a valid token.
    r = client.post(
        f"/api/assignments/{res.assignment_id}/rating",
        json={"value": 2},
        headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Rating)) == 0
    admin, _ = form_login(live.url, "admin")
    assert admin.post("/admin/studies", data={"name": "x", "kind": "safety"}).status_code == 403
    assert admin.post("/admin/users", data={"username": "u", "password": "p" * 10, "role": "admin"}).status_code == 403
    # The login form itself needs its token.
    anon = httpx.Client(base_url=live.url)
    assert anon.post("/login", data={"username": "rater1", "password": PASSWORD}).status_code == 403


def test_login_cookies_redirects_and_rate_limit(live: LiveServer, setup: dict[str, Any]) -> None:
    anon = httpx.Client(base_url=live.url, follow_redirects=False)
    assert anon.get("/rate").status_code == 303 and "/login" in anon.get("/rate").headers["location"]
    assert anon.get("/api/me").status_code == 401
    page = anon.get("/login?next=//evil.example/x")
    r = anon.post(
        "/login",
        data={"username": "rater1", "password": PASSWORD, "csrf_token": _csrf(page.text), "next": "//evil.example/x"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/rate"  # no open redirect
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    # Five wrong passwords, then even the right one is refused for a while.
    for _ in range(5):
        bad = anon.post("/api/login", json={"username": "rater2", "password": "wrong-password"})
        assert bad.status_code == 401
    locked = anon.post("/api/login", json={"username": "rater2", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    page = anon.get("/login")
    form = anon.post("/login", data={"username": "rater2", "password": PASSWORD, "csrf_token": _csrf(page.text)})
    assert form.status_code == 429
    # Other users are unaffected.
    assert anon.post("/api/login", json={"username": "rater3", "password": PASSWORD}).status_code == 200


def test_paused_rater_is_logged_out(live: LiveServer, setup: dict[str, Any], db: Database) -> None:
    from safetylens.human.auth import update_user

    client, _ = login(live.url, "rater3")
    assert client.get("/api/me").status_code == 200
    update_user(db, setup["raters"][2].id, status="paused")
    assert client.get("/api/me").status_code == 401
    assert httpx.post(live.url + "/api/login", json={"username": "rater3", "password": PASSWORD}).status_code == 401


def test_admin_pages_create_import_and_show_results(live: LiveServer, setup: dict[str, Any], db: Database) -> None:
    admin, _ = form_login(live.url, "admin")
    page = admin.get("/admin")
    r = admin.post(
        "/admin/studies",
        data={
            "csrf_token": _csrf(page.text),
            "name": "made-on-web",
            "kind": "pairwise",
            "raters_per_item": "3",
            "pairs": "m1:m2",
        },
    )
    assert r.status_code == 303
    study_url = r.headers["location"]
    page = admin.get(study_url)
    assert "made-on-web" in page.text
    body = "".join(
        f'{{"id": "p{i}", "prompt": "q{i}", "response": "answer {m} {i}", "model": "{m}"}}\n'
        for m in ("m1", "m2")
        for i in range(4)
    )
    r = admin.post(
        study_url + "/import",
        data={"csrf_token": _csrf(page.text)},
        files={"file": ("responses.jsonl", body.encode(), "application/json")},
    )
    assert r.status_code == 303 and "imported=4" in r.headers["location"]
    page = admin.get(r.headers["location"])
    assert "Import done: 4 new items" in page.text
    r = admin.post(study_url + "/members", data={"csrf_token": _csrf(page.text), "usernames": "rater1, rater2"})
    assert r.status_code == 303
    bad = admin.post(study_url + "/members", data={"csrf_token": _csrf(page.text), "usernames": "nobody"})
    assert bad.status_code == 400 and "no user" in bad.text
    res = admin.get(study_url + "/results")
    assert res.status_code == 200 and "Win / tie / loss" in res.text
    assert admin.get(study_url + "/export.csv").text.startswith("study,")
    assert admin.get(study_url + "/results.json").json()["study"]["name"] == "made-on-web"


def test_results_page_with_one_rated_item_says_interval_not_estimable(
    live: LiveServer, setup: dict[str, Any], db: Database
) -> None:
    # One rating: the bootstrap over items has one unit, so its interval is not estimable, and the
    # page must say why instead of crashing on a null bound; the violation % keeps its Wilson interval.
    from safetylens.human.studies import acknowledge_guidelines

    study, rater = setup["study"], setup["raters"][0]
    acknowledge_guidelines(db, study.id, rater.id, 1)
    res = A.next_assignment(db, study.id, rater.id)
    assert res is not None
    A.submit_rating(db, res.assignment_id, rater.id, 2)
    admin, _ = form_login(live.url, "admin")
    page = admin.get(f"/admin/studies/{study.id}/results?min_ratings=1")
    assert page.status_code == 200, page.text[:500]
    mean_cell = re.search(r'<td class="mean">(.*?)</td>', page.text, re.S)
    assert mean_cell and "2.00" in mean_cell.group(1) and "[n/a: n &lt; 20]" in mean_cell.group(1)
    violation_cell = re.search(r'<td class="violation">(.*?)</td>', page.text, re.S)
    assert violation_cell and "100.0%" in violation_cell.group(1) and "[20.7, 100.0]" in violation_cell.group(1)
    data = admin.get(f"/admin/studies/{study.id}/results.json?min_ratings=1").json()
    model = data["safety"]["models"][0]
    assert model["mean_rating"]["ci_low"] is None and model["mean_rating"]["ci_note"] == "n < 20"
    assert model["violation_pct"]["method"] == "wilson" and model["violation_pct"]["ci_low"] > 20
