"""Request-body size caps, enforced before anything parses a body.

Without a cap, an anonymous client could make the server read and parse a body of any size
(a 50 MB JSON login is parsed whole). :class:`BodySizeLimit` sits in front of the whole app,
the rating fast path included, and gives each request a cap chosen by its route:

- the upload routes (:data:`UPLOAD_ROUTES`: study, gold-check, quiz and red-team imports, and the
  pasted red-team transcript) get :data:`DEFAULT_MAX_UPLOAD_BODY`, configurable
  (``create_app(max_upload_bytes=...)`` or ``$SAFETYLENS_HUMAN_MAX_UPLOAD_MB``); each import
  route still applies its own limit to the file itself;
- every other route gets :data:`DEFAULT_MAX_BODY` (1 MiB; ``create_app(max_body_bytes=...)``).

A request whose ``Content-Length`` exceeds its cap is answered 413 at once, its body unread.
A body without one (``Transfer-Encoding: chunked``) is counted as it streams, and reading stops
with a 413 as soon as it passes the cap, so at most the cap plus one chunk is ever held.
API routes get ``{"error": ...}``, pages a plain-text message.
"""

from __future__ import annotations

import json
import os
import re

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safetylens.errors import ConfigError

MIB = 2**20
DEFAULT_MAX_BODY = MIB
# The largest file an import accepts (a study's items, 200 MiB) plus room for the other form
# fields and the multipart framing.
DEFAULT_MAX_UPLOAD_BODY = 201 * MIB
ENV_MAX_UPLOAD_MB = "SAFETYLENS_HUMAN_MAX_UPLOAD_MB"

UPLOAD_ROUTES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"/admin/studies/[^/]+/import",
        r"/admin/studies/[^/]+/gold/import",
        r"/admin/quizzes/import",
        r"/admin/redteam/[^/]+/import",
        # A pasted transcript of up to 2 MB, which form encoding can triple.
        r"/redteam/[^/]+/record",
    )
)


def _size(n: int) -> str:
    return f"{n / MIB:g} MiB" if n >= MIB else f"{n / 1024:g} KiB"


class BodyTooLarge(HTTPException):
    """A request body passed its cap (status 413).

    Raised from ``receive``; FastAPI's body parsing passes HTTP exceptions on, so the app's own
    error handlers answer it, and :class:`BodySizeLimit` answers any that reach it.
    """

    def __init__(self, limit: int, upload: bool) -> None:
        hint = "; import larger files with the CLI" if upload else ""
        super().__init__(status_code=413, detail=f"request body larger than {_size(limit)}{hint}")


class BodySizeLimit:
    """ASGI middleware capping request bodies per route (see the module docstring).

    Args:
        app: The application.
        max_body: Cap of every route but the uploads, in bytes.
        max_upload_body: Cap of the upload routes (:data:`UPLOAD_ROUTES`), in bytes.

    Raises:
        ConfigError: A cap below 1 byte.
    """

    def __init__(
        self, app: ASGIApp, *, max_body: int = DEFAULT_MAX_BODY, max_upload_body: int = DEFAULT_MAX_UPLOAD_BODY
    ) -> None:
        if max_body < 1 or max_upload_body < 1:
            raise ConfigError(f"body caps must be at least 1 byte, got {max_body} and {max_upload_body}")
        self.app = app
        self.max_body = max_body
        self.max_upload_body = max_upload_body

    def is_upload(self, path: str) -> bool:
        """Whether ``path`` is an upload route."""
        return any(p.fullmatch(path) for p in UPLOAD_ROUTES)

    def limit_for(self, path: str) -> int:
        """The cap of a request path, in bytes."""
        return self.max_upload_body if self.is_upload(path) else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse or pass on a request, counting its body as the app reads it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        upload = self.is_upload(path)
        limit = self.max_upload_body if upload else self.max_body
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _answer(scope, send, BodyTooLarge(limit, upload))
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            if received > limit:
                raise BodyTooLarge(limit, upload)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, upload)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge as exc:
            # Parts of the app that read bodies outside FastAPI's routing (the rating fast path)
            # let it through; once a response has begun, nothing better than the error is left.
            if started:
                raise
            await _answer(scope, send, exc)


async def _answer(scope: Scope, send: Send, exc: BodyTooLarge) -> None:
    """Send the 413 response; the connection closes, since the rest of the body stays unread."""
    if scope["path"].startswith("/api/"):
        body, ctype = json.dumps({"error": exc.detail}).encode(), b"application/json"
    else:
        body, ctype = f"413 Content Too Large: {exc.detail}\n".encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def max_upload_from_env() -> int | None:
    """The upload cap in bytes from ``$SAFETYLENS_HUMAN_MAX_UPLOAD_MB`` (whole MiB), or None when unset.

    Raises:
        ConfigError: The variable is not a whole number of at least 1.
    """
    text = os.environ.get(ENV_MAX_UPLOAD_MB, "").strip()
    if not text:
        return None
    if not (text.isdigit() and int(text) >= 1):
        raise ConfigError(f"{ENV_MAX_UPLOAD_MB} must be a whole number of MiB, at least 1, got {text!r}")
    return int(text) * MIB
