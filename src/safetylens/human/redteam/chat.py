"""Live chat: the shared pool of model backends and one chat turn (the model's reply to a message)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from safetylens.errors import ConfigError
from safetylens.human.db import Database, utcnow
from safetylens.human.models import RedTeamDialogue, RedTeamTurn
from safetylens.human.redteam.base import DEFAULT_DECODING, MAX_MESSAGE, MAX_TURNS, RedTeamError
from safetylens.human.redteam.campaigns import open_campaign
from safetylens.human.redteam.dialogues import load_dialogue, messages_of, turns_of

if TYPE_CHECKING:
    from safetylens.spec import ModelSpec


def _model_spec(spec: dict[str, Any]) -> ModelSpec:
    """``spec`` as a :class:`~safetylens.spec.ModelSpec`.

    Raises:
        ConfigError: A field is missing or invalid; callers report it like any other bad setting.
    """
    from pydantic import ValidationError

    from safetylens.spec import ModelSpec

    try:
        return ModelSpec(**spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"invalid model settings: {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc


class BackendPool:
    """Model backends of live chats, loaded on first use and shared by every request.

    Generation on one backend is serialised by a lock (in-process models are not safe to call
    from several threads at once); callers run :meth:`generate` in a worker thread so the web
    server's event loop keeps serving other requests meanwhile.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._backends: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}

    @staticmethod
    def key(spec: dict[str, Any]) -> str:
        """Canonical key of a model spec.

        Raises:
            ConfigError: The spec is not a valid model spec (a replay form names an unknown backend).
        """
        return json.dumps(_model_spec(spec).model_dump(mode="json"), sort_keys=True)

    def register(self, spec: dict[str, Any], backend: Any) -> None:
        """Use an already loaded backend for ``spec`` (tests, or a server that preloads models)."""
        k = self.key(spec)
        with self._guard:
            self._backends[k] = backend
            self._locks.setdefault(k, threading.Lock())

    def _lock_for(self, k: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(k, threading.Lock())

    @contextmanager
    def using(self, spec: dict[str, Any]) -> Iterator[Any]:
        """The backend of ``spec`` (loaded on first use), held exclusively for the block.

        Raises:
            ConfigError: The spec is not a valid model spec.
            ModelError: The model cannot be loaded.
        """
        from safetylens.models import load_backend

        k = self.key(spec)
        with self._lock_for(k):
            backend = self._backends.get(k)
            if backend is None:
                backend = load_backend(_model_spec(spec))
                with self._guard:
                    self._backends[k] = backend
            yield backend

    def generate(self, spec: dict[str, Any], messages: Sequence[dict[str, str]], decoding: dict[str, Any]) -> Any:
        """One reply to ``messages``: a :class:`~safetylens.models.base.GenerationResult`.

        Raises:
            ModelError: The model cannot be loaded or fails.
        """
        from safetylens.models.base import Decoding, GenerationRequest, Message

        request = GenerationRequest(
            prompt=tuple(Message(role=m["role"], content=m["content"]) for m in messages),  # type: ignore[arg-type]
            decoding=Decoding(**decoding),
        )
        with self.using(spec) as backend:
            return backend.generate([request])[0]

    def identity(self, spec: dict[str, Any]) -> dict[str, Any] | None:
        """The loaded backend's identity (None before first use)."""
        backend = self._backends.get(self.key(spec))
        if backend is None:
            return None
        ident: dict[str, Any] = backend.identity.model_dump(mode="json", exclude={"chat_template"})
        return ident

    def close(self) -> None:
        """Close every backend this pool loaded."""
        with self._guard:
            backends = list(self._backends.values())
            self._backends.clear()
        for b in backends:
            b.close()


def chat(db: Database, pool: BackendPool, dialogue_id: int, user_id: int, text: str) -> RedTeamTurn:
    """Send a red teamer's message and store it with the model's reply (call from a worker thread).

    Both turns are stored together after the reply arrives, so a failed generation leaves the
    dialogue as it was; the user turn keeps the time the message arrived. Two messages sent at
    once (a double click) cannot both land: the second finds the dialogue changed.

    Raises:
        RedTeamError: Empty or overlong message, closed campaign, submitted dialogue, someone
            else's dialogue, or the dialogue changed meanwhile.
        ModelError: The model failed (nothing is stored).
    """
    text = text.strip("\r\n")
    if not text.strip():
        raise RedTeamError("write a message first")
    if len(text) > MAX_MESSAGE:
        raise RedTeamError(f"messages are at most {MAX_MESSAGE} characters")
    received = utcnow()
    with db.read() as s:
        d = load_dialogue(s, dialogue_id, user_id)
        open_campaign(s, d.campaign_id)
        if d.status != "open" or d.source != "live":
            raise RedTeamError("this dialogue is closed; start a new one")
        history = turns_of(s, dialogue_id)
        spec = dict(d.meta.get("target") or {"name": "builtin"})
        decoding = dict(d.meta.get("decoding") or DEFAULT_DECODING)
        system_prompt = str(d.meta.get("system_prompt") or "")
    if len(history) + 2 > MAX_TURNS:
        raise RedTeamError(f"a dialogue has at most {MAX_TURNS} turns; start a new one")
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + messages_of(history)
    messages.append({"role": "user", "content": text})
    t0 = time.perf_counter()
    result = pool.generate(spec, messages, decoding)
    latency_ms = int((time.perf_counter() - t0) * 1000)
    replied = utcnow()
    idx = len(history)
    reply = RedTeamTurn(
        dialogue_id=dialogue_id,
        idx=idx + 1,
        role="assistant",
        content=result.text,
        created_at=replied,
        meta={
            "finish_reason": result.finish_reason,
            "completion_tokens": result.completion_tokens,
            "latency_ms": latency_ms,
            "decoding": decoding,
        },
    )
    try:
        with db.write() as s:
            n_now = s.scalar(
                select(func.count()).select_from(RedTeamTurn).where(RedTeamTurn.dialogue_id == dialogue_id)
            )
            d2 = s.get(RedTeamDialogue, dialogue_id)
            if n_now != idx or d2 is None or d2.status != "open":
                raise RedTeamError("the dialogue changed while the model was answering; reload the page")
            s.add(
                RedTeamTurn(dialogue_id=dialogue_id, idx=idx, role="user", content=text, created_at=received, meta={})
            )
            s.add(reply)
            d2.last_activity_at = replied
            if "identity" not in d2.meta:
                ident = pool.identity(spec)
                if ident is not None:
                    d2.meta = {**d2.meta, "identity": ident}
    except IntegrityError as exc:
        raise RedTeamError("the dialogue changed while the model was answering; reload the page") from exc
    return reply
