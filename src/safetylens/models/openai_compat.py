"""Backend for OpenAI-compatible servers: vLLM, llama.cpp's server, Ollama, TGI, OpenAI.

Generation goes to ``/chat/completions`` for chat prompts and ``/completions`` for raw text
(``endpoint="auto"``); ``endpoint="chat"`` sends raw text as one user message, and
``endpoint="completions"`` refuses chat prompts (the server's chat template is not applied there).

Requests are sent with bounded async concurrency (``max_concurrency`` in flight per replica) from
an event loop that runs in a thread of its own, so the synchronous protocol methods work from any
code, including code that already runs an event loop. Model requests to a plain ``http://`` server
go over kept-alive HTTP/1.1 connections framed by ``h11`` (:class:`_Http1Pool`), which costs
a fraction of a general-purpose client's CPU time per request, so the client is not what limits a
fast local server; ``https://`` servers, servers reached through a proxy configured in the
environment (``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) and the start-up probes use ``httpx``.

Several base URLs are replicas of one server: each request goes to the healthy replica with the
fewest requests in flight, and a replica that fails ``failure_threshold`` times in a row is skipped
for ``cooldown_s`` seconds. Timeouts, connection errors, 429 and 5xx answers are retried with
exponential backoff and jitter (honouring ``Retry-After``) up to ``max_retries`` times; any other
4xx is an immediate :class:`ModelError` carrying the status and the server's (escaped, truncated)
message.

Decoding sends ``temperature``, ``top_p`` (1.0 when greedy), ``max_tokens``, ``stop`` and a 31-bit
``seed`` derived from the request. Servers known to add sampling filters of their own
(llama.cpp's and llama-cpp-python's top-k, min-p and repetition penalty; vLLM's defaults from a
model's generation config) get them switched off through their extension fields; for other
servers their defaults apply (recorded in ``identity.info``). llama.cpp applies top-p before the
temperature, unlike transformers, so sampled outputs differ in distribution between the two.

Log-likelihood
--------------
Scores come from the completions endpoint with ``echo=True, logprobs=1`` and ``max_tokens=0``
(``max_tokens=1`` where the server refuses 0, dropping the generated token), or from vLLM's
``prompt_logprobs`` extension; which one a server supports is detected once, and a server that
offers neither gets a clear :class:`ModelError`. The prompt is ``context + continuation`` and, as in
lm-evaluation-harness, the continuation's tokens are those after the context's own tokenisation,
with the context's trailing whitespace moved to the continuation:

- When the echoed token strings spell the prompt (after any leading special tokens such as a BOS)
  and a token starts exactly at the context/continuation boundary, the continuation's tokens are
  the tokens from there on.
- Otherwise (byte-level token pieces that do not decode on their own, or a token that straddles
  the boundary), the context alone is sent once more (once per distinct context) and its token
  count splits the prompt, as lm-evaluation-harness splits it.

Caveat (lm-eval equivalence): the server tokenises the text itself and adds a BOS token or not as
its tokenizer is configured, while lm-evaluation-harness tokenises client-side. Numbers equal
lm-eval's (and this package's ``hf`` backend's) where the server's tokenizer and BOS handling
match, with one exception: where a token straddles the context/continuation boundary, lm-eval
scores the continuation's tokens after the context's *own* tokens, which a text prompt cannot
express, so this backend conditions on the server's tokenisation of the whole text instead (the
token count and the scored positions are the same; the conditioning differs). The trailing-space
move makes that case rare. Results are recorded as backend ``openai`` in every cache key and
manifest.

Servers whose prompt log-probabilities are known to be wrong are refused (``BROKEN_PROMPT_LOGPROBS``:
llama-cpp-python's server shifts them by one position); llama.cpp's own server returns none for the
prompt, which the capability probe detects. An empty context cannot be scored (the first prompt
token has no log-probability over a server API).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import random
import threading
import time
import urllib.request
import zlib
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import h11
import httpx

from safetylens.errors import ConfigError, ModelError
from safetylens.models.base import (
    BackendStats,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
    ModelIdentity,
    Prompt,
)
from safetylens.util import sha256_text

if TYPE_CHECKING:
    from safetylens.spec import ModelSpec

T = TypeVar("T")
Endpoint = Literal["auto", "chat", "completions"]
LoglikelihoodMode = Literal["echo0", "echo1", "prompt_logprobs", "none"]

# Statuses worth retrying: the request may succeed later or on another replica.
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# Statuses that mean "this server cannot do that" when probing log-likelihood support.
UNSUPPORTED_STATUSES = frozenset({400, 404, 405, 422, 501})
MAX_RETRY_AFTER_S = 300.0
# Ends mid-sentence, so that a server reading max_tokens=0 as "no limit" visibly generates something.
PROBE_PROMPT = "The capital of France is Paris. The capital of Italy is"

# Servers that add sampling filters by default (top-k 40, min-p 0.05, repetition penalty 1.1 in
# llama-cpp-python's server; a model's generation_config in vLLM) get them switched off, so that a
# request means what it says: temperature, then top-p, nothing else.
SAMPLING_OVERRIDES: dict[str, dict[str, Any]] = {
    "vllm": {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0},
    "llama.cpp": {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "typical_p": 1.0},
    "llama-cpp-python": {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "typical_p": 1.0},
}

# Servers whose prompt log-probabilities are known to be wrong: never used for log-likelihood.
BROKEN_PROMPT_LOGPROBS = {
    "llama-cpp-python": (
        "llama-cpp-python's server pairs each echoed prompt token with the distribution *after* it"
        " (upstream issue abetlen/llama-cpp-python#1983), so its echo log-probabilities are wrong"
    ),
}

SEED_NOTES = {
    "vllm": "seed sent per request; vLLM honours it",
    "llama.cpp": "seed sent per request; llama.cpp's server honours it",
    "llama-cpp-python": "seed sent per request; llama-cpp-python's server honours it",
    "tgi": "seed sent per request; TGI honours it",
    "ollama": "seed sent per request; Ollama honours it",
    "openai": "seed sent per request; OpenAI treats it as best effort: sampled outputs may not reproduce",
    "safetylens": "seed sent per request; the safetylens test server honours it",
}


class _Answer(Protocol):
    """What is read from an HTTP answer: an ``httpx.Response`` or an :class:`_Http1Answer`."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def reason_phrase(self) -> str: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


@dataclass
class _Http1Answer:
    """An HTTP answer read by :class:`_Http1Pool` (header names in lower case)."""

    status_code: int
    reason_phrase: str
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _StaleConnection(Exception):
    """A kept-alive connection was closed by the server before it answered anything."""


class _Http1Pool:
    """Kept-alive HTTP/1.1 connections to one plain-http server, for JSON POSTs.

    Concurrency is bounded by the backend (``max_concurrency`` per replica), so the pool only keeps
    idle connections for reuse and opens one when none is idle. HTTP/1.1 framing and parsing are
    ``h11``'s, one ``h11.Connection`` per TCP connection; this class only moves bytes, which keeps a
    request's CPU cost far below a general-purpose client's. A request that fails on a reused
    connection before any byte of an answer arrived (the server closed it while idle) is sent once
    more on a new connection, as browsers and urllib3 do. Failures raise ``httpx`` exceptions so
    that callers handle both transports alike.

    Args:
        base_url: ``http://host:port/prefix`` of the server.
        headers: Extra request headers (the API key).
        connect_timeout_s: Timeout of opening a connection.
    """

    def __init__(self, base_url: str, headers: Mapping[str, str], connect_timeout_s: float) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 80
        self.prefix = parts.path
        self.connect_timeout_s = connect_timeout_s
        self._headers = [
            ("Host", parts.netloc),
            ("Accept", "application/json"),
            ("Accept-Encoding", "identity"),
            ("User-Agent", "safetylens"),
            ("Content-Type", "application/json"),
            *headers.items(),
        ]
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection]] = []

    async def post(self, path: str, payload: bytes, timeout_s: float) -> _Http1Answer:
        """POST ``payload`` (JSON) to ``path`` under the base URL.

        Raises:
            httpx.TimeoutException: No complete answer within ``timeout_s``.
            httpx.TransportError: The connection failed or the answer is not valid HTTP/1.x.
        """
        try:
            request = h11.Request(
                method="POST",
                target=self.prefix + path,
                headers=[*self._headers, ("Content-Length", str(len(payload)))],
            )
            async with asyncio.timeout(timeout_s):
                while True:
                    reused = bool(self._idle)
                    if reused:
                        reader, writer, conn = self._idle.pop()
                        if reader.at_eof() or writer.is_closing():
                            writer.close()  # closed by the server while idle, and already seen to be
                            continue
                    else:
                        reader, writer = await self._connect()
                        conn = h11.Connection(h11.CLIENT)
                    try:
                        writer.write(conn.send(request) + conn.send(h11.Data(data=payload)))
                        conn.send(h11.EndOfMessage())  # Content-Length framing: nothing more to write
                        answer = await self._read(reader, conn)
                    except _StaleConnection:
                        writer.close()
                        if reused:
                            continue
                        raise httpx.RemoteProtocolError("the server closed the connection without answering") from None
                    except BaseException:
                        # Cancelled, timed out or broken mid-answer: the connection's state is unknown.
                        writer.close()
                        raise
                    # Both sides DONE means keep-alive holds (no "Connection: close", not HTTP/1.0,
                    # not a close-delimited body); otherwise h11 says MUST_CLOSE.
                    if conn.our_state is h11.DONE and conn.their_state is h11.DONE and not reader.at_eof():
                        conn.start_next_cycle()
                        self._idle.append((reader, writer, conn))
                    else:
                        writer.close()
                    return answer
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer within {timeout_s:g} s") from None
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(f"not an HTTP/1.x answer: {exc}") from exc
        except h11.LocalProtocolError:
            # h11's message quotes the offending value, which may be the API key: not shown.
            raise httpx.LocalProtocolError("a request header (the API key?) has characters HTTP forbids") from None
        except (OSError, ValueError, zlib.error) as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                return await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {self.host}:{self.port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc

    @staticmethod
    async def _read(reader: asyncio.StreamReader, conn: h11.Connection) -> _Http1Answer:
        """The answer to the request just sent on ``conn``, skipping 1xx ones."""
        received = False
        response: h11.Response | None = None
        parts: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(1 << 16)
                if not data and not received:
                    raise _StaleConnection
                received = True
                conn.receive_data(data)  # b"" tells h11 of EOF: ends a close-delimited body, else an error
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                parts.append(event.data)
            elif isinstance(event, h11.EndOfMessage) and response is not None:
                break
            elif not isinstance(event, h11.InformationalResponse):
                raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} from the server")
        headers: dict[str, str] = {}
        for raw_name, raw_value in response.headers:  # names come lower-cased from h11
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        body = b"".join(parts)
        # h11 leaves content codings to the caller; servers may compress despite "Accept-Encoding: identity".
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "deflate"):
            body = zlib.decompress(body, 47 if encoding == "gzip" else 15)
        elif encoding != "identity":
            raise httpx.DecodingError(f"unsupported content-encoding {encoding!r}")
        return _Http1Answer(response.status_code, response.reason.decode("latin-1"), headers, body)

    def close(self) -> None:
        """Close the idle connections."""
        while self._idle:
            self._idle.pop()[1].close()


def _direct_http(url: str) -> bool:
    """Whether ``url`` is plain http without credentials, and no proxy from the environment applies to it."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.username is not None:
        return False  # TLS, and credentials in the URL (basic auth), are left to httpx
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get("http") or proxies.get("all")):
        return True
    # With proxies in the environment, proxy_bypass reads NO_PROXY from there too.
    return bool(urllib.request.proxy_bypass(parts.hostname or ""))


def _clip(text: str, limit: int = 300) -> str:
    """Make untrusted server text safe to show: printable characters only, at most ``limit`` long."""
    cleaned = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


def _server_message(response: _Answer) -> str:
    """The error message a server put in its body (OpenAI, FastAPI, TGI and plain-text shapes)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _clip(response.text or response.reason_phrase)
    message: Any = body
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and "message" in err:
            message = err["message"]
        elif isinstance(err, str):
            message = err
        elif "detail" in body:
            message = body["detail"]
        elif "message" in body:
            message = body["message"]
    return _clip(message if isinstance(message, str) else json.dumps(message, ensure_ascii=False))


def _retry_after_s(response: _Answer) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), clamped to a sane range."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def normalize_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash, with ``/v1`` appended when it has no path.

    Raises:
        ConfigError: The URL is not an http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(
            f"invalid server URL {url!r}", hint="give the OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"
        )
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _server_root(base_url: str) -> str:
    """The server root of a base URL (``http://h:8000/v1`` -> ``http://h:8000``)."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


class _RequestFailed(ModelError):
    """A server answered with a status that retrying will not fix."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


@dataclass
class _Replica:
    url: str
    pool: _Http1Pool | None = None
    in_flight: int = 0
    failures: int = 0
    down_until: float = 0.0
    last_pick: int = 0
    sent: int = 0
    errors: int = 0


@dataclass
class _PromptToken:
    text: str | None
    logprob: float | None
    greedy: bool | None


@dataclass
class ServerInfo:
    """What probing a server found (recorded in the identity)."""

    kind: str = "unknown"
    version: str = "unknown"
    owned_by: str | None = None
    models: list[str] = field(default_factory=list)
    chat_template: str | None = None


class _LoopThread:
    """An asyncio event loop running in a daemon thread, fed from synchronous code."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt in the caller: stop the requests in flight too.
            future.cancel()
            raise

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class OpenAIBackend:
    """A model served by one or more OpenAI-compatible servers.

    Args:
        base_urls: Base URLs of replicas serving the same model, e.g. ``http://host:8000/v1``.
        model: The model name the servers expect.
        api_key: Sent as a bearer token; never stored in the identity or the manifest.
        endpoint: ``auto`` (chat prompts to the chat endpoint, raw text to completions), ``chat``
            or ``completions``.
        max_concurrency: Requests in flight per replica.
        timeout_s: Timeout of one HTTP request.
        max_retries: Retries of a request after a timeout, connection error, 429 or 5xx.
        batch_size: Requests handed over per wave (at least ``max_concurrency`` per replica).
        backoff_base_s: First retry delay; it doubles per retry, with jitter.
        backoff_max_s: Longest retry delay (``Retry-After`` may ask for more).
        failure_threshold: Consecutive failures after which a replica is skipped.
        cooldown_s: How long a failing replica is skipped.
        probe: Query the servers at construction (version, models, reachability).
        transport: ``auto``: the built-in HTTP/1.1 client for plain-http servers without a proxy,
            httpx otherwise; ``httpx``: httpx for every request (an escape hatch, and the baseline
            of ``benchmarks/bench_openai_client.py``).

    Raises:
        ConfigError: No URL, or an invalid one.
        ModelError: No replica is reachable, the model is not served, or replicas disagree.
    """

    def __init__(
        self,
        base_urls: Sequence[str],
        model: str,
        *,
        api_key: str | None = None,
        endpoint: Endpoint = "auto",
        max_concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 6,
        batch_size: int = 8,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        probe: bool = True,
        transport: Literal["auto", "httpx"] = "auto",
    ) -> None:
        if not base_urls:
            raise ConfigError("the openai backend needs at least one server URL", hint="set model.base_urls")
        if transport not in ("auto", "httpx"):
            raise ConfigError(f"unknown transport {transport!r}", hint="use auto or httpx")
        if endpoint not in ("auto", "chat", "completions"):
            raise ConfigError(f"unknown endpoint {endpoint!r}", hint="use auto, chat or completions")
        urls = [normalize_base_url(u) for u in base_urls]
        if len(set(urls)) != len(urls):
            raise ConfigError(f"a server URL is listed twice: {urls}")
        self.model = model
        self.endpoint: Endpoint = endpoint
        self.max_concurrency = max(1, max_concurrency)
        self.timeout_s = timeout_s
        self.max_retries = max(0, max_retries)
        self._batch_size = max(batch_size, self.max_concurrency * len(urls))
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.failure_threshold = max(1, failure_threshold)
        self.cooldown_s = cooldown_s
        self.stats = BackendStats()
        connect_s = min(timeout_s, 10.0)
        self._replicas = [
            _Replica(
                u,
                _Http1Pool(u, self._auth_headers(api_key), connect_s)
                if transport == "auto" and _direct_http(u)
                else None,
            )
            for u in urls
        ]
        self._picks = 0
        # The key lives only in the clients' default headers.
        headers = self._auth_headers(api_key)
        self._loop = _LoopThread(f"safetylens-openai-{model}")
        self._client: httpx.AsyncClient | None = None
        self._cond: asyncio.Condition | None = None
        self._headers = headers
        self._ll_mode: LoglikelihoodMode | None = None
        self._ll_lock = threading.Lock()
        self._context_counts: dict[str, int] = {}
        self._context_pending: dict[str, asyncio.Future[list[_PromptToken]]] = {}
        self._stats_lock = threading.Lock()
        self._closed = False
        self.server = ServerInfo()
        try:
            if probe:
                self.server = self._loop.run(self._probe_servers())
        except BaseException:
            self.close()
            raise
        self._identity = self._make_identity()

    @staticmethod
    def _auth_headers(api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> OpenAIBackend:
        """Create the backend from a model spec (API key from the environment variable it names)."""
        return cls(
            spec.base_urls,
            spec.name,
            api_key=os.environ.get(spec.api_key_env) or None,
            endpoint=spec.endpoint,
            max_concurrency=spec.max_concurrency,
            timeout_s=spec.timeout_s,
            max_retries=spec.max_retries,
            batch_size=spec.batch_size,
        )

    # ----------------------------------------------------------------------------------- protocol

    @property
    def identity(self) -> ModelIdentity:
        """Backend ``openai``, the server kind and version, the model name and the endpoint mode."""
        return self._identity

    @property
    def batch_size(self) -> int:
        """Requests per wave: enough to keep every replica's concurrency busy."""
        return self._batch_size

    @property
    def is_chat(self) -> bool:
        """True unless ``endpoint="completions"`` (the server formats chats with its template)."""
        return self.endpoint != "completions"

    @property
    def supports_loglikelihood(self) -> bool:
        """Whether the server returns prompt log-probabilities (probed once on first use)."""
        return self._loglikelihood_mode() != "none"

    def request_length(self, request: GenerationRequest | LoglikelihoodRequest) -> int:
        """Characters (the server's tokenizer is not available here)."""
        if isinstance(request, LoglikelihoodRequest):
            return len(request.context) + len(request.continuation)
        prompt = request.prompt
        return len(prompt) if isinstance(prompt, str) else sum(len(m.content) for m in prompt)

    def render(self, prompt: Prompt) -> str | None:
        """Raw text sent to the completions endpoint as is; None where the server formats a chat."""
        if isinstance(prompt, str) and self.endpoint != "chat":
            return prompt
        return None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Generate one completion per request, in order, with bounded concurrency."""
        self._check_open()
        for request in requests:
            if self.endpoint == "completions" and not isinstance(request.prompt, str):
                raise ModelError(
                    "endpoint=completions needs raw text prompts, but a benchmark sent a chat",
                    hint="use endpoint=auto or chat so the server applies its chat template, or set model.chat=no",
                )
        with self._stats_lock:
            self.stats.generate_calls += 1
            self.stats.generate_requests += len(requests)
        return self._loop.run(self._gather([self._generate_one(r) for r in requests]))

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """Score every request through the server's prompt log-probabilities (see module docs)."""
        self._check_open()
        mode = self._loglikelihood_mode()
        broken = BROKEN_PROMPT_LOGPROBS.get(self.server.kind)
        if broken is not None:
            raise ModelError(
                f"refusing log-likelihood through {self._replicas[0].url}: {broken}",
                hint="use the llamacpp backend in process (backend=llamacpp) or serve the model with vLLM",
            )
        if mode == "none":
            raise ModelError(
                f"the server at {self._replicas[0].url} does not return prompt log-probabilities"
                " (tried echo with logprobs on /completions and vLLM's prompt_logprobs)",
                hint="serve the model with vLLM, or use the hf or llamacpp backend for log-likelihood benchmarks",
            )
        for request in requests:
            if not request.context.rstrip():
                raise ModelError(
                    "the openai backend cannot score a continuation without context: servers give the"
                    " first prompt token no log-probability",
                    hint="use the hf backend for benchmarks with empty contexts",
                )
        with self._stats_lock:
            self.stats.loglikelihood_calls += 1
            self.stats.loglikelihood_requests += len(requests)
        return self._loop.run(self._gather([self._loglikelihood_one(r, mode) for r in requests]))

    def close(self) -> None:
        """Close the HTTP connections and stop the event-loop thread."""
        if self._closed:
            return
        self._closed = True
        if not self._loop.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.run(self._close_connections())
        self._loop.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------ replicas

    def replica_stats(self) -> list[dict[str, Any]]:
        """Per replica: URL, requests sent, errors seen, and whether it is being skipped now."""
        now = time.monotonic()
        return [
            {"url": r.url, "sent": r.sent, "errors": r.errors, "skipped": r.down_until > now} for r in self._replicas
        ]

    async def _close_connections(self) -> None:
        for replica in self._replicas:
            if replica.pool is not None:
                replica.pool.close()
        if self._client is not None:
            await self._client.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise ModelError("the openai backend was closed")

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0))
            limits = httpx.Limits(
                max_connections=self.max_concurrency * len(self._replicas) + 8,
                max_keepalive_connections=self.max_concurrency * len(self._replicas),
            )
            self._client = httpx.AsyncClient(headers=self._headers, timeout=timeout, limits=limits)
        return self._client

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def _acquire(self, avoid: _Replica | None) -> _Replica:
        """Wait for a replica slot: healthy first, fewest in flight, round-robin among equals."""
        cond = self._condition()
        async with cond:
            while True:
                now = time.monotonic()
                healthy = [r for r in self._replicas if r.down_until <= now]
                # When every replica is being skipped, try them anyway: retries bound the attempts.
                pool = healthy or self._replicas
                free = [r for r in pool if r.in_flight < self.max_concurrency]
                if avoid is not None and len(free) > 1:
                    free = [r for r in free if r is not avoid]
                if free:
                    replica = min(free, key=lambda r: (r.in_flight, r.last_pick))
                    self._picks += 1
                    replica.last_pick = self._picks
                    replica.in_flight += 1
                    replica.sent += 1
                    return replica
                try:
                    await cond.wait()
                except asyncio.CancelledError:
                    # A release wakes one waiter; one cancelled after being woken passes it on.
                    cond.notify(1)
                    raise

    async def _release(self, replica: _Replica, ok: bool | None) -> None:
        """Free a slot; ``ok`` True resets the replica's failures, False counts one, None neither."""
        cond = self._condition()
        async with cond:
            replica.in_flight -= 1
            if ok is True:
                replica.failures = 0
                replica.down_until = 0.0
            elif ok is False:
                replica.errors += 1
                replica.failures += 1
                if replica.failures >= self.failure_threshold:
                    replica.down_until = time.monotonic() + self.cooldown_s
            # One slot was freed, so one waiter can use it: every waiter chooses from the same
            # replicas, so a waiter that cannot take it means none can. Waking all of them instead
            # costs a pass over every waiting request per answer, quadratic in the batch.
            cond.notify(1)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = float(min(self.backoff_max_s, self.backoff_base_s * 2**attempt)) * (0.5 + random.random() / 2)
        return max(delay, retry_after) if retry_after is not None else delay

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``path`` on some replica, retrying what may succeed later."""
        payload = json.dumps(body).encode()
        attempt = 0
        previous: _Replica | None = None
        while True:
            replica = await self._acquire(previous)
            previous = replica
            retry_after: float | None = None
            response: _Answer
            try:
                if replica.pool is not None:
                    response = await replica.pool.post(path, payload, self.timeout_s)
                else:
                    response = await self._http().post(
                        replica.url + path, content=payload, headers={"Content-Type": "application/json"}
                    )
            except httpx.TimeoutException:
                await self._release(replica, False)
                problem = f"timed out after {self.timeout_s:g} s"
            except httpx.TransportError as exc:
                await self._release(replica, False)
                problem = f"connection error: {_clip(str(exc) or type(exc).__name__)}"
            except BaseException:
                await self._release(replica, None)
                raise
            else:
                status = response.status_code
                if status < 300:
                    await self._release(replica, True)
                    try:
                        data = response.json()
                    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                        raise ModelError(
                            f"{replica.url}{path} answered with invalid JSON: {_clip(response.text, 200)}"
                        ) from exc
                    if not isinstance(data, dict):
                        raise ModelError(f"{replica.url}{path} answered with {type(data).__name__}, not an object")
                    return data
                # 429 means "busy", not "broken": it does not count against the replica's health.
                await self._release(replica, None if status < 500 else False)
                if status not in RETRY_STATUSES:
                    raise _RequestFailed(
                        f"{replica.url}{path} refused the request: HTTP {status}: {_server_message(response)}",
                        status,
                        hint=_hint_for_status(status, self.model),
                    )
                retry_after = _retry_after_s(response)
                problem = f"HTTP {status}: {_server_message(response)}"
            if attempt >= self.max_retries:
                raise ModelError(
                    f"{replica.url}{path} failed after {attempt + 1} attempts; last: {problem}",
                    hint="check that the server is up and not overloaded, or raise model.max_retries/timeout_s",
                )
            await asyncio.sleep(self._backoff(attempt, retry_after))
            attempt += 1

    async def _get_json(self, url: str) -> Any | None:
        """GET ``url``; the JSON body on success, None on any HTTP error status or non-JSON body."""
        response = await self._http().get(url)
        if response.status_code >= 300:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    @staticmethod
    async def _gather(coros: Sequence[Awaitable[T]]) -> list[T]:
        """Run ``coros`` concurrently; on the first error cancel the rest and raise it."""
        tasks = [asyncio.ensure_future(c) for c in coros]
        try:
            if tasks:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in tasks:
                if task.done() and not task.cancelled():
                    error = task.exception()
                    if error is not None:
                        raise error
            return [task.result() for task in tasks]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------------------------- probing

    async def _probe_one(self, replica: _Replica) -> ServerInfo | None:
        """Models, kind and version of one replica; None when it cannot be reached."""
        try:
            response = await self._http().get(replica.url + "/models")
        except httpx.TransportError:
            replica.failures = self.failure_threshold
            replica.errors += 1
            replica.down_until = time.monotonic() + self.cooldown_s
            return None
        info = ServerInfo()
        if response.status_code in (401, 403):
            raise _RequestFailed(
                f"{replica.url}/models refused the API key: HTTP {response.status_code}: {_server_message(response)}",
                response.status_code,
                hint=_hint_for_status(response.status_code, self.model),
            )
        if response.status_code < 300:
            try:
                listing = response.json()
                entries = listing.get("data", []) if isinstance(listing, dict) else []
                info.models = [str(e["id"]) for e in entries if isinstance(e, dict) and "id" in e]
                owners = {str(e.get("owned_by")) for e in entries if isinstance(e, dict) and e.get("owned_by")}
                info.owned_by = ",".join(sorted(owners)) or None
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                pass
        root = _server_root(replica.url)
        host = urlsplit(replica.url).hostname or ""
        try:
            if host.endswith("openai.com"):
                info.kind = "openai"
                return info
            version = await self._get_json(root + "/version")
            if isinstance(version, dict) and "version" in version:
                info.kind = str(version.get("server") or ("vllm" if info.owned_by == "vllm" else "unknown"))
                info.version = str(version["version"])
                return info
            props = await self._get_json(root + "/props")
            if isinstance(props, dict) and ("build_info" in props or "default_generation_settings" in props):
                info.kind = "llama.cpp"
                info.version = str(props.get("build_info", "unknown"))
                template = props.get("chat_template")
                info.chat_template = template if isinstance(template, str) and template else None
                return info
            tgi = await self._get_json(root + "/info")
            if isinstance(tgi, dict) and "model_id" in tgi and "version" in tgi:
                info.kind = "tgi"
                info.version = str(tgi["version"])
                return info
            ollama = await self._get_json(root + "/api/version")
            if isinstance(ollama, dict) and "version" in ollama:
                info.kind = "ollama"
                info.version = str(ollama["version"])
                return info
        except httpx.TransportError:
            return info
        if info.owned_by == "llamacpp":
            info.kind = "llama.cpp"
        elif info.owned_by == "me":  # llama-cpp-python's server; it has no version endpoint
            info.kind = "llama-cpp-python"
        return info

    async def _probe_servers(self) -> ServerInfo:
        infos = await asyncio.gather(*(self._probe_one(r) for r in self._replicas))
        reachable = [(r, i) for r, i in zip(self._replicas, infos, strict=True) if i is not None]
        if not reachable:
            urls = ", ".join(r.url for r in self._replicas)
            raise ModelError(
                f"cannot reach any server at {urls}",
                hint="start the server, or check model.base_urls (they usually end in /v1)",
            )
        first = reachable[0][1]
        for replica, info in reachable:
            if info.models and self.model not in info.models:
                shown = ", ".join(_clip(m, 80) for m in info.models[:20])
                raise ModelError(
                    f"{replica.url} does not serve a model named {self.model!r}; it serves: {shown}",
                    hint="set model.name to one of the served names",
                )
            if (info.kind, info.version) != (first.kind, first.version):
                raise ModelError(
                    f"replicas differ: {reachable[0][0].url} is {first.kind} {first.version},"
                    f" {replica.url} is {info.kind} {info.version}",
                    hint="replicas must run the same server build, or answers would depend on the replica",
                )
        return first

    def _make_identity(self) -> ModelIdentity:
        info = self.server
        version = "unknown" if info.kind == "unknown" and info.version == "unknown" else f"{info.kind} {info.version}"
        template = info.chat_template
        return ModelIdentity(
            backend="openai",
            backend_version=version,
            model=self.model,
            chat_template=template,
            chat_template_sha256=sha256_text(template) if template else None,
            chat_template_source="server",
            extra={"endpoint": self.endpoint},
            info={
                "base_urls": [r.url for r in self._replicas],
                "server_kind": info.kind,
                "owned_by": info.owned_by,
                "seed": SEED_NOTES.get(info.kind, "seed sent per request; whether this server honours it is unknown"),
                "loglikelihood": "server tokenization; equals lm-eval only where tokenizer and BOS handling match",
                "sampling_overrides": SAMPLING_OVERRIDES.get(
                    info.kind, "none sent: server-side sampling defaults (top-k, penalties) may apply"
                ),
            },
        )

    # ---------------------------------------------------------------------------------- generation

    def _decoding_body(self, request: GenerationRequest) -> dict[str, Any]:
        d = request.decoding
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": d.max_new_tokens,
            "temperature": d.temperature,
            # top_p does not matter for greedy decoding; 1.0 keeps servers from filtering anyway.
            "top_p": 1.0 if d.greedy else d.top_p,
            # 31 bits: some servers keep seeds in 32-bit integers.
            "seed": request.sample_seed() & 0x7FFF_FFFF,
            "n": 1,
            "stream": False,
        }
        if d.stop:
            body["stop"] = list(d.stop)
        body |= SAMPLING_OVERRIDES.get(self.server.kind, {})
        return body

    async def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        body = self._decoding_body(request)
        prompt = request.prompt
        use_chat = not isinstance(prompt, str) or self.endpoint == "chat"
        if use_chat:
            messages = [Message("user", prompt)] if isinstance(prompt, str) else list(prompt)
            body["messages"] = [m.to_json() for m in messages]
            data = await self._post("/chat/completions", body)
        else:
            body["prompt"] = prompt
            data = await self._post("/completions", body)
        choice = _first_choice(data)
        if use_chat:
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = choice.get("text")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise ModelError(f"the server returned a non-text completion: {_clip(repr(text), 200)}")
        finish = _finish_reason(choice, request.decoding.stop)
        # Servers cut at stop sequences already; cutting again covers those that keep them.
        cut = _cut_at_stop(text, request.decoding.stop)
        if cut is not None:
            text, finish = cut, "stop"
        usage = _usage(data)
        return GenerationResult(
            text=text,
            finish_reason=finish,
            prompt_tokens=_opt_int(usage.get("prompt_tokens")),
            completion_tokens=_opt_int(usage.get("completion_tokens")),
            rendered_prompt=None if use_chat else prompt if isinstance(prompt, str) else None,
        )

    # ------------------------------------------------------------------------------ log-likelihood

    def _loglikelihood_mode(self) -> LoglikelihoodMode:
        with self._ll_lock:
            if self._ll_mode is not None:
                return self._ll_mode
            self._check_open()
            detected: LoglikelihoodMode = self._loop.run(self._detect_loglikelihood())
            self._ll_mode = detected
            return detected

    @property
    def loglikelihood_mode(self) -> LoglikelihoodMode:
        """How prompt log-probabilities are obtained (probing the server on first access)."""
        return self._loglikelihood_mode()

    async def _try_mode(self, mode: LoglikelihoodMode) -> bool:
        try:
            tokens = await self._prompt_tokens(PROBE_PROMPT, mode, probe=True)
        except _RequestFailed as exc:
            if exc.status in UNSUPPORTED_STATUSES:
                return False
            raise
        except _Unsupported:
            return False
        return len(tokens) >= 2 and all(t.logprob is not None for t in tokens[1:])

    async def _detect_loglikelihood(self) -> LoglikelihoodMode:
        if self.server.kind in BROKEN_PROMPT_LOGPROBS:
            return "none"
        modes: tuple[LoglikelihoodMode, ...] = ("echo0", "echo1", "prompt_logprobs")
        for mode in modes:
            if await self._try_mode(mode):
                return mode
        return "none"

    def _ll_body(self, prompt: str, mode: LoglikelihoodMode, *, probe: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "temperature": 0.0, "n": 1, "stream": False}
        if mode == "prompt_logprobs":
            body |= {"max_tokens": 1, "prompt_logprobs": 1}
        else:
            body |= {"max_tokens": 0 if mode == "echo0" else 1, "echo": True, "logprobs": 1}
        if probe and mode == "echo0":
            # A server that reads max_tokens=0 as "no limit" (llama-cpp-python) stops at the first word.
            body["stop"] = [" ", "\n", "."]
        return body

    async def _prompt_tokens(self, prompt: str, mode: LoglikelihoodMode, *, probe: bool = False) -> list[_PromptToken]:
        """The prompt's tokens as the server tokenised it, with log-probabilities and greediness."""
        data = await self._post("/completions", self._ll_body(prompt, mode, probe=probe))
        choice = _first_choice(data)
        usage = _usage(data)
        n_prompt = _opt_int(usage.get("prompt_tokens"))
        if mode == "prompt_logprobs":
            return _parse_prompt_logprobs(choice, n_prompt)
        if mode == "echo0" and (_opt_int(usage.get("completion_tokens")) or 0) > 0:
            # llama-cpp-python reads max_tokens=0 as "no limit": never use it there.
            raise _Unsupported("the server generated tokens despite max_tokens=0")
        return _parse_echo(choice, prompt, n_prompt, generated=mode == "echo1")

    async def _context_token_count(self, context: str, mode: LoglikelihoodMode) -> int:
        """How many tokens the server makes of ``context`` alone; one request per context."""
        known = self._context_counts.get(context)
        if known is not None:
            return known
        pending = self._context_pending.get(context)
        if pending is None:
            pending = asyncio.ensure_future(self._prompt_tokens(context, mode))
            self._context_pending[context] = pending

            def forget(task: asyncio.Future[list[_PromptToken]]) -> None:
                self._context_pending.pop(context, None)
                if not task.cancelled():
                    task.exception()  # retrieved here so a failure nobody awaits is not logged

            pending.add_done_callback(forget)
        # Shielded: one waiter being cancelled must not cancel the request the others share.
        count = len(await asyncio.shield(pending))
        if len(self._context_counts) >= 65536:
            self._context_counts.clear()
        self._context_counts[context] = count
        return count

    async def _loglikelihood_one(self, request: LoglikelihoodRequest, mode: LoglikelihoodMode) -> LoglikelihoodResult:
        context = request.context.rstrip()
        prompt = request.context + request.continuation
        tokens = await self._prompt_tokens(prompt, mode)
        start = _continuation_start([t.text for t in tokens], prompt, len(context))
        if start is None:
            # Token strings do not locate the boundary: split by the context's own token count.
            with self._stats_lock:
                self.stats.extra["context_token_counts"] = self.stats.extra.get("context_token_counts", 0) + 1
            start = await self._context_token_count(context, mode)
            if start > len(tokens):
                raise ModelError(
                    f"the server tokenised the context into more tokens ({start}) than context plus"
                    f" continuation ({len(tokens)}); cannot locate the continuation"
                )
        picked = tokens[start:]
        total = 0.0
        greedy = True
        for token in picked:
            if token.logprob is None or token.greedy is None:
                raise ModelError("the server returned no log-probability for a continuation token")
            total += token.logprob
            greedy = greedy and token.greedy
        return LoglikelihoodResult(logprob=total, is_greedy=greedy, n_tokens=len(picked))


class _Unsupported(ModelError):
    """A 2xx answer without the requested prompt log-probabilities."""


def _hint_for_status(status: int, model: str) -> str | None:
    if status in (401, 403):
        return "set the API key in the environment variable named by model.api_key_env"
    if status == 404:
        return f"check model.base_urls (usually ending in /v1) and that the server serves {model!r}"
    if status in (400, 422):
        return "the server rejected a parameter; see its message above"
    return None


def _opt_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _usage(data: dict[str, Any]) -> dict[str, Any]:
    usage = data.get("usage")
    return usage if isinstance(usage, dict) else {}


def _first_choice(data: dict[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ModelError(f"the server's answer has no choices: {_clip(json.dumps(data)[:400], 300)}")
    choice: dict[str, Any] = choices[0]
    return choice


def _finish_reason(choice: dict[str, Any], stop: Sequence[str]) -> Literal["stop", "eos", "length"]:
    """Map OpenAI's finish_reason to stop / eos / length.

    OpenAI reports both an end-of-sequence token and a stop sequence as ``stop``. vLLM's
    ``stop_reason`` tells them apart (a string: a stop sequence; None or a token id: EOS); without
    it, ``stop`` means a stop sequence when the request had any, else EOS.
    """
    reason = choice.get("finish_reason")
    if reason == "length":
        return "length"
    if "stop_reason" in choice:
        return "stop" if isinstance(choice["stop_reason"], str) else "eos"
    return "stop" if stop else "eos"


def _cut_at_stop(text: str, stop: Sequence[str]) -> str | None:
    """``text`` cut before its earliest stop sequence, or None when none occurs."""
    cuts = [i for s in stop if s and (i := text.find(s)) >= 0]
    return text[: min(cuts)] if cuts else None


def _parse_echo(choice: dict[str, Any], prompt: str, n_prompt: int | None, *, generated: bool) -> list[_PromptToken]:
    """Prompt tokens from an ``echo=True, logprobs=1`` completion (OpenAI's legacy logprobs format)."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        raise _Unsupported("no logprobs in the echo answer")
    texts = logprobs.get("tokens")
    values = logprobs.get("token_logprobs")
    tops = logprobs.get("top_logprobs")
    if not isinstance(texts, list) or not isinstance(values, list) or len(texts) != len(values):
        raise _Unsupported("malformed logprobs in the echo answer")
    if not isinstance(tops, list) or len(tops) != len(values):
        tops = [None] * len(values)
    count = len(values)
    if n_prompt is not None:
        count = n_prompt
    elif generated:
        # No usage: drop the generated token by its text offset (it starts at the prompt's end).
        offsets = logprobs.get("text_offset")
        if not isinstance(offsets, list) or len(offsets) != len(values):
            raise _Unsupported("cannot tell prompt tokens from generated ones (no usage, no text_offset)")
        count = sum(1 for o in offsets if isinstance(o, int) and o < len(prompt))
    if count < 1 or count > len(values):
        raise _Unsupported("the answer does not echo the prompt's tokens")
    if not generated and count < len(values):
        raise _Unsupported("the server generated tokens despite max_tokens=0")
    if n_prompt is None and values[0] is not None:
        # Without usage figures, an echo is recognised by its first token having no log-probability.
        raise _Unsupported("the answer does not echo the prompt's tokens")
    result: list[_PromptToken] = []
    for i in range(count):
        value = values[i]
        text = texts[i] if isinstance(texts[i], str) else None
        top = tops[i]
        greedy: bool | None = None
        if isinstance(value, int | float) and isinstance(top, dict) and top:
            best = max(float(v) for v in top.values())
            greedy = float(value) >= best - 1e-6 * max(1.0, abs(best))
        result.append(_PromptToken(text, float(value) if isinstance(value, int | float) else None, greedy))
    return result


def _parse_prompt_logprobs(choice: dict[str, Any], n_prompt: int | None) -> list[_PromptToken]:
    """Prompt tokens from vLLM's ``prompt_logprobs`` extension.

    Each position is ``{token_id: {"logprob", "rank", "decoded_token"}}`` with the prompt's own
    token first, followed by the top alternatives; greedy means rank 1.
    """
    entries = choice.get("prompt_logprobs")
    if not isinstance(entries, list) or len(entries) < 1:
        raise _Unsupported("no prompt_logprobs in the answer")
    if n_prompt is not None and n_prompt != len(entries):
        raise _Unsupported("prompt_logprobs do not cover the prompt")
    result: list[_PromptToken] = []
    for entry in entries:
        if entry is None:
            result.append(_PromptToken(None, None, None))
            continue
        if not isinstance(entry, dict) or not entry:
            raise _Unsupported("malformed prompt_logprobs entry")
        own = next(iter(entry.values()))
        if not isinstance(own, dict) or not isinstance(own.get("logprob"), int | float):
            raise _Unsupported("malformed prompt_logprobs entry")
        rank = own.get("rank")
        if isinstance(rank, int):
            greedy = rank == 1
        else:
            best = max(float(v["logprob"]) for v in entry.values() if isinstance(v, dict))
            greedy = float(own["logprob"]) >= best
        text = own.get("decoded_token")
        result.append(_PromptToken(text if isinstance(text, str) else None, float(own["logprob"]), greedy))
    return result


def _continuation_start(texts: Sequence[str | None], prompt: str, boundary: int) -> int | None:
    """Index of the first token at or after character ``boundary`` of ``prompt``, from token strings.

    Returns None unless the token strings spell ``prompt`` exactly (after leading tokens that spell
    a prefix of their own, such as a BOS string) and a token starts exactly at the boundary.
    """
    if any(t is None for t in texts):
        return None
    spelled = "".join(t for t in texts if t is not None)
    if not spelled.endswith(prompt):
        return None
    target = len(spelled) - len(prompt) + boundary
    position = 0
    for i, text in enumerate(texts):
        if position == target:
            return i
        if position > target:
            return None
        position += len(text or "")
    return len(texts) if position == target else None
