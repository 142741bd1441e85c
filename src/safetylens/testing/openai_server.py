"""An OpenAI-compatible HTTP server in front of a :class:`~safetylens.models.base.ModelBackend`.

Endpoints: ``POST /v1/completions`` (``prompt``, ``max_tokens``, ``temperature``, ``top_p``,
``stop``, ``seed``, ``echo``, ``logprobs`` in OpenAI's legacy format with ``tokens``,
``token_logprobs``, ``top_logprobs`` and ``text_offset``, and vLLM's ``prompt_logprobs``),
``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /version``.

Generation is the backend's own (chat templates, stop sequences, seeded sampling: the request's
``seed`` becomes the decoding seed). Log-probabilities need a
:class:`~safetylens.testing.token_scorers.TokenScorer`; without one the server refuses them.

For tests, :class:`Faults` makes the server answer 429 or 500 to the first N model requests (with
an optional ``Retry-After``) or delay them, and :class:`ServerStats` records requests, statuses and
the largest number of model requests in flight at once. :class:`OpenAIServer` starts uvicorn on
127.0.0.1 with an ephemeral port in a thread.

:class:`InstantBackend` answers at once with a fixed text (and is its own token scorer), so that
benchmarks and tests measure the HTTP client and server rather than a model.

Serve a local model: ``python -m safetylens.testing.openai_server --model builtin --port 8000``
(``--model instant`` serves :class:`InstantBackend`; ``--port 0`` picks a free port, printed on
the first line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from safetylens.errors import BackendUnavailable

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
except ImportError as exc:  # the "server" extra
    raise BackendUnavailable(
        "the OpenAI-compatible test server needs fastapi and uvicorn", hint="pip install 'safetylens[server]'"
    ) from exc
from safetylens.models.base import (
    Decoding,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
    ModelBackend,
    ModelIdentity,
    Prompt,
)
from safetylens.testing.token_scorers import TokenScore, TokenScorer

MAX_LOGPROBS = 20
INSTANT_MODEL = "instant"
_BYTE_VOCAB = 257  # 256 bytes and an end-of-sequence token


class InstantBackend:
    """A model that answers at once: every completion is ``reply``, every byte is equally likely.

    It is both a :class:`~safetylens.models.base.ModelBackend` and a
    :class:`~safetylens.testing.token_scorers.TokenScorer` (byte-level tokens, a uniform
    distribution over 257 tokens), so a server in front of it answers generation and log-likelihood
    requests with no model cost: what remains is the cost of HTTP, JSON and the server itself.

    Args:
        reply: The text of every completion (cut to ``max_new_tokens`` bytes).
        name: The model name in the identity (and the served name by default).
    """

    def __init__(self, reply: str = "OK", name: str = INSTANT_MODEL) -> None:
        self.reply = reply
        self.name = name

    @property
    def identity(self) -> ModelIdentity:
        """Backend ``instant``, the reply's text as the only setting."""
        return ModelIdentity(backend="instant", backend_version="1", model=self.name, extra={"reply": self.reply})

    @property
    def batch_size(self) -> int:
        """Any number: answering costs nothing."""
        return 64

    @property
    def is_chat(self) -> bool:
        """True: chats are rendered with a minimal template."""
        return True

    @property
    def supports_loglikelihood(self) -> bool:
        """True: every byte has probability 1/257."""
        return True

    def request_length(self, request: GenerationRequest | LoglikelihoodRequest) -> int:
        """Bytes of the prompt (or context plus continuation)."""
        if isinstance(request, LoglikelihoodRequest):
            return len((request.context + request.continuation).encode())
        return len(self.render(request.prompt).encode())

    def render(self, prompt: Prompt) -> str:
        """Raw text as is; a chat as ``<|role|>`` blocks followed by ``<|assistant|>``."""
        if isinstance(prompt, str):
            return prompt
        return "".join(f"<|{m.role}|>\n{m.content}\n" for m in prompt) + "<|assistant|>\n"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """``reply`` for every request, cut at stop sequences and at ``max_new_tokens`` bytes."""
        out = []
        reply = self.reply.encode()
        for r in requests:
            d = r.decoding
            data = reply[: d.max_new_tokens]
            text = data.decode(errors="ignore")
            finish: Literal["stop", "eos", "length"] = "eos" if len(data) == len(reply) else "length"
            cuts = [i for s in d.stop if s and (i := text.find(s)) >= 0]
            if cuts:
                text, finish = text[: min(cuts)], "stop"
            prompt_tokens = len(self.render(r.prompt).encode())
            out.append(GenerationResult(text, finish, prompt_tokens, len(text.encode()), self.render(r.prompt)))
        return out

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """``-ln(257)`` per continuation byte (after moving the context's trailing spaces over)."""
        out = []
        for r in requests:
            context = r.context.rstrip()
            n = len((r.context + r.continuation).encode()) - len(context.encode())
            out.append(LoglikelihoodResult(-n * math.log(_BYTE_VOCAB), True, n))
        return out

    def close(self) -> None:
        """Nothing to release."""

    # TokenScorer
    def prefix_ids(self) -> list[int]:
        """No BOS token."""
        return []

    def tokenize(self, text: str) -> list[int]:
        """The UTF-8 bytes."""
        return list(text.encode())

    def token_text(self, token_id: int) -> str:
        """The byte as text (U+FFFD for a byte that is part of a multi-byte character)."""
        return "" if token_id >= 256 else bytes([token_id]).decode(errors="replace")

    def score(self, ids: Sequence[int], top_k: int) -> list[TokenScore]:
        """Every position: the uniform log-probability, rank 1 (all tokens tie), top = the token itself."""
        value = -math.log(_BYTE_VOCAB)
        return [TokenScore(value, 1, ((t, value),)) for t in ids[1:]]


@dataclass
class Faults:
    """Faults to inject into model requests (``/v1/completions`` and ``/v1/chat/completions``).

    Attributes:
        fail_first: Answer this many model requests (counted from server start or the last
            :meth:`OpenAIServer.reset`) with ``fail_status``.
        fail_status: The status of injected failures (429, 500, 503, ...).
        retry_after: ``Retry-After`` header value sent with injected failures, if any.
        delay_first: Delay this many model requests (after the failures) by ``delay_s``.
        delay_s: The delay of ``delay_first`` requests.
        delay_all_s: Delay every model request by this much (to let concurrency build up).
    """

    fail_first: int = 0
    fail_status: int = 500
    retry_after: str | None = None
    delay_first: int = 0
    delay_s: float = 0.0
    delay_all_s: float = 0.0


@dataclass
class ServerStats:
    """What the server saw."""

    model_requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    paths: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise _HTTPError(400, message)


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    _require(isinstance(value, int | float) and not isinstance(value, bool), f"{name} must be a number")
    return float(value)


def _stop_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    _require(isinstance(value, list) and all(isinstance(s, str) for s in value), "stop must be a string or list")
    return tuple(value)


class OpenAIServer:
    """Serve a backend over the OpenAI API.

    Args:
        backend: The model backend that generates.
        scorer: Token-level access for log-probabilities; None refuses ``logprobs``/``echo``.
        model_name: The served model name (default: the backend identity's model).
        api_key: When set, requests must carry ``Authorization: Bearer <api_key>``.
        echo: ``ok``: echo with logprobs works; ``reject``: 400 for ``echo``; ``ignore``: ``echo``
            is silently ignored (as some servers do).
        max_tokens_zero: ``ok``: ``max_tokens=0`` generates nothing; ``reject``: 400 (as some servers
            answer); ``unlimited``: it means the default length (as llama-cpp-python reads it).
        prompt_logprobs: Honour vLLM's ``prompt_logprobs`` (else the field is ignored).
        max_model_len: Prompt plus ``max_tokens`` above this many tokens is a 400.
        version: Reported by ``/version``.
        faults: Fault injection; may be replaced while the server runs.
        blocking: Run each request's model work in a worker thread, so that a slow model does not
            stall the event loop (and injected delays overlap). False runs it on the event loop,
            which is faster for a backend that answers at once (:class:`InstantBackend`).
        record_bodies: Keep every model request's JSON body in ``stats.bodies`` (tests read them;
            a long-running server should not grow without bound).
        keep_alive_s: Seconds an idle client connection is kept open.
    """

    def __init__(
        self,
        backend: ModelBackend,
        scorer: TokenScorer | None = None,
        *,
        model_name: str | None = None,
        api_key: str | None = None,
        echo: Literal["ok", "reject", "ignore"] = "ok",
        max_tokens_zero: Literal["ok", "reject", "unlimited"] = "ok",
        prompt_logprobs: bool = True,
        max_model_len: int = 8192,
        version: str | None = None,
        faults: Faults | None = None,
        blocking: bool = True,
        record_bodies: bool = True,
        keep_alive_s: int = 5,
    ) -> None:
        self.backend = backend
        self.scorer = scorer
        self.model_name = model_name or backend.identity.model
        self.api_key = api_key
        self.echo = echo
        self.max_tokens_zero = max_tokens_zero
        self.prompt_logprobs = prompt_logprobs
        self.max_model_len = max_model_len
        self.version = version or _own_version()
        self.faults = faults or Faults()
        self.blocking = blocking
        self.record_bodies = record_bodies
        self.keep_alive_s = keep_alive_s
        self.stats = ServerStats()
        self._lock = threading.Lock()
        # Reentrant: a handler holds it throughout (tokenizers are not safe across threads either).
        self._model_lock = threading.RLock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.base_url = ""
        self.app = FastAPI(title="safetylens OpenAI-compatible test server")
        self._routes()

    # ------------------------------------------------------------------------------------ running

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving in a background thread; return the base URL (``http://host:port/v1``)."""
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self._socket = sock
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=self.keep_alive_s
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="safetylens-openai-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        self.base_url = f"http://{host}:{sock.getsockname()[1]}/v1"
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def reset(self, faults: Faults | None = None) -> None:
        """Forget the statistics (and the injected-fault counts) and set new faults."""
        with self._lock:
            self.stats = ServerStats()
            self.faults = faults or Faults()

    def __enter__(self) -> OpenAIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------- routes

    def _routes(self) -> None:
        app = self.app

        def error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
            return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)

        def authorised(request: Request) -> bool:
            return self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"

        @app.get("/version")
        async def version() -> dict[str, str]:
            return {"version": self.version, "server": "safetylens"}

        @app.get("/v1/models", response_model=None)
        async def models(request: Request) -> JSONResponse | dict[str, Any]:
            if not authorised(request):
                return error(401, "Incorrect API key provided.", "authentication_error")
            return {
                "object": "list",
                "data": [{"id": self.model_name, "object": "model", "created": 0, "owned_by": "safetylens"}],
            }

        async def model_call(request: Request, path: str) -> JSONResponse:
            with self._lock:
                self.stats.paths[path] += 1
                if not authorised(request):
                    self.stats.statuses[401] += 1
                    return error(401, "Incorrect API key provided.", "authentication_error")
                n = self.stats.model_requests
                self.stats.model_requests += 1
                self.stats.in_flight += 1
                self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
                faults = self.faults
            try:
                if n < faults.fail_first:
                    response = error(faults.fail_status, f"injected failure {n + 1} of {faults.fail_first}", "server")
                    if faults.retry_after is not None:
                        response.headers["Retry-After"] = faults.retry_after
                    return response
                if n < faults.fail_first + faults.delay_first:
                    await asyncio.sleep(faults.delay_s)
                if faults.delay_all_s:
                    await asyncio.sleep(faults.delay_all_s)
                try:
                    body = await request.json()
                except ValueError:
                    return error(400, "the body is not valid JSON")
                if not isinstance(body, dict):
                    return error(400, "the body must be a JSON object")
                if self.record_bodies:
                    with self._lock:
                        self.stats.bodies.append(body)
                handler = self._completions if path == "/v1/completions" else self._chat
                try:
                    if self.blocking:
                        result = await asyncio.to_thread(self._locked, handler, body)
                    else:
                        result = self._locked(handler, body)
                except _HTTPError as exc:
                    return error(exc.status, exc.message, exc.kind)
                return JSONResponse(result)
            finally:
                with self._lock:
                    self.stats.in_flight -= 1

        @app.post("/v1/completions")
        async def completions(request: Request) -> JSONResponse:
            response = await model_call(request, "/v1/completions")
            with self._lock:
                self.stats.statuses[response.status_code] += 1
            return response

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            response = await model_call(request, "/v1/chat/completions")
            with self._lock:
                self.stats.statuses[response.status_code] += 1
            return response

    # ---------------------------------------------------------------------------------- handlers

    def _locked(self, handler: Any, body: dict[str, Any]) -> dict[str, Any]:
        with self._model_lock:
            result: dict[str, Any] = handler(body)
            return result

    def _check_model(self, body: dict[str, Any]) -> None:
        if body.get("model") != self.model_name:
            raise _HTTPError(404, f"The model `{body.get('model')}` does not exist.", "not_found_error")

    def _decoding(self, body: dict[str, Any], max_tokens: int) -> Decoding:
        temperature = _number(body, "temperature", 1.0)
        top_p = _number(body, "top_p", 1.0)
        seed = body.get("seed")
        _require(seed is None or (isinstance(seed, int) and not isinstance(seed, bool)), "seed must be an integer")
        _require(0.0 <= temperature <= 2.0, "temperature must be between 0 and 2")
        _require(0.0 < top_p <= 1.0, "top_p must be in (0, 1]")
        _require(body.get("n", 1) == 1, "only n=1 is supported")
        _require(not body.get("stream"), "streaming is not supported")
        return Decoding(
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max(1, max_tokens),
            stop=_stop_list(body.get("stop")),
            seed=seed or 0,
        )

    def _max_tokens(self, body: dict[str, Any], default: int) -> int:
        value = body.get("max_tokens", default)
        if value is None:
            value = default
        _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, "max_tokens must be >= 0")
        if value == 0 and self.max_tokens_zero == "reject":
            raise _HTTPError(400, "max_tokens must be at least 1, got 0.")
        if value == 0 and self.max_tokens_zero == "unlimited":
            value = default
        _require(value <= self.max_model_len, f"max_tokens must be at most {self.max_model_len}")
        return int(value)

    def _generate(self, prompt: str | tuple[Message, ...], decoding: Decoding) -> GenerationResult:
        with self._model_lock:
            return self.backend.generate([GenerationRequest(prompt, decoding)])[0]

    def _completions(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_model(body)
        raw_prompt = body.get("prompt")
        prompts: list[str] = [raw_prompt] if isinstance(raw_prompt, str) else raw_prompt or []
        _require(
            isinstance(prompts, list) and bool(prompts) and all(isinstance(p, str) for p in prompts),
            "prompt must be a string or a list of strings (token ids are not supported)",
        )
        max_tokens = self._max_tokens(body, 16)
        decoding = self._decoding(body, max_tokens)
        echo = bool(body.get("echo", False))
        logprobs = body.get("logprobs")
        _require(
            logprobs is None or (isinstance(logprobs, int) and 0 <= logprobs <= MAX_LOGPROBS),
            f"logprobs must be an integer between 0 and {MAX_LOGPROBS}",
        )
        if echo and self.echo == "reject":
            raise _HTTPError(400, "echo is not supported by this server")
        if echo and self.echo == "ignore":
            echo = False
        prompt_logprobs = body.get("prompt_logprobs") if self.prompt_logprobs else None
        _require(
            prompt_logprobs is None or (isinstance(prompt_logprobs, int) and 0 <= prompt_logprobs <= MAX_LOGPROBS),
            f"prompt_logprobs must be an integer between 0 and {MAX_LOGPROBS}",
        )
        needs_scores = logprobs is not None or prompt_logprobs is not None
        if needs_scores and self.scorer is None:
            raise _HTTPError(400, "this server cannot return log-probabilities")
        choices = []
        prompt_total = completion_total = 0
        for index, prompt in enumerate(prompts):
            prompt_ids = self.scorer.prefix_ids() + self.scorer.tokenize(prompt) if self.scorer else None
            if prompt_ids is not None and len(prompt_ids) + max_tokens > self.max_model_len:
                raise _HTTPError(400, f"prompt plus max_tokens exceeds {self.max_model_len} tokens")
            if max_tokens > 0:
                result = self._generate(prompt, decoding)
                text, finish = result.text, _finish(result)
            else:
                result, text, finish = None, "", "length"
            choice: dict[str, Any] = {"index": index, "text": prompt + text if echo else text, "finish_reason": finish}
            if result is not None and result.finish_reason == "eos":
                choice["stop_reason"] = None
            gen_ids: list[int] = []
            if self.scorer is not None and prompt_ids is not None:
                gen_ids = self.scorer.tokenize(text) if text else []
                if needs_scores:
                    assert self.scorer is not None
                    with self._model_lock:
                        scores = self.scorer.score(prompt_ids + gen_ids, max(logprobs or 0, prompt_logprobs or 0, 1))
                    if logprobs is not None:
                        first = 0 if echo else len(prompt_ids)
                        choice["logprobs"] = self._legacy_logprobs(prompt_ids + gen_ids, scores, first, logprobs)
                    if prompt_logprobs is not None:
                        choice["prompt_logprobs"] = self._vllm_prompt_logprobs(prompt_ids, scores, prompt_logprobs)
                prompt_total += len(prompt_ids)
            completion_total += (
                result.completion_tokens
                if result is not None and result.completion_tokens is not None
                else len(gen_ids)
            )
            choices.append(choice)
        usage: dict[str, int] = {"completion_tokens": completion_total}
        if self.scorer is not None:
            usage |= {"prompt_tokens": prompt_total, "total_tokens": prompt_total + completion_total}
        return {
            "id": f"cmpl-{time.monotonic_ns()}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": choices,
            "usage": usage,
        }

    def _legacy_logprobs(self, ids: Sequence[int], scores: Sequence[Any], first: int, k: int) -> dict[str, list[Any]]:
        """OpenAI's legacy format for tokens ``first ..`` of ``ids`` (position 0 has no score)."""
        assert self.scorer is not None
        tokens: list[str] = []
        values: list[float | None] = []
        tops: list[dict[str, float] | None] = []
        offsets: list[int] = []
        offset = 0
        for i, token_id in enumerate(ids):
            text = self.scorer.token_text(token_id)
            if i >= first:
                tokens.append(text)
                offsets.append(offset)
                if i == 0:
                    values.append(None)
                    tops.append(None)
                else:
                    score = scores[i - 1]
                    values.append(score.logprob)
                    tops.append({self.scorer.token_text(t): v for t, v in score.top[:k]} if k > 0 else None)
            offset += len(text)
        return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}

    def _vllm_prompt_logprobs(
        self, prompt_ids: Sequence[int], scores: Sequence[Any], k: int
    ) -> list[dict[str, dict[str, Any]] | None]:
        """Prompt log-probabilities in vLLM's format: the prompt's own token first, then the top ``k``."""
        assert self.scorer is not None
        out: list[dict[str, dict[str, Any]] | None] = [None]
        for i in range(1, len(prompt_ids)):
            score = scores[i - 1]
            entry = {
                str(prompt_ids[i]): {
                    "logprob": score.logprob,
                    "rank": score.rank,
                    "decoded_token": self.scorer.token_text(prompt_ids[i]),
                }
            }
            for rank, (token_id, value) in enumerate(score.top[:k], start=1):
                entry.setdefault(
                    str(token_id),
                    {"logprob": value, "rank": rank, "decoded_token": self.scorer.token_text(token_id)},
                )
            out.append(entry)
        return out

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_model(body)
        raw = body.get("messages")
        if not isinstance(raw, list) or not raw:
            raise _HTTPError(400, "messages must be a non-empty list")
        messages: list[Message] = []
        for m in raw:
            _require(
                isinstance(m, dict)
                and m.get("role") in ("system", "user", "assistant")
                and isinstance(m.get("content"), str),
                "each message needs a role (system, user, assistant) and string content",
            )
            messages.append(Message(m["role"], m["content"]))
        _require(not body.get("logprobs"), "logprobs are not supported on chat completions by this server")
        max_tokens = self._max_tokens(body, 256)
        _require(max_tokens > 0, "max_tokens must be at least 1")
        result = self._generate(tuple(messages), self._decoding(body, max_tokens))
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": result.text},
            "finish_reason": _finish(result),
        }
        if result.finish_reason == "eos":
            choice["stop_reason"] = None
        usage = {
            "prompt_tokens": result.prompt_tokens or 0,
            "completion_tokens": result.completion_tokens or 0,
            "total_tokens": (result.prompt_tokens or 0) + (result.completion_tokens or 0),
        }
        return {
            "id": f"chatcmpl-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [choice],
            "usage": usage,
        }


def _finish(result: GenerationResult) -> str:
    return "length" if result.finish_reason == "length" else "stop"


def _own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("safetylens")
    except PackageNotFoundError:
        return "0+unknown"


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a model over the OpenAI API until interrupted."""
    parser = argparse.ArgumentParser(description="Serve a model over an OpenAI-compatible API (for local use)")
    parser.add_argument(
        "--model",
        default="builtin",
        help=f"builtin, a local directory, a GGUF file, a hub id, or {INSTANT_MODEL!r} (answers at once)",
    )
    parser.add_argument("--backend", choices=["hf", "llamacpp"], default=None)
    parser.add_argument("--served-name", default=None, help="model name clients use (default: --model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-logprobs", action="store_true", help="refuse echo/logprobs requests")
    parser.add_argument("--reply", default="OK", help=f"the answer of --model {INSTANT_MODEL}")
    args = parser.parse_args(argv)

    scorer: TokenScorer | None = None
    backend: ModelBackend
    if args.model == INSTANT_MODEL:
        instant = InstantBackend(args.reply)
        backend, scorer = instant, None if args.no_logprobs else instant
        # Nothing to wait for: answer on the event loop and keep no request bodies.
        server = OpenAIServer(
            backend, scorer, model_name=args.served_name or args.model, blocking=False, record_bodies=False
        )
    else:
        from safetylens.models import load_backend
        from safetylens.spec import ModelSpec
        from safetylens.testing.token_scorers import TransformersScorer

        backend = load_backend(ModelSpec(name=args.model, backend=args.backend, threads=args.threads))
        if not args.no_logprobs:
            scorer = TransformersScorer.from_backend(backend)
            if scorer is None:
                scorer = _scorer_from_backend(backend)
        server = OpenAIServer(backend, scorer, model_name=args.served_name or args.model, record_bodies=False)
    url = server.start(args.host, args.port)
    print(f"serving {args.model!r} at {url} (logprobs: {'yes' if scorer else 'no'}); Ctrl-C stops", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        backend.close()


def _scorer_from_backend(backend: Any) -> TokenScorer | None:
    """A scorer the backend offers itself (``token_scorer()``), if any."""
    factory = getattr(backend, "token_scorer", None)
    if callable(factory):
        with contextlib.suppress(NotImplementedError):
            scorer = factory()
            return scorer if isinstance(scorer, TokenScorer) else None
    return None


if __name__ == "__main__":
    main()
