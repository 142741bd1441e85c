"""The openai backend against a real OpenAI-compatible HTTP server on 127.0.0.1.

The server (:mod:`safetylens.testing.openai_server`) serves a small real PyTorch model defined
here: a byte-level GRU language model with fixed random weights. It is a complete backend (chat
template, greedy and seeded top-p sampling, stop sequences, lm-eval log-likelihood) and a token
scorer, so answers through HTTP can be compared with the same model's own answers.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Iterator, Sequence

import httpx
import pytest
import torch

from safetylens.errors import ConfigError, ModelError
from safetylens.models import load_backend
from safetylens.models.base import (
    Decoding,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
    ModelIdentity,
    Prompt,
)
from safetylens.models.openai_compat import (
    OpenAIBackend,
    _continuation_start,
    _retry_after_s,
    normalize_base_url,
)
from safetylens.spec import ModelSpec
from safetylens.testing.openai_server import Faults, OpenAIServer
from safetylens.testing.token_scorers import TokenScore

torch.set_num_threads(1)

EOS = 256
VOCAB = 257


CORPUS = [
    "The cat sat on the mat. The dog sat on the log.",
    "Question: what is 2+2? Answer: 4.",
    "Question: what color is the sky? Answer: blue.",
    "Once upon a time there was a small model that liked to talk.",
    "Hello, world! Hello there, friend.",
    "The answer is yes. The answer is no. The answer is maybe.",
    "Café au lait, s'il vous plaît.",
]


class ByteGRU(torch.nn.Module):
    """A byte-level GRU language model, trained for a moment on a few sentences (deterministic)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(20240601)
        self.embed = torch.nn.Embedding(VOCAB, 32)
        self.gru = torch.nn.GRU(32, 64, batch_first=True)
        self.out = torch.nn.Linear(64, VOCAB)
        self._train()

    def forward(self, ids: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, state = self.gru(self.embed(ids), state)
        return self.out(hidden), state

    def _train(self) -> None:
        rows = [[*line.encode("utf-8"), EOS] for line in CORPUS]
        width = max(len(r) for r in rows)
        batch = torch.tensor([r + [EOS] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1.0] * len(r) + [0.0] * (width - len(r)) for r in rows])[:, 1:]
        optimiser = torch.optim.Adam(self.parameters(), lr=0.03)
        for _ in range(40):
            logits, _ = self(batch[:, :-1])
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1), reduction="none"
            )
            loss = (loss * mask.reshape(-1)).sum() / mask.sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        self.eval()


class TinyBackend:
    """A complete ModelBackend and TokenScorer over :class:`ByteGRU`."""

    def __init__(self) -> None:
        self.net = ByteGRU()

    # ModelBackend
    @property
    def identity(self) -> ModelIdentity:
        return ModelIdentity(backend="tiny", backend_version="1", model="tiny-bytegru")

    @property
    def batch_size(self) -> int:
        return 4

    @property
    def is_chat(self) -> bool:
        return True

    @property
    def supports_loglikelihood(self) -> bool:
        return True

    def request_length(self, request: GenerationRequest | LoglikelihoodRequest) -> int:
        return 1

    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return "".join(f"<|{m.role}|>\n{m.content}\n" for m in prompt) + "<|assistant|>\n"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return [self._generate_one(r) for r in requests]

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        d = request.decoding
        rendered = self.render(request.prompt)
        ids = list(rendered.encode("utf-8"))
        gen = torch.Generator().manual_seed(request.sample_seed())
        out: list[int] = []
        finish = "length"
        with torch.no_grad():
            logits, state = self.net(torch.tensor([ids]))
            last = logits[0, -1]
            for _ in range(d.max_new_tokens):
                if d.greedy:
                    token = int(last.argmax())
                else:
                    probs = torch.softmax(last / d.temperature, dim=-1)
                    sorted_p, order = probs.sort(descending=True)
                    keep = (sorted_p.cumsum(0) - sorted_p) < d.top_p
                    sorted_p = sorted_p * keep
                    token = int(order[torch.multinomial(sorted_p / sorted_p.sum(), 1, generator=gen)])
                if token == EOS:
                    finish = "eos"
                    break
                out.append(token)
                text = bytes(out).decode("utf-8", errors="replace")
                cuts = [text.find(s) for s in d.stop if s in text]
                if cuts:
                    return GenerationResult(text[: min(cuts)], "stop", len(ids), len(out), rendered)
                logits, state = self.net(torch.tensor([[token]]), state)
                last = logits[0, -1]
        text = bytes(out).decode("utf-8", errors="replace")
        return GenerationResult(text, finish, len(ids), len(out), rendered)  # type: ignore[arg-type]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        results = []
        for r in requests:
            context, continuation = r.context, r.continuation
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces:
                continuation = context[-n_spaces:] + continuation
                context = context[:-n_spaces]
            ctx_ids = list(context.encode()) or [EOS]
            whole = ctx_ids + list(continuation.encode())
            cont = whole[len(ctx_ids) :]
            with torch.no_grad():
                logits, _ = self.net(torch.tensor([whole]))
                logprobs = torch.log_softmax(logits[0, len(ctx_ids) - 1 : -1], dim=-1)
            target = torch.tensor(cont)
            own = logprobs.gather(1, target[:, None])[:, 0]
            greedy = bool((logprobs.argmax(-1) == target).all())
            results.append(LoglikelihoodResult(float(own.sum()), greedy, len(cont)))
        return results

    def close(self) -> None:
        pass

    # TokenScorer
    def prefix_ids(self) -> list[int]:
        return []

    def tokenize(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def token_text(self, token_id: int) -> str:
        return "<eos>" if token_id == EOS else bytes([token_id]).decode("utf-8", errors="replace")

    def score(self, ids: Sequence[int], top_k: int) -> list[TokenScore]:
        with torch.no_grad():
            logits, _ = self.net(torch.tensor([list(ids)]))
            logprobs = torch.log_softmax(logits[0, :-1], dim=-1)
        target = torch.tensor(list(ids[1:]))
        own = logprobs.gather(1, target[:, None])[:, 0]
        ranks = (logprobs > own[:, None]).sum(1) + 1
        values, top_ids = logprobs.topk(max(1, top_k), dim=-1)
        return [
            TokenScore(
                float(own[i]),
                int(ranks[i]),
                tuple(zip(top_ids[i].tolist(), values[i].tolist(), strict=True)),
            )
            for i in range(len(ids) - 1)
        ]


GREEDY = Decoding(temperature=0.0, max_new_tokens=12)
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(scope="module")
def tiny() -> TinyBackend:
    return TinyBackend()


@pytest.fixture()
def server(tiny: TinyBackend) -> Iterator[OpenAIServer]:
    with OpenAIServer(tiny, tiny) as srv:
        yield srv


def make_server(tiny: TinyBackend, **kwargs: object) -> OpenAIServer:
    srv = OpenAIServer(tiny, tiny, **kwargs)  # type: ignore[arg-type]
    srv.start()
    return srv


def client(*urls: str, **kwargs: object) -> OpenAIBackend:
    options: dict[str, object] = {**FAST, **kwargs}
    return OpenAIBackend(list(urls), "tiny-bytegru", **options)  # type: ignore[arg-type]


def dead_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


PROMPTS = ["The cat sat on", "Question: what is 2+2?\nAnswer:", "Once upon a time", "x"]


# --------------------------------------------------------------------------------- generation


def test_completions_and_chat_match_the_model_itself(server: OpenAIServer, tiny: TinyBackend) -> None:
    chat = (Message("system", "Be brief."), Message("user", "Hello there"))
    requests = [GenerationRequest(p, GREEDY) for p in PROMPTS] + [GenerationRequest(chat, GREEDY)]
    with client(server.base_url) as backend:
        got = backend.generate(requests)
    want = tiny.generate(requests)
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.finish_reason for g in got] == [w.finish_reason for w in want]
    assert {g.finish_reason for g in got} == {"eos", "length"}
    assert server.stats.paths["/v1/completions"] == len(PROMPTS)
    assert server.stats.paths["/v1/chat/completions"] == 1
    # Raw prompts are sent as they are; the server formats chats itself.
    assert [g.rendered_prompt for g in got] == [*PROMPTS, None]
    assert got[0].prompt_tokens == len(PROMPTS[0].encode())
    assert got[-1].prompt_tokens == len(tiny.render(chat).encode())


def test_endpoint_chat_sends_raw_text_as_one_user_message(server: OpenAIServer, tiny: TinyBackend) -> None:
    with client(server.base_url, endpoint="chat") as backend:
        got = backend.generate([GenerationRequest("Hello", GREEDY)])
        assert backend.render("Hello") is None
    want = tiny.generate([GenerationRequest((Message("user", "Hello"),), GREEDY)])
    assert got[0].text == want[0].text
    assert server.stats.paths == {"/v1/chat/completions": 1}
    assert server.stats.bodies[0]["messages"] == [{"role": "user", "content": "Hello"}]


def test_endpoint_completions_refuses_chat_prompts(server: OpenAIServer) -> None:
    with client(server.base_url, endpoint="completions") as backend:
        assert not backend.is_chat
        with pytest.raises(ModelError, match="endpoint=completions needs raw text"):
            backend.generate([GenerationRequest((Message("user", "hi"),), GREEDY)])
    assert server.stats.model_requests == 0


def test_decoding_parameters_reach_the_server(server: OpenAIServer) -> None:
    decoding = Decoding(temperature=0.7, top_p=0.8, max_new_tokens=5, stop=("\n\n", "###"), seed=3)
    request = GenerationRequest("Hi", decoding)
    with client(server.base_url) as backend:
        backend.generate([request])
    body = server.stats.bodies[0]
    assert body["temperature"] == 0.7 and body["top_p"] == 0.8 and body["max_tokens"] == 5
    assert body["stop"] == ["\n\n", "###"]
    assert body["seed"] == request.sample_seed() & 0x7FFFFFFF


def test_stop_sequences_cut_the_output(server: OpenAIServer, tiny: TinyBackend) -> None:
    long = Decoding(temperature=0.0, max_new_tokens=24)
    full = tiny.generate([GenerationRequest("The cat sat on", long)])[0].text
    stop = full[5:7]
    assert len(stop) == 2 and stop not in full[:5]
    decoding = Decoding(temperature=0.0, max_new_tokens=24, stop=(stop,))
    with client(server.base_url) as backend:
        got = backend.generate([GenerationRequest("The cat sat on", decoding)])[0]
    assert got.text == full[: full.find(stop)]
    assert got.finish_reason == "stop"


def test_seeded_sampling_is_reproducible(server: OpenAIServer) -> None:
    decodings = [Decoding(temperature=1.0, top_p=0.95, max_new_tokens=16, seed=s) for s in range(4)]
    requests = [GenerationRequest("The cat", d) for d in decodings]
    with client(server.base_url) as backend:
        first = backend.generate(requests)
        again = backend.generate(requests)
    assert [r.text for r in first] == [r.text for r in again]
    assert len({r.text for r in first}) > 1, "different seeds should sample differently"


def test_works_when_called_from_inside_an_event_loop(server: OpenAIServer, tiny: TinyBackend) -> None:
    request = GenerationRequest("Hello", GREEDY)

    async def inside() -> str:
        with client(server.base_url) as backend:
            return backend.generate([request])[0].text

    assert asyncio.run(inside()) == tiny.generate([request])[0].text


# ----------------------------------------------------------------------------- log-likelihood

ASCII_REQUESTS = [
    LoglikelihoodRequest("Q: What color is the sky?\nA:", " Blue."),
    LoglikelihoodRequest("Q: What color is the sky?\nA:", " Green."),
    LoglikelihoodRequest("The cat sat on the ", "mat"),  # trailing space moves to the continuation
    LoglikelihoodRequest("Hello", ", world"),
]
UNICODE_REQUESTS = [
    LoglikelihoodRequest("Café au lait, ", "s'il vous plaît"),
    LoglikelihoodRequest("Ünïcödé:", " naïve résumé"),
]


def _greedy_request(tiny: TinyBackend) -> LoglikelihoodRequest:
    context = "The answer is"
    text = tiny.generate([GenerationRequest(context, Decoding(temperature=0.0, max_new_tokens=4))])[0].text
    return LoglikelihoodRequest(context, text)


def _assert_same(got: list[LoglikelihoodResult], want: list[LoglikelihoodResult]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.n_tokens == w.n_tokens
        assert g.is_greedy == w.is_greedy
        assert math.isclose(g.logprob, w.logprob, rel_tol=1e-6, abs_tol=1e-5), (g, w)


def test_loglikelihood_equals_the_models_own(server: OpenAIServer, tiny: TinyBackend) -> None:
    requests = [*ASCII_REQUESTS, _greedy_request(tiny)]
    with client(server.base_url) as backend:
        assert backend.supports_loglikelihood
        assert backend.loglikelihood_mode == "echo0"
        got = backend.loglikelihood(requests)
        # ASCII token strings spell the prompt: the boundary is found without extra requests.
        assert backend.stats.extra.get("context_token_counts", 0) == 0
    want = tiny.loglikelihood(requests)
    _assert_same(got, want)
    assert want[-1].is_greedy and not want[1].is_greedy
    body = server.stats.bodies[-1]
    assert body["echo"] is True and body["logprobs"] == 1 and body["max_tokens"] == 0


def test_loglikelihood_with_undecodable_token_pieces(server: OpenAIServer, tiny: TinyBackend) -> None:
    # Multi-byte characters come back as U+FFFD pieces: the context's token count splits the prompt.
    requests = [*UNICODE_REQUESTS, UNICODE_REQUESTS[0]]
    with client(server.base_url) as backend:
        got = backend.loglikelihood(requests)
        assert backend.stats.extra["context_token_counts"] == 3
    _assert_same(got, tiny.loglikelihood(requests))
    # The repeated context was counted once: probe + 3 scored prompts + 2 distinct contexts.
    assert server.stats.paths["/v1/completions"] == 1 + 3 + 2


@pytest.mark.parametrize("zero", ["reject", "unlimited"])
def test_loglikelihood_when_max_tokens_zero_is_refused_or_unlimited(tiny: TinyBackend, zero: str) -> None:
    srv = make_server(tiny, max_tokens_zero=zero)
    try:
        requests = ASCII_REQUESTS + UNICODE_REQUESTS
        with client(srv.base_url) as backend:
            assert backend.loglikelihood_mode == "echo1"
            got = backend.loglikelihood(requests)
        _assert_same(got, tiny.loglikelihood(requests))
        assert srv.stats.statuses[400] == (1 if zero == "reject" else 0)
        # Every scoring request asks for exactly one generated token.
        assert all(b["max_tokens"] == 1 for b in srv.stats.bodies[1:])
    finally:
        srv.stop()


def test_loglikelihood_through_vllm_prompt_logprobs(tiny: TinyBackend) -> None:
    srv = make_server(tiny, echo="reject")
    try:
        requests = [*ASCII_REQUESTS, *UNICODE_REQUESTS, _greedy_request(tiny)]
        with client(srv.base_url) as backend:
            assert backend.loglikelihood_mode == "prompt_logprobs"
            got = backend.loglikelihood(requests)
        _assert_same(got, tiny.loglikelihood(requests))
        assert "prompt_logprobs" in srv.stats.bodies[-1]
    finally:
        srv.stop()


@pytest.mark.parametrize("echo", ["reject", "ignore"])
def test_refuses_loglikelihood_without_prompt_logprobs(tiny: TinyBackend, echo: str) -> None:
    srv = make_server(tiny, echo=echo, prompt_logprobs=False)
    try:
        with client(srv.base_url) as backend:
            assert backend.supports_loglikelihood is False
            probes = srv.stats.model_requests
            with pytest.raises(ModelError, match="does not return prompt log-probabilities"):
                backend.loglikelihood(ASCII_REQUESTS)
            # The capability is detected once.
            assert srv.stats.model_requests == probes == 3
    finally:
        srv.stop()


def test_refuses_an_empty_context(server: OpenAIServer) -> None:
    with client(server.base_url) as backend, pytest.raises(ModelError, match="without context"):
        backend.loglikelihood([LoglikelihoodRequest("", "Hello")])


def test_continuation_start_from_token_strings() -> None:
    prompt = "Hello world"
    assert _continuation_start(["Hello", " world"], prompt, 5) == 1
    assert _continuation_start(["<s>", "Hello", " world"], prompt, 5) == 2  # BOS string prefix
    assert _continuation_start(["Hel", "lo w", "orld"], prompt, 5) is None  # straddles the boundary
    assert _continuation_start(["Hello", "\ufffd"], prompt, 5) is None  # does not spell the prompt
    assert _continuation_start(["Hello", " world"], prompt, 11) == 2  # empty continuation


# ------------------------------------------------------------------------- concurrency, retries


def test_concurrency_bound_is_respected(tiny: TinyBackend) -> None:
    srv = make_server(tiny, faults=Faults(delay_all_s=0.15))
    try:
        requests = [GenerationRequest(f"prompt {i}", Decoding(temperature=0.0, max_new_tokens=2)) for i in range(12)]
        with client(srv.base_url, max_concurrency=3) as backend:
            start = time.monotonic()
            backend.generate(requests)
            elapsed = time.monotonic() - start
        assert srv.stats.max_in_flight == 3
        assert elapsed >= 4 * 0.15
    finally:
        srv.stop()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_injected_failures(server: OpenAIServer, tiny: TinyBackend, status: int) -> None:
    server.reset(Faults(fail_first=2, fail_status=status))
    request = GenerationRequest("Hello", GREEDY)
    with client(server.base_url) as backend:
        got = backend.generate([request])
    assert got[0].text == tiny.generate([request])[0].text
    assert server.stats.statuses[status] == 2 and server.stats.statuses[200] == 1


def test_honours_retry_after(server: OpenAIServer) -> None:
    server.reset(Faults(fail_first=2, fail_status=429, retry_after="0.4"))
    with client(server.base_url) as backend:
        start = time.monotonic()
        backend.generate([GenerationRequest("Hello", GREEDY)])
        elapsed = time.monotonic() - start
    assert elapsed >= 0.8  # two waits of at least 0.4 s, though the backoff itself is 10-50 ms
    assert server.stats.statuses[429] == 2


def test_retry_after_http_date() -> None:
    later = time.time() + 30
    header = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(later))
    value = _retry_after_s(httpx.Response(429, headers={"Retry-After": header}))
    assert value is not None and 27 <= value <= 31
    assert _retry_after_s(httpx.Response(429, headers={"Retry-After": "soon"})) is None


def test_gives_up_after_max_retries(server: OpenAIServer) -> None:
    server.reset(Faults(fail_first=100, fail_status=500))
    with client(server.base_url, max_retries=2) as backend, pytest.raises(ModelError, match="after 3 attempts"):
        backend.generate([GenerationRequest("Hello", GREEDY)])
    assert server.stats.statuses[500] == 3


def test_timeout_then_retry(server: OpenAIServer, tiny: TinyBackend) -> None:
    server.reset(Faults(delay_first=1, delay_s=2.0))
    request = GenerationRequest("Hello", GREEDY)
    with client(server.base_url, timeout_s=0.5) as backend:
        start = time.monotonic()
        got = backend.generate([request])
        elapsed = time.monotonic() - start
    assert got[0].text == tiny.generate([request])[0].text
    assert 0.5 <= elapsed < 2.0
    assert server.stats.model_requests == 2


def test_clear_error_on_400(server: OpenAIServer) -> None:
    with client(server.base_url) as backend, pytest.raises(ModelError, match=r"HTTP 400: max_tokens must be at most"):
        backend.generate([GenerationRequest("Hello", Decoding(temperature=0.0, max_new_tokens=100_000))])
    assert server.stats.model_requests == 1  # not retried


def test_clear_error_on_401(tiny: TinyBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = make_server(tiny, api_key="s3cret-key")
    try:
        with pytest.raises(ModelError, match="HTTP 401: Incorrect API key") as info:
            client(srv.base_url)
        assert info.value.hint is not None and "api_key_env" in info.value.hint
        monkeypatch.setenv("MY_SERVER_KEY", "s3cret-key")
        spec = ModelSpec(name="tiny-bytegru", base_urls=(srv.base_url,), api_key_env="MY_SERVER_KEY")
        backend = load_backend(spec)
        try:
            assert isinstance(backend, OpenAIBackend)
            assert backend.generate([GenerationRequest("Hi", GREEDY)])[0].text
            assert "s3cret-key" not in backend.identity.model_dump_json()
        finally:
            backend.close()
    finally:
        srv.stop()


def test_clear_error_on_404_with_escaped_message(server: OpenAIServer) -> None:
    hostile = "evil\x1b[31m\nmodel"
    backend = OpenAIBackend([server.base_url], hostile, probe=False, **FAST)  # type: ignore[arg-type]
    try:
        with pytest.raises(ModelError, match="HTTP 404") as info:
            backend.generate([GenerationRequest("Hi", GREEDY)])
        assert "\x1b" not in info.value.message and "\\x1b" in info.value.message
        assert "\n" not in info.value.message
    finally:
        backend.close()
    with pytest.raises(ModelError, match=r"does not serve a model named 'other'.*tiny-bytegru"):
        OpenAIBackend([server.base_url], "other")


# -------------------------------------------------------------------------------- replicas


def test_replicas_share_the_load(tiny: TinyBackend) -> None:
    a, b = make_server(tiny, faults=Faults(delay_all_s=0.05)), make_server(tiny, faults=Faults(delay_all_s=0.05))
    try:
        requests = [GenerationRequest(f"p{i}", Decoding(temperature=0.0, max_new_tokens=3)) for i in range(16)]
        with client(a.base_url, b.base_url, max_concurrency=2, batch_size=1) as backend:
            assert backend.batch_size == 4
            got = backend.generate(requests)
        assert [g.text for g in got] == [w.text for w in tiny.generate(requests)]
        assert a.stats.model_requests >= 4 and b.stats.model_requests >= 4
        assert a.stats.model_requests + b.stats.model_requests == 16
        assert a.stats.max_in_flight <= 2 and b.stats.max_in_flight <= 2
    finally:
        a.stop()
        b.stop()


def test_failover_when_a_replica_is_down(server: OpenAIServer, tiny: TinyBackend) -> None:
    down = dead_url()
    requests = [GenerationRequest(f"p{i}", GREEDY) for i in range(6)]
    with client(down, server.base_url) as backend:
        got = backend.generate(requests)
        stats = {s["url"]: s for s in backend.replica_stats()}
    assert [g.text for g in got] == [w.text for w in tiny.generate(requests)]
    assert stats[down]["skipped"] and stats[server.base_url]["sent"] == 6


def test_failover_when_a_replica_dies_mid_run(tiny: TinyBackend) -> None:
    a, b = make_server(tiny), make_server(tiny)
    try:
        requests = [GenerationRequest(f"p{i}", GREEDY) for i in range(8)]
        with client(a.base_url, b.base_url, failure_threshold=1, cooldown_s=60) as backend:
            backend.generate(requests[:4])
            assert a.stats.model_requests and b.stats.model_requests
            b.stop()
            got = backend.generate(requests)
            skipped = [s["url"] for s in backend.replica_stats() if s["skipped"]]
        assert [g.text for g in got] == [w.text for w in tiny.generate(requests)]
        assert skipped == [b.base_url]
    finally:
        a.stop()
        b.stop()


def test_no_reachable_server() -> None:
    with pytest.raises(ModelError, match="cannot reach any server"):
        client(dead_url(), dead_url())


# --------------------------------------------------------------------------------- identity


def test_identity_and_fingerprint(server: OpenAIServer, tiny: TinyBackend) -> None:
    second = make_server(tiny)
    try:
        with client(server.base_url) as one, client(server.base_url, second.base_url) as two:
            ident = one.identity
            assert ident.backend == "openai"
            assert ident.backend_version.startswith("safetylens ")
            assert ident.model == "tiny-bytegru"
            assert ident.chat_template_source == "server"
            assert ident.extra == {"endpoint": "auto"}
            assert ident.info["base_urls"] == [server.base_url]
            assert "seed" in ident.info
            # Replicas do not change answers: same fingerprint.
            assert one.identity.fingerprint() == two.identity.fingerprint()
        with client(server.base_url, endpoint="chat") as chat:
            assert chat.identity.fingerprint() != ident.fingerprint()
    finally:
        second.stop()


def test_spec_validation() -> None:
    assert normalize_base_url("http://h:8000") == "http://h:8000/v1"
    assert normalize_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    with pytest.raises(ConfigError, match="invalid server URL"):
        normalize_base_url("h:8000")
    with pytest.raises(ConfigError, match="at least one server URL"):
        OpenAIBackend([], "m")
