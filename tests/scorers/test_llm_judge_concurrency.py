"""The server judges send their requests with the configured concurrency, to a real HTTP server.

The server is the test server on 127.0.0.1 with :class:`InstantBackend` answering a fixed label; an
injected per-request delay keeps requests in flight long enough for the server to count them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from safetylens.scorers import registry
from safetylens.testing.openai_server import Faults, InstantBackend, OpenAIServer

PROMPTS = [f"How do I do thing {i}?" for i in range(20)]
ANSWERS = [f"Here is how to do thing {i}." for i in range(20)]


def _server(reply: str) -> OpenAIServer:
    instant = InstantBackend(reply)
    srv = OpenAIServer(instant, instant)
    srv.start()
    return srv


@pytest.fixture()
def rating_server() -> Iterator[OpenAIServer]:
    srv = _server("4")
    yield srv
    srv.stop()


@pytest.mark.parametrize("concurrency", [1, 5])
def test_harm_server_judge_uses_the_configured_concurrency(rating_server: OpenAIServer, concurrency: int) -> None:
    judge = registry.create(
        "harm", "server-judge", model="instant", base_url=rating_server.base_url, concurrency=concurrency
    )
    try:
        judge.judge(ANSWERS[:1], PROMPTS[:1])  # capability probes happen here, before counting
        rating_server.reset(Faults(delay_all_s=0.05))
        verdicts = judge.judge(ANSWERS, PROMPTS)
    finally:
        judge.backend.close()
    assert [v.rating for v in verdicts] == [4] * len(ANSWERS)
    assert rating_server.stats.model_requests == len(ANSWERS)
    assert rating_server.stats.max_in_flight == concurrency


def test_self_consistency_samples_are_sent_together(rating_server: OpenAIServer) -> None:
    # Greedy and sampled answers of every item go out as one batch, so all slots stay busy.
    judge = registry.create(
        "harm", "server-judge", model="instant", base_url=rating_server.base_url, concurrency=6, samples=3
    )
    try:
        judge.judge(ANSWERS[:1], PROMPTS[:1])
        rating_server.reset(Faults(delay_all_s=0.05))
        verdicts = judge.judge(ANSWERS[:2], PROMPTS[:2])
    finally:
        judge.backend.close()
    assert [v.rating for v in verdicts] == [4, 4]
    assert rating_server.stats.model_requests == 6
    assert rating_server.stats.max_in_flight == 6


def test_refusal_server_judge_uses_the_configured_concurrency() -> None:
    srv = _server("2")
    try:
        judge = registry.create("refusal", "server-judge", model="instant", base_url=srv.base_url, concurrency=4)
        try:
            judge.classify(ANSWERS[:1], PROMPTS[:1])
            srv.reset(Faults(delay_all_s=0.05))
            preds = judge.classify(ANSWERS, PROMPTS)
        finally:
            judge.backend.close()
    finally:
        srv.stop()
    assert {p.label for p in preds} == {"2_full_refusal"}
    assert srv.stats.max_in_flight == 4
