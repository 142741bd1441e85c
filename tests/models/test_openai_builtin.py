"""The openai backend against the test server serving the built-in model on the hf backend.

Log-likelihoods through HTTP (echo + logprobs, token strings or the context's token count) must
equal the hf backend's own for the same requests, and greedy generations must be identical.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from safetylens.models.base import Decoding, GenerationRequest, LoglikelihoodRequest, Message
from safetylens.models.builtin import builtin_gguf_path
from safetylens.models.openai_compat import OpenAIBackend
from safetylens.testing.openai_server import OpenAIServer
from safetylens.testing.token_scorers import TransformersScorer

pytestmark = pytest.mark.model

REQUESTS = [
    LoglikelihoodRequest("Q: What is the capital of France?\nA:", " Paris."),
    LoglikelihoodRequest("Q: What is the capital of France?\nA:", " London."),
    LoglikelihoodRequest("Q: What happens if you crack your knuckles a lot?\nA: ", "Nothing in particular happens."),
    LoglikelihoodRequest("The café served crème brûlée and", " croissants."),  # multi-byte characters
    LoglikelihoodRequest("Answer:", " yes"),
]
# A token straddles the boundary: lm-eval (and hf) condition on the context's own tokens, a server
# on its tokenisation of the whole text; the scored token count is the same (module docs).
STRADDLE = LoglikelihoodRequest("Hello wor", "ld, how are you?")


def _require_hf() -> None:
    try:
        import safetylens.models.hf  # noqa: F401
    except ImportError as exc:  # fail loudly: this test must run once the hf backend is merged
        pytest.fail(f"the hf backend is not available: {exc}")


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest) -> Iterator[tuple[OpenAIServer, Any]]:
    _require_hf()
    builtin_backend = request.getfixturevalue("builtin_backend")
    scorer = TransformersScorer.from_backend(builtin_backend) or TransformersScorer.load(builtin_gguf_path())
    with OpenAIServer(builtin_backend, scorer, model_name="builtin") as server:
        yield server, builtin_backend


def test_builtin_loglikelihood_through_http_equals_hf(served: tuple[OpenAIServer, Any]) -> None:
    server, hf = served
    with OpenAIBackend([server.base_url], "builtin", backoff_base_s=0.01) as backend:
        assert backend.loglikelihood_mode == "echo0"
        got = backend.loglikelihood(REQUESTS)
        assert backend.stats.extra.get("context_token_counts", 0) == 0
        straddle = backend.loglikelihood([STRADDLE])[0]
        assert backend.stats.extra["context_token_counts"] == 1
    want = hf.loglikelihood(REQUESTS)
    assert straddle.n_tokens == hf.loglikelihood([STRADDLE])[0].n_tokens
    for g, w in zip(got, want, strict=True):
        assert g.n_tokens == w.n_tokens
        assert g.is_greedy == w.is_greedy
        assert math.isclose(g.logprob, w.logprob, abs_tol=2e-3), (g, w)
    assert got[0].logprob > got[1].logprob  # Paris over London, as the model itself says


def test_builtin_greedy_generation_through_http_equals_hf(served: tuple[OpenAIServer, Any]) -> None:
    server, hf = served
    decoding = Decoding(temperature=0.0, max_new_tokens=12)
    requests = [
        GenerationRequest("The capital of France is", decoding),
        GenerationRequest((Message("user", "Name a colour."),), decoding),
    ]
    with OpenAIBackend([server.base_url], "builtin") as backend:
        got = backend.generate(requests)
    want = hf.generate(requests)
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.finish_reason for g in got] == [w.finish_reason for w in want]
