"""The llamacpp backend on the built-in model, and the openai backend against llama-cpp-python's server.

Runs only where the optional extra ``llamacpp`` (llama-cpp-python, compiled at install) is present.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

llama_cpp = pytest.importorskip("llama_cpp", reason="optional extra llamacpp not installed")

from safetylens.errors import ConfigError, ModelError  # noqa: E402
from safetylens.models import load_backend  # noqa: E402
from safetylens.models.base import Decoding, GenerationRequest, LoglikelihoodRequest, Message  # noqa: E402
from safetylens.models.builtin import GGUF_SHA256, builtin_gguf_path  # noqa: E402
from safetylens.models.llamacpp import LlamaCppBackend, resolve_gguf  # noqa: E402
from safetylens.models.openai_compat import OpenAIBackend  # noqa: E402
from safetylens.spec import ModelSpec  # noqa: E402

pytestmark = pytest.mark.model

GREEDY = Decoding(temperature=0.0, max_new_tokens=16)
QA = [
    LoglikelihoodRequest("Q: What is the capital of France?\nA:", " Paris."),
    LoglikelihoodRequest("Q: What is the capital of France?\nA:", " London."),
    LoglikelihoodRequest("Q: What happens if you crack your knuckles a lot?\nA: ", "Nothing in particular happens."),
    LoglikelihoodRequest("The café served crème brûlée and", " croissants."),
    LoglikelihoodRequest("", "Hello"),
]


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaCppBackend]:
    backend = load_backend(ModelSpec(name="builtin", backend="llamacpp", threads=1))
    assert isinstance(backend, LlamaCppBackend)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def reference() -> Iterator[Any]:
    """llama-cpp-python used directly, as an independent reference."""
    llm = llama_cpp.Llama(str(builtin_gguf_path()), n_ctx=2048, n_threads=1, logits_all=True, verbose=False)
    yield llm
    llm.close()


def test_identity(llama: LlamaCppBackend) -> None:
    ident = llama.identity
    assert ident.backend == "llamacpp"
    assert ident.backend_version == llama_cpp.__version__
    assert ident.weights_sha256 == GGUF_SHA256
    assert ident.model == "builtin"
    assert ident.chat_template_source == "gguf" and ident.chat_template_sha256
    assert llama.is_chat and llama.supports_loglikelihood


def test_resolve_gguf_errors(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="not a GGUF file"):
        resolve_gguf(str(tmp_path / "missing"))
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"not a \.gguf file"):
        resolve_gguf(str(tmp_path / "a.txt"))
    with pytest.raises(ConfigError, match="holds 0 GGUF files"):
        resolve_gguf(str(tmp_path))


def test_greedy_generation_matches_llama_cpp_itself(llama: LlamaCppBackend, reference: Any) -> None:
    prompt = "The capital of France is"
    got = llama.generate([GenerationRequest(prompt, GREEDY)])[0]
    want = reference.create_completion(prompt, max_tokens=16, temperature=0.0)["choices"][0]
    assert got.text == want["text"]
    assert got.text.strip()
    assert got.rendered_prompt == prompt
    assert got.finish_reason == ("length" if want["finish_reason"] == "length" else "eos")


def test_chat_uses_the_gguf_template(llama: LlamaCppBackend) -> None:
    chat = (Message("user", "Name a colour."),)
    rendered = llama.render(chat)
    # SmolLM2's ChatML template inserts its default system prompt.
    assert rendered.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert rendered.endswith("<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n")
    result = llama.generate([GenerationRequest(chat, GREEDY)])[0]
    assert result.rendered_prompt == rendered
    assert result.text and "<|im_end|>" not in result.text


def test_seeded_sampling_is_reproducible(llama: LlamaCppBackend) -> None:
    requests = [
        GenerationRequest("Once upon a time", Decoding(temperature=1.0, top_p=0.9, max_new_tokens=12, seed=s))
        for s in range(4)
    ]
    first = llama.generate(requests)
    again = llama.generate(list(reversed(requests)))[::-1]
    assert [r.text for r in first] == [r.text for r in again]
    assert len({r.text for r in first}) > 1


def test_stop_sequences(llama: LlamaCppBackend) -> None:
    full = llama.generate([GenerationRequest("The capital of France is", GREEDY)])[0].text
    stop = full.strip().split()[1]
    decoding = Decoding(temperature=0.0, max_new_tokens=16, stop=(stop,))
    got = llama.generate([GenerationRequest("The capital of France is", decoding)])[0]
    assert got.finish_reason == "stop"
    assert got.text == full[: full.find(stop)]


def _reference_loglikelihood(llm: Any, request: LoglikelihoodRequest) -> tuple[float, bool, int]:
    """lm-eval's definition written out over llama-cpp-python, one evaluation per request."""
    context, continuation = request.context, request.continuation
    n = len(context) - len(context.rstrip())
    if n:
        context, continuation = context[:-n], context[-n:] + continuation
    whole = llm.tokenize((context + continuation).encode(), add_bos=False, special=True)
    ctx = llm.tokenize(context.encode(), add_bos=False, special=True) if context else [llm.token_bos()]
    cont = whole[len(ctx) :] if context else whole
    llm.reset()
    llm.eval(ctx)
    if len(cont) > 1:
        llm.eval(cont[:-1])
    total, greedy = 0.0, True
    for i, token in enumerate(cont):
        row = llm.scores[len(ctx) - 1 + i].astype("float64")
        log_z = row.max() + math.log(sum(math.exp(v - row.max()) for v in row))
        total += row[token] - log_z
        greedy = greedy and int(row.argmax()) == token
    return total, greedy, len(cont)


def test_loglikelihood_matches_the_lm_eval_definition(llama: LlamaCppBackend, reference: Any) -> None:
    got = llama.loglikelihood(QA)
    for request, result in zip(QA, got, strict=True):
        logprob, greedy, n_tokens = _reference_loglikelihood(reference, request)
        assert result.n_tokens == n_tokens
        assert result.is_greedy == greedy
        assert math.isclose(result.logprob, logprob, abs_tol=1e-6), (request, result, logprob)
    assert got[0].logprob > got[1].logprob


def test_loglikelihood_does_not_depend_on_request_order(llama: LlamaCppBackend) -> None:
    forward = llama.loglikelihood(QA)
    backward = llama.loglikelihood(list(reversed(QA)))[::-1]
    interleaved = llama.loglikelihood([QA[0], QA[3], QA[1]])
    assert forward == backward
    assert interleaved == [forward[0], forward[3], forward[1]]


def test_refuses_overlong_prompts() -> None:
    small = LlamaCppBackend(builtin_gguf_path(), n_ctx=32, threads=1)
    try:
        with pytest.raises(ModelError, match="context window is 32"):
            small.generate([GenerationRequest("word " * 40, GREEDY)])
    finally:
        small.close()


# ------------------------------------------------------------------- llama-cpp-python's own server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        import llama_cpp.server.app  # noqa: F401
    except ImportError as exc:  # the llamacpp extra includes the server: fail, do not skip
        pytest.fail(f"llama-cpp-python is installed without its server extra: {exc}")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server").joinpath("server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(builtin_gguf_path()),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # One thread: llama.cpp's spinning threads collapse on an oversubscribed 2-core machine.
            "--n_threads",
            "1",
            "--n_ctx",
            "2048",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                log.flush()
                text = Path(log.name).read_text(errors="replace")
                pytest.fail(f"llama_cpp.server exited: {text[-2000:]}")
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not start within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_openai_backend_against_llama_cpp_server(llama_server: str, llama: LlamaCppBackend) -> None:
    with OpenAIBackend([llama_server], "smollm2", backoff_base_s=0.05) as backend:
        assert backend.identity.info["server_kind"] == "llama-cpp-python"
        # Its default top-k / min-p / repetition penalty are switched off: greedy equals in-process greedy.
        request = GenerationRequest("The capital of France is", GREEDY)
        assert backend.generate([request])[0].text == llama.generate([request])[0].text
        chat = (Message("user", "Name a colour."),)
        served_chat = backend.generate([GenerationRequest(chat, GREEDY)])[0]
        assert served_chat.rendered_prompt is None
        assert served_chat.text == llama.generate([GenerationRequest(chat, GREEDY)])[0].text
        assert not backend.supports_loglikelihood
        with pytest.raises(ModelError, match=r"llama-cpp-python#1983"):
            backend.loglikelihood(QA[:2])


def test_llama_cpp_server_echo_logprobs_are_still_shifted(llama_server: str, reference: Any) -> None:
    """Why the openai backend refuses that server: this fails once upstream fixes it (then allow it)."""
    import httpx

    prompt = "The capital of France is Paris, and the capital of Italy is Rome."
    body = {"model": "smollm2", "prompt": prompt, "max_tokens": 1, "echo": True, "logprobs": 1, "temperature": 0}
    served = httpx.post(llama_server + "/completions", json=body, timeout=120).json()["choices"][0]["logprobs"]
    ids = reference.tokenize(prompt.encode(), add_bos=False, special=True)
    assert len(served["token_logprobs"]) == len(ids)
    reference.reset()
    reference.eval(ids)
    rows = [reference.scores[i].astype("float64") for i in range(len(ids))]
    logz = [r.max() + math.log(sum(math.exp(v - r.max()) for v in r)) for r in rows]
    correct = [rows[i - 1][ids[i]] - logz[i - 1] for i in range(1, len(ids))]
    shifted = [rows[i][ids[i]] - logz[i] for i in range(1, len(ids))]
    got = served["token_logprobs"][1:]
    assert all(math.isclose(g, s, abs_tol=0.05) for g, s in zip(got, shifted, strict=True))
    assert sum(abs(g - c) for g, c in zip(got, correct, strict=True)) > 1.0
