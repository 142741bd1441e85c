"""The two rating endpoints of the JSON API as a bare ASGI layer in front of FastAPI's router.

A rating session is two requests per item at most (``POST /api/assignments/{id}/rating?next=true``,
or ``POST /api/studies/{id}/next`` then the rating). Measured under load, FastAPI's routing,
dependency and validation machinery cost about as much CPU per rating as the SQLite transaction
itself. This layer answers those two requests directly: it reads the body, validates it with the
same pydantic model, and calls the same endpoint functions (:func:`safetylens.human.api.rate_response`,
:func:`safetylens.human.api.reserve_next_response`) with the same error mapping
(:func:`safetylens.human.api.error_response`). Anything it does not recognise
exactly (another content type, a body that fails validation, an odd ``next`` value, a large
body) is handed to FastAPI unchanged, body included, so error messages stay FastAPI's.

It sits inside :class:`safetylens.human.app.SecurityHeaders`, so its responses carry the same
headers as every other response.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import HTTPException
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safetylens.human import api
from safetylens.human.assignment import AssignmentError

_RATE = re.compile(r"/api/assignments/([0-9]{1,18})/rating")
_NEXT = re.compile(r"/api/studies/([0-9]{1,18})/next")
# Larger bodies (a rating is ~50 bytes; comments are capped far below this) go to FastAPI.
MAX_FAST_BODY = 64 * 1024
_BOOL = {"true": True, "1": True, "false": False, "0": False}


class _Fallback(Exception):
    """The request is not the plain case: let FastAPI handle it."""


class RatingFastPath:
    """ASGI middleware answering the rating endpoints without FastAPI's routing (see the module doc).

    Args:
        app: The rest of the application.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a rating request, or pass the request on."""
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        rate = _RATE.fullmatch(path)
        nxt = None if rate else _NEXT.fullmatch(path)
        if rate is None and nxt is None:
            await self.app(scope, receive, send)
            return
        body, state = await _read_body(receive)
        if state != "complete":
            await self.app(scope, _replay(body, state, receive), send)
            return
        try:
            response = await self._answer(scope, body, rate, nxt)
        except _Fallback:
            await self.app(scope, _replay(body, state, receive), send)
            return
        await response(scope, receive, send)

    async def _answer(
        self, scope: Scope, body: bytes, rate: re.Match[str] | None, nxt: re.Match[str] | None
    ) -> Response:
        request = Request(scope)
        try:
            if rate is not None:
                if not request.headers.get("content-type", "").startswith("application/json"):
                    raise _Fallback
                then_next = _next_flag(scope.get("query_string", b""))
                try:
                    parsed = api.RatingBody.model_validate_json(body)
                except ValidationError as exc:
                    raise _Fallback from exc
                aid = int(rate.group(1))
                work: Callable[[], Response] = lambda: api.rate_response(request, aid, parsed, then_next)  # noqa: E731
            else:
                assert nxt is not None
                study_id = int(nxt.group(1))
                work = lambda: api.reserve_next_response(request, study_id)  # noqa: E731
            return await api.run_hot(request, work)
        except (HTTPException, AssignmentError) as exc:
            return api.error_response(exc)


def _next_flag(query_string: bytes) -> bool:
    """The ``next`` query flag; anything but a plain true/false/1/0 goes to FastAPI."""
    if not query_string:
        return False
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "next" or pairs[0][1].lower() not in _BOOL:
        raise _Fallback
    return _BOOL[pairs[0][1].lower()]


async def _read_body(receive: Receive) -> tuple[bytes, str]:
    """The request body and how reading ended: ``complete``, ``more`` (over the limit) or ``disconnect``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), "disconnect"
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), "complete"
        if size > MAX_FAST_BODY:
            return b"".join(chunks), "more"


def _replay(body: bytes, state: str, receive: Receive) -> Receive:
    """A ``receive`` that first returns what was already read, then the rest of the stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if state == "disconnect":
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": state == "more"}
        return await receive()

    return replay
