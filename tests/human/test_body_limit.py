"""Request-body caps: oversized bodies are refused with 413 before anything parses them, whether
they announce their size (Content-Length) or stream it (chunked), on every kind of route."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from safetylens.human.app import create_app
from safetylens.human.db import Database

from .conftest import PASSWORD, LiveServer, login

MIB = 2**20


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes of a JSON document, streamed (httpx sends it chunked, with no Content-Length)."""
    yield b'{"username": "rater1", "password": "x", "pad": "'
    sent = 0
    while sent < total:
        yield b"a" * size
        sent += size
    yield b'"}'


def test_anonymous_50_mb_login_is_refused_before_parsing(db: Database, people: dict[str, Any]) -> None:
    with LiveServer(create_app(db)) as server:
        body = b'{"username": "rater1", "password": "x", "pad": "' + b"a" * (50 * MIB) + b'"}'
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(
                b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            # The answer comes before the body is sent: nothing waits for 50 MB, let alone parses it.
            head = sock.recv(65536).decode()
        assert head.startswith("HTTP/1.1 413"), head
        assert "1 MiB" in head.split("\r\n\r\n", 1)[1]
        # A client that sends the body anyway gets the same answer, as JSON on the API.
        r = httpx.post(server.url + "/api/login", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "larger than 1 MiB" in r.json()["error"]
        # Ordinary logins are unaffected.
        assert (
            httpx.post(server.url + "/api/login", json={"username": "rater1", "password": PASSWORD}).status_code == 200
        )


def test_chunked_bodies_are_counted_as_they_stream(db: Database, people: dict[str, Any]) -> None:
    with LiveServer(create_app(db)) as server:
        headers = {"content-type": "application/json"}
        # The JSON API, through FastAPI's body parsing.
        r = httpx.post(server.url + "/api/login", content=_chunks(2 * MIB), headers=headers, timeout=30)
        assert r.status_code == 413 and "larger than 1 MiB" in r.json()["error"]
        # The rating fast path, which reads bodies itself.
        client, csrf = login(server.url, "rater1")
        r = client.post(
            "/api/assignments/1/rating", content=_chunks(2 * MIB), headers={**headers, "x-csrf-token": csrf}
        )
        assert r.status_code == 413 and "larger than 1 MiB" in r.json()["error"]
        # A page (form) route.
        r = httpx.post(
            server.url + "/login",
            content=(b"username=x&password=" + b"a" * (64 * 1024) for _ in range(32)),
            headers={"content-type": "application/x-www-form-urlencoded"},
            timeout=30,
        )
        assert r.status_code == 413 and "larger than 1 MiB" in r.text
        # Under the cap, a chunked body is read as usual.
        r = httpx.post(server.url + "/api/login", content=_chunks(256 * 1024), headers=headers, timeout=30)
        assert r.status_code == 401


def test_upload_routes_get_the_larger_configurable_cap(db: Database, people: dict[str, Any]) -> None:
    from safetylens.human.studies import create_study

    study = create_study(db, "uploads", "safety", raters_per_item=1, seed=1)
    app = create_app(db, max_body_bytes=64 * 1024, max_upload_bytes=MIB)
    with LiveServer(app) as server:
        admin, csrf = login(server.url, "admin")
        line = json.dumps({"id": "p", "prompt": "hello", "response": "hi there", "model": "m"}) + "\n"

        def upload(n_lines: int) -> httpx.Response:
            data = "".join(line.replace('"p"', f'"p{i}"') for i in range(n_lines)).encode()
            return admin.post(
                f"/admin/studies/{study.id}/import",
                data={"csrf_token": csrf, "fmt": "jsonl"},
                files={"file": ("items.jsonl", data, "application/x-ndjson")},
            )

        # ~200 KiB: over the ordinary cap, within the upload cap.
        ok = upload(3000)
        assert ok.status_code != 413 and ok.status_code < 500, ok.text[:500]
        too_big = upload(20000)  # ~1.4 MiB
        assert too_big.status_code == 413 and "larger than 1 MiB" in too_big.text
        # Everything else keeps the small cap.
        r = admin.post(
            f"/admin/studies/{study.id}/guidelines",
            data={"csrf_token": csrf, "text": "x" * (100 * 1024)},
        )
        assert r.status_code == 413


def test_every_file_upload_route_has_the_upload_cap(db: Database) -> None:
    import re

    from safetylens.human import bodylimit

    app = create_app(db)
    limit = bodylimit.BodySizeLimit(app, max_body=1, max_upload_body=2)
    # A route takes files exactly when its body is multipart.
    upload_paths = [
        path
        for path, ops in app.openapi()["paths"].items()
        if any("multipart/form-data" in op.get("requestBody", {}).get("content", {}) for op in ops.values())
    ]
    assert len(upload_paths) >= 4
    for path in upload_paths:
        assert limit.limit_for(re.sub(r"\{[^}]+\}", "7", path)) == 2, path
    assert limit.limit_for("/api/login") == 1 and limit.limit_for("/api/assignments/7/rating") == 1
    assert limit.limit_for("/admin/studies/7/import/extra") == 1


def test_upload_cap_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from safetylens.errors import ConfigError
    from safetylens.human import bodylimit

    monkeypatch.setenv(bodylimit.ENV_MAX_UPLOAD_MB, "300")
    assert bodylimit.max_upload_from_env() == 300 * MIB
    monkeypatch.setenv(bodylimit.ENV_MAX_UPLOAD_MB, "lots")
    with pytest.raises(ConfigError, match=bodylimit.ENV_MAX_UPLOAD_MB):
        bodylimit.max_upload_from_env()
    monkeypatch.delenv(bodylimit.ENV_MAX_UPLOAD_MB)
    assert bodylimit.max_upload_from_env() is None


def test_an_endless_stream_is_read_no_further_than_the_cap(db: Database) -> None:
    import asyncio

    from starlette.types import Message

    app = create_app(db)
    chunk = b"a" * (64 * 1024)
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += len(chunk)
        # Ends after 8 MiB, so that an app reading without a cap finishes too (and fails below).
        return {"type": "http.request", "body": chunk, "more_body": pulled < 8 * MIB}

    async def send(message: Message) -> None:
        sent.append(message)

    for path, ctype in (
        ("/api/login", b"application/json"),
        ("/api/assignments/1/rating", b"application/json"),
        ("/login", b"application/x-www-form-urlencoded"),
    ):
        pulled, sent = 0, []
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"t"), (b"content-type", ctype), (b"transfer-encoding", b"chunked")],
            "client": ("192.0.2.1", 1234),
            "server": ("t", 80),
        }
        asyncio.run(app(scope, receive, send))
        assert pulled <= MIB + len(chunk), path
        assert sent[0]["status"] == 413, path
