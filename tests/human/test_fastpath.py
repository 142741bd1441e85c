"""The rating fast path answers exactly as the FastAPI endpoints do, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from safetylens.human import fastpath
from safetylens.human.db import Database, utcnow
from safetylens.human.importing import Record, import_records
from safetylens.human.studies import acknowledge_guidelines, add_members, create_study

from .conftest import LiveServer, login


@pytest.fixture
def study(db: Database, people: dict[str, Any]) -> dict[str, Any]:
    st = create_study(db, "fast", "safety", raters_per_item=2, seed=3)
    import_records(
        db,
        st.id,
        [
            Record(f"p{i}", [{"role": "user", "content": f"prompt {i}"}], response=f"answer {i}", model="m")
            for i in range(6)
        ],
    )
    add_members(db, st.id, [r.username for r in people["raters"]])
    for r in people["raters"]:
        acknowledge_guidelines(db, st.id, r.id, 1)
    return {"study": st, **people}


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each request the fast path answered itself ('fast') or handed to FastAPI ('fallback')."""
    seen: list[str] = []
    real = fastpath.RatingFastPath._answer

    async def answer(self: Any, *args: Any) -> Any:
        try:
            response = await real(self, *args)
        except fastpath._Fallback:
            seen.append("fallback")
            raise
        seen.append("fast")
        return response

    monkeypatch.setattr(fastpath.RatingFastPath, "_answer", answer)
    return seen


def _next(client: httpx.Client, csrf: str, study_id: int, query: str = "") -> httpx.Response:
    return client.post(f"/api/studies/{study_id}/next{query}", headers={"X-CSRF-Token": csrf})


def test_fast_and_framework_paths_give_the_same_answers(
    live: LiveServer, study: dict[str, Any], spy: list[str]
) -> None:
    sid = study["study"].id
    client, csrf = login(live.url, "rater1")
    first = _next(client, csrf, sid)
    assert first.status_code == 200 and spy == ["fast"]
    body = first.json()
    assert set(body) == {"done", "assignment_id", "expires_at", "item", "scale"}
    # The same response headers as every other page (SecurityHeaders wraps the fast path).
    assert (
        first.headers["x-frame-options"] == "DENY" and "default-src 'none'" in first.headers["content-security-policy"]
    )
    assert first.headers["content-type"] == "application/json"
    aid = body["assignment_id"]
    # next=yes is valid for FastAPI but not a form the fast path takes: same result, through FastAPI.
    slow = client.post(
        f"/api/assignments/{aid}/rating?next=yes",
        json={"value": 4, "time_spent_ms": 10},
        headers={"X-CSRF-Token": csrf},
    )
    assert slow.status_code == 200 and spy[-1] == "fallback"
    fast = client.post(
        f"/api/assignments/{slow.json()['next']['assignment_id']}/rating?next=true",
        json={"value": 2},
        headers={"X-CSRF-Token": csrf},
    )
    assert fast.status_code == 200 and spy[-1] == "fast"
    a, b = slow.json(), fast.json()
    assert set(a) == set(b) == {"rating_id", "duplicate", "next"}
    assert set(a["next"]) == set(b["next"]) and a["next"]["scale"] == b["next"]["scale"]
    assert b["rating_id"] == a["rating_id"] + 1 and a["duplicate"] is b["duplicate"] is False
    # Resubmitting the same value is reported as a duplicate, not stored twice.
    again = client.post(f"/api/assignments/{aid}/rating", json={"value": 4}, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 200 and again.json() == {"rating_id": a["rating_id"], "duplicate": True}


def _rater1_holds_an_item(live: LiveServer, sid: int, query: str = "") -> tuple[Any, ...]:
    """rater1 and rater2 logged in, rater1 holding an item: clients, tokens, its rating URL, an anonymous client."""
    c1, t1 = login(live.url, "rater1")
    c2, t2 = login(live.url, "rater2")
    aid = _next(c1, t1, sid).json()["assignment_id"]
    return c1, t1, c2, t2, f"/api/assignments/{aid}/rating{query}", httpx.Client(base_url=live.url)


def test_errors_match_the_framework_endpoints(live: LiveServer, study: dict[str, Any], spy: list[str]) -> None:
    c1, t1, c2, t2, url, anon = _rater1_holds_an_item(live, study["study"].id)
    assert anon.post(url, json={"value": 3}).json() == {"error": "log in first"}
    no_csrf = c1.post(url, json={"value": 3})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]
    assert c2.post(url, json={"value": 3}, headers={"X-CSRF-Token": t2}).status_code == 403
    assert c2.post("/api/assignments/99999/rating", json={"value": 3}, headers={"X-CSRF-Token": t2}).status_code == 404
    bad_value = c1.post(url, json={"value": 9}, headers={"X-CSRF-Token": t1})
    assert bad_value.status_code == 422 and "rating must be one of 1, 2, 3, 4, 5" in bad_value.json()["error"]
    cross = c1.post(url, json={"value": 3}, headers={"X-CSRF-Token": t1, "Origin": "http://evil.example"})
    assert cross.status_code == 403 and cross.json() == {"error": "cross-site request refused"}
    assert spy.count("fallback") == 0
    # Bodies the fast path does not take go to FastAPI, whose validation message is kept.
    for kwargs in (
        {"json": {"value": "three"}},
        {"content": b"value=3", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        {"json": {"value": 3, "comment": "x" * (fastpath.MAX_FAST_BODY + 10)}},
    ):
        headers = {"X-CSRF-Token": t1, **kwargs.pop("headers", {})}
        r = c1.post(url, headers=headers, **kwargs)
        assert r.status_code == 422 and "error" in r.json(), r.text
    # The large body reaches _answer (and fails validation there) when the server got it in one
    # message; streamed in chunks, it is handed on at the size limit without being read whole.
    assert spy.count("fallback") in (2, 3)
    # Nothing above was stored. A valid body streamed in chunks past the size limit (JSON padded
    # with whitespace) is replayed to FastAPI whole: what was read, then the rest.
    payload = b'{"value": 3' + b" " * (fastpath.MAX_FAST_BODY + 5000) + b"}"

    def chunks() -> Any:
        for i in range(0, len(payload), 8192):
            yield payload[i : i + 8192]

    ok = c1.post(url, content=chunks(), headers={"X-CSRF-Token": t1, "content-type": "application/json"})
    assert ok.status_code == 200 and ok.json()["duplicate"] is False, ok.text


def test_rating_with_next_authenticates_and_loads_in_one_query_with_the_same_answers(
    db: Database, live: LiveServer, study: dict[str, Any], spy: list[str]
) -> None:
    """``?next=true`` reads the session, the assignment and the next item's checks together
    (:func:`safetylens.human.assignment.load_submission`); every refusal is still the one the
    long way gives, and the next item's content (read by the reservation on PostgreSQL) is the
    same as a plain reload of it."""
    from sqlalchemy import update

    from safetylens.human.models import AuthSession, User

    sid = study["study"].id
    c1, t1, c2, t2, url, anon = _rater1_holds_an_item(live, sid, "?next=true")
    aid = int(url.split("/")[3])
    assert anon.post(url, json={"value": 3}).status_code == 401
    assert c1.post(url, json={"value": 3}).status_code == 403  # no CSRF token
    assert c1.post(url, json={"value": 3}, headers={"X-CSRF-Token": t2}).status_code == 403  # another session's
    assert c2.post(url, json={"value": 3}, headers={"X-CSRF-Token": t2}).status_code == 403  # not rater2's item
    missing = c2.post("/api/assignments/99999/rating?next=true", json={"value": 3}, headers={"X-CSRF-Token": t2})
    assert missing.status_code == 404
    assert c1.post(url, json={"value": 9}, headers={"X-CSRF-Token": t1}).status_code == 422
    # rater1 rates their share one item after another (balanced: 6 items x 2 raters / 3 raters =
    # 4): four distinct items, then done.
    seen = [aid]
    items: list[Any] = []
    while True:
        r = c1.post(f"/api/assignments/{seen[-1]}/rating?next=true", json={"value": 2}, headers={"X-CSRF-Token": t1})
        assert r.status_code == 200 and r.json()["duplicate"] is False, r.text
        nxt = r.json()["next"]
        if nxt["done"]:
            break
        # Reloading the reservation (the held item, read by a query of its own) shows the same item.
        again = _next(c1, t1, sid).json()
        assert again["assignment_id"] == nxt["assignment_id"] and again["item"] == nxt["item"]
        assert nxt["item"]["response_a"].startswith("answer ") and nxt["scale"] == again["scale"]
        items.append(nxt["item"]["conversation"])
        seen.append(nxt["assignment_id"])
    assert len(seen) == len(set(seen)) == 4 and len({str(x) for x in items}) == 3
    assert spy.count("fallback") == 0
    # An expired session, and a deactivated account, are anonymous (401) on this path too.
    aid2 = _next(c2, t2, sid).json()["assignment_id"]
    url2 = f"/api/assignments/{aid2}/rating?next=true"
    with db.write() as s:
        s.execute(update(AuthSession).where(AuthSession.user_id == study["raters"][1].id).values(expires_at=utcnow()))
    assert c2.post(url2, json={"value": 3}, headers={"X-CSRF-Token": t2}).status_code == 401
    c2, t2 = login(live.url, "rater2")
    assert c2.post(url2, json={"value": 3}, headers={"X-CSRF-Token": t2}).status_code == 200
    aid3 = _next(c2, t2, sid).json()["assignment_id"]
    with db.write() as s:
        s.execute(update(User).where(User.id == study["raters"][1].id).values(status="paused"))
    r = c2.post(f"/api/assignments/{aid3}/rating?next=true", json={"value": 3}, headers={"X-CSRF-Token": t2})
    assert r.status_code == 401


def test_late_rating_with_next_counts_toward_the_raters_cap(db: Database, people: dict[str, Any]) -> None:
    """A late rating (the reservation expired) makes the item count as taken: with a cap of one
    item, ``?next=true`` then answers done instead of handing out a second item."""
    from datetime import timedelta

    from safetylens.human import assignment as A
    from safetylens.human.app import create_app
    from safetylens.human.models import Assignment

    r1, r2 = people["raters"][:2]
    st = create_study(db, "cap", "safety", raters_per_item=2, seed=5, max_items_per_rater=1, balance=False)
    import_records(
        db, st.id, [Record(f"p{i}", [{"role": "user", "content": f"q{i}"}], response="a", model="m") for i in range(3)]
    )
    add_members(db, st.id, [r1.username, r2.username])
    for r in (r1, r2):
        acknowledge_guidelines(db, st.id, r.id, 1)
    with LiveServer(create_app(db)) as server:
        c1, t1 = login(server.url, r1.username)
        aid = _next(c1, t1, st.id).json()["assignment_id"]
        # rater2 asks after rater1's reservation timed out: the sweep expires it (slot back to the pool).
        A.next_assignment(db, st.id, r2.id, now=utcnow() + timedelta(seconds=st.reservation_timeout_s + 30))
        with db.read() as s:
            held = s.get(Assignment, aid)
            assert held is not None and held.status == "expired"
        r = c1.post(f"/api/assignments/{aid}/rating?next=true", json={"value": 4}, headers={"X-CSRF-Token": t1})
        assert r.status_code == 200, r.text
        assert r.json()["duplicate"] is False and r.json()["next"] == {"done": True}
        assert _next(c1, t1, st.id).json() == {"done": True}


def test_other_methods_and_paths_are_untouched(live: LiveServer, study: dict[str, Any], spy: list[str]) -> None:
    client, csrf = login(live.url, "rater1")
    assert client.get(f"/api/studies/{study['study'].id}/next").status_code == 405
    assert (
        client.post("/api/assignments/x/rating", json={"value": 1}, headers={"X-CSRF-Token": csrf}).status_code == 422
    )
    assert spy == []


def test_a_body_over_the_limit_is_handed_on_whole() -> None:
    # At the ASGI level, so the chunking is exact: the inner app must receive every byte once.
    payload = bytes(range(256)) * ((fastpath.MAX_FAST_BODY // 256) + 40)
    chunks = [payload[i : i + 8192] for i in range(0, len(payload), 8192)]
    got: list[bytes] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            got.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def main() -> list[Any]:
        queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
        sent: list[Any] = []

        async def receive() -> Any:
            return queue.pop(0)

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/api/assignments/1/rating", "headers": []}
        await fastpath.RatingFastPath(inner)(scope, receive, send)
        return sent

    sent = asyncio.run(main())
    assert b"".join(got) == payload
    assert sent[0]["status"] == 204


def test_rating_transactions_at_once_are_bounded(
    db: Database, study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: at most ``db_concurrency`` rating transactions run at once, the rest wait their
    turn and are answered; SQLite: one at a time (the process's write lock), on the event loop."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from safetylens.errors import ConfigError
    from safetylens.human import api
    from safetylens.human.app import create_app

    with pytest.raises(ConfigError, match="at least 1"):
        create_app(db, db_concurrency=0)
    lock = threading.Lock()
    running = [0]
    most = [0]
    real = api.reserve_next_response

    def slow(request: Any, study_id: int) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.3)  # a slow transaction, so that the requests overlap
            return real(request, study_id)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(api, "reserve_next_response", slow)
    sid = study["study"].id
    with LiveServer(create_app(db, db_concurrency=2)) as server:
        clients = [login(server.url, r.username) for r in study["raters"]]
        assert len(clients) == 3
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda c: _next(c[0], c[1], sid), clients))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.json()["assignment_id"] for a in answers}) == 3
    assert most[0] == (2 if db.is_postgres else 1)


def test_server_factory_reads_db_concurrency(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """``human serve --db-concurrency`` reaches each worker through the environment; bad values are refused."""
    import gc

    from safetylens.errors import ConfigError
    from safetylens.human.app import ENV_DB_CONCURRENCY, app_from_env

    monkeypatch.setenv("SAFETYLENS_HUMAN_DB", db.url)
    monkeypatch.setenv(ENV_DB_CONCURRENCY, "3")
    try:
        app = app_from_env()
        assert app.state.hot_executor.size == 3
        app.state.db.dispose()
    finally:
        gc.unfreeze()  # the factory freezes the heap of a server process at start-up
    for bad in ("three", "0", "-1"):
        monkeypatch.setenv(ENV_DB_CONCURRENCY, bad)
        with pytest.raises(ConfigError, match="at least 1"):
            app_from_env()
