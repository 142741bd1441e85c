"""The openai backend keeps its configured number of requests in flight, against a real HTTP server.

The server is the test server on 127.0.0.1 with :class:`InstantBackend`; an injected per-request
delay keeps answers in flight long enough for the server to count how many overlap.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from safetylens.errors import ModelError
from safetylens.models.base import Decoding, GenerationRequest, LoglikelihoodRequest, Message
from safetylens.models.openai_compat import OpenAIBackend
from safetylens.testing.openai_server import Faults, InstantBackend, OpenAIServer

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}
SHORT = Decoding(temperature=0.0, max_new_tokens=4)


@pytest.fixture()
def server() -> Iterator[OpenAIServer]:
    instant = InstantBackend("Fine.")
    with OpenAIServer(instant, instant) as srv:
        yield srv


def _requests(n: int, tag: str = "p") -> list[GenerationRequest]:
    return [GenerationRequest(f"{tag} {i}" if i % 2 else (Message("user", f"{tag} {i}"),), SHORT) for i in range(n)]


def test_instant_backend_answers_through_http(server: OpenAIServer) -> None:
    instant = InstantBackend("Fine.")
    requests = [*_requests(3), GenerationRequest("cut", Decoding(temperature=0.0, max_new_tokens=8, stop=("n",)))]
    ll = [LoglikelihoodRequest("Question: yes or no?\nAnswer:", " yes")]
    with OpenAIBackend([server.base_url], "instant", **FAST) as backend:  # type: ignore[arg-type]
        got = backend.generate(requests)
        scores = backend.loglikelihood(ll)
    assert [g.text for g in got] == ["Fine", "Fine", "Fine", "Fi"]
    assert [g.finish_reason for g in got][-1] == "stop"
    assert scores[0].n_tokens == 4 and scores[0].is_greedy
    assert math.isclose(scores[0].logprob, instant.loglikelihood(ll)[0].logprob, rel_tol=1e-9)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_requests_are_sent_concurrently_up_to_the_bound(server: OpenAIServer, concurrency: int) -> None:
    with OpenAIBackend([server.base_url], "instant", max_concurrency=concurrency, **FAST) as backend:  # type: ignore[arg-type]
        server.reset(_delay(0.05))
        got = backend.generate(_requests(3 * concurrency + 2))
    assert all(g.text == "Fine" for g in got)
    assert server.stats.max_in_flight == concurrency


def test_a_large_batch_keeps_the_bound_and_finishes(server: OpenAIServer) -> None:
    # Many more requests than slots: each answer frees one slot for one waiting request.
    with OpenAIBackend([server.base_url], "instant", max_concurrency=4, **FAST) as backend:  # type: ignore[arg-type]
        server.reset(_delay(0.002))
        got = backend.generate(_requests(300))
    assert len(got) == 300 and server.stats.model_requests == 300
    assert server.stats.max_in_flight == 4


def test_slots_are_freed_after_a_failed_batch(server: OpenAIServer) -> None:
    # One request is refused (400), the others are cancelled: every slot must come back.
    bad = GenerationRequest("too long", Decoding(temperature=0.0, max_new_tokens=100_000))
    with OpenAIBackend([server.base_url], "instant", max_concurrency=4, **FAST) as backend:  # type: ignore[arg-type]
        server.reset(_delay(0.05))
        with pytest.raises(ModelError, match="HTTP 400"):
            backend.generate([*_requests(6), bad, *_requests(6, "q")])
        time.sleep(0.3)  # requests the client gave up on finish on the server before counting anew
        server.reset(_delay(0.05))
        got = backend.generate(_requests(12, "r"))
    assert len(got) == 12
    assert server.stats.max_in_flight == 4


def _delay(seconds: float) -> Faults:
    return Faults(delay_all_s=seconds)


def test_the_instant_server_command_serves_on_a_free_port() -> None:
    cmd = [sys.executable, "-m", "safetylens.testing.openai_server", "--model", "instant", "--port", "0"]
    cmd += ["--reply", "Sure."]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        found = re.search(r"http://127\.0\.0\.1:\d+/v1", proc.stdout.readline())
        assert found, "the server did not print its URL"
        with OpenAIBackend([found.group(0)], "instant", **FAST) as backend:  # type: ignore[arg-type]
            assert backend.generate(_requests(2))[0].text == "Sure"
            assert backend.loglikelihood([LoglikelihoodRequest("Answer:", " yes")])[0].n_tokens == 4
    finally:
        proc.terminate()
        proc.wait(timeout=15)
