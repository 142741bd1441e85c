"""Every route with an integer id in its path answers ids that name nothing with 404, never 5xx.

A number larger than an id column holds (INTEGER: 2**31-1 on PostgreSQL, 2**63-1 on SQLite) used to
reach the database and overflow (a 500). The routes are found by walking the app, so a new route
is covered the day it is added.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from safetylens.human.app import create_app
from safetylens.human.db import Database
from safetylens.human.deps import MAX_ID

from .conftest import LiveServer, login

# Past PostgreSQL's INTEGER (the fast path's digits included), past SQLite's, and far past both.
TOO_LARGE = (MAX_ID + 1, 2**40, 2**63, 2**64, 10**30)
MISSING = (MAX_ID, 999_999)
# Text path parameters get a value the route accepts, so the request reaches the id lookup.
TEXT_PARAMS = {"fmt": "csv", "action": "pause"}
# Enough of every form a route reads that a request with a missing id gets past the form checks.
FORM = {"value": "1", "reason": "r", "text": "t", "usernames": "nobody", "status": "paused", "grade": "3"}


def _routes(app: Any) -> list[tuple[str, Any]]:
    """(path, route) for every route of the app, those of included routers too."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI versions that copy included routes into app.routes
        return [(route.path, route) for route in app.routes]
    return [(ctx.path, ctx.original_route) for ctx in iter_route_contexts(app.routes)]


def id_routes(app: Any) -> list[tuple[str, str, list[str]]]:
    """(method, path template, integer path parameter names) for every route with an integer id."""
    out: list[tuple[str, str, list[str]]] = []
    for path, route in _routes(app):
        if not isinstance(route, APIRoute):
            continue
        ints = [p.name for p in route.dependant.path_params if p.field_info.annotation is int]
        if ints:
            out.extend((method, path, ints) for method in sorted(route.methods or ()))
    return out


def _url(template: str, ints: list[str], value: int) -> str:
    return template.format(**dict.fromkeys(ints, value), **TEXT_PARAMS)


def _request(client: Any, csrf: str, method: str, url: str) -> Any:
    if method == "GET":
        return client.get(url)
    if url.startswith("/api/"):
        return client.post(url, json={"value": 1, "version": 1}, headers={"X-CSRF-Token": csrf})
    return client.post(url, data=FORM, headers={"X-CSRF-Token": csrf})


def test_the_walk_finds_the_id_routes(db: Database) -> None:
    routes = id_routes(create_app(db))
    paths = {path for _, path, _ in routes}
    assert len(routes) >= 45
    assert {"/admin/studies/{study_id}/adjudication", "/api/assignments/{assignment_id}/rating"} <= paths
    assert {"/quiz/{quiz_id}", "/redteam/dialogues/{dialogue_id}", "/admin/ratings/{rating_id}/edit"} <= paths


@pytest.mark.parametrize("who", ["admin", "rater1"])
def test_ids_that_name_nothing_never_give_a_server_error(
    live: LiveServer, people: dict[str, Any], db: Database, who: str
) -> None:
    client, csrf = login(live.url, who)
    failures = []
    for method, template, ints in id_routes(create_app(db, check_schema=False)):
        for value in TOO_LARGE:
            r = _request(client, csrf, method, _url(template, ints, value))
            # 403 where the route is for the other role (decided before the id is looked at).
            if r.status_code not in (403, 404):
                failures.append(f"{method} {template} = {value}: {r.status_code} {r.text[:200]}")
        for value in MISSING:
            r = _request(client, csrf, method, _url(template, ints, value))
            if r.status_code >= 500:
                failures.append(f"{method} {template} = {value}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


def test_a_missing_study_has_no_adjudication_page(live: LiveServer, people: dict[str, Any]) -> None:
    client, _ = login(live.url, "admin")
    r = client.get("/admin/studies/999/adjudication")
    assert r.status_code == 404 and "no such study" in r.text
    assert client.get(f"/admin/studies/{2**63}/adjudication").status_code == 404
    api = client.get(f"/api/studies/{2**64}/results")
    assert api.status_code == 404 and "error" in api.json()
    assert client.get("/api/studies/x/results").status_code == 422  # not an id at all: still a bad request
    # The audit log's study filter: out of range is a bad filter (422), never a server error.
    for url in ("/admin/audit", "/admin/audit.csv"):
        assert client.get(url, params={"study": MAX_ID}).status_code == 200
        r = client.get(url, params={"study": MAX_ID + 1})
        assert r.status_code == 422 and "study" in r.text
