"""The one protocol every model backend implements, and the request/result types it speaks.

A backend answers two kinds of request:

- :class:`GenerationRequest`: a prompt (raw text, or chat messages the backend formats with the
  model's chat template) and decoding parameters; the answer is a :class:`GenerationResult`.
- :class:`LoglikelihoodRequest`: a context and a continuation; the answer is the summed
  log-probability of the continuation's tokens given the context, and whether the continuation is
  what greedy decoding would produce (lm-evaluation-harness' definition), as a
  :class:`LoglikelihoodResult`.

Backends never see the cache: :class:`safetylens.cache.CachedModel` wraps them, plans batches and
stores results. Everything that can change a result must be in :attr:`ModelBackend.identity`'s
fingerprint or in the request itself, because together they form the cache key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from safetylens.util import canonical_json


@dataclass(frozen=True)
class Message:
    """One chat turn."""

    role: Literal["system", "user", "assistant"]
    content: str

    def to_json(self) -> dict[str, str]:
        """Return the OpenAI-style dict form."""
        return {"role": self.role, "content": self.content}


Prompt = str | tuple[Message, ...]
"""Raw text for a completion, or a conversation the backend formats with its chat template."""


def prompt_to_json(prompt: Prompt) -> str | list[dict[str, str]]:
    """Return a JSON-serialisable form of a prompt."""
    return prompt if isinstance(prompt, str) else [m.to_json() for m in prompt]


class Decoding(BaseModel):
    """Decoding parameters of a generation request.

    ``temperature == 0`` means greedy decoding (``top_p`` is then ignored). Sampling is seeded per
    request (see :meth:`GenerationRequest.sample_seed`), so results do not depend on request order
    or batch composition.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(0.1, ge=0.0, description="0 = greedy")
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_new_tokens: int = Field(256, ge=1)
    stop: tuple[str, ...] = Field((), description="stop sequences; the output is cut before the first")
    seed: int = 0

    @property
    def greedy(self) -> bool:
        """Whether this is greedy decoding."""
        return self.temperature == 0.0


@dataclass(frozen=True)
class GenerationRequest:
    """A prompt to complete."""

    prompt: Prompt
    decoding: Decoding

    def to_json(self) -> dict[str, Any]:
        """Return the canonical dict form (part of the cache key)."""
        return {"prompt": prompt_to_json(self.prompt), "decoding": self.decoding.model_dump(mode="json")}

    def sample_seed(self) -> int:
        """Seed for this request's sampling: a function of the run seed and the request alone."""
        digest = hashlib.sha256(canonical_json(self.to_json()).encode()).digest()
        return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class GenerationResult:
    """A completion.

    Attributes:
        text: The generated text, cut before the first stop sequence, without special tokens.
        finish_reason: ``"stop"`` (a stop sequence), ``"eos"`` (end-of-sequence token) or ``"length"``.
        prompt_tokens: Number of prompt tokens, when known.
        completion_tokens: Number of generated tokens, when known.
        rendered_prompt: The exact text given to the model after chat formatting; None when the
            server formats it.
    """

    text: str
    finish_reason: Literal["stop", "eos", "length"]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    rendered_prompt: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the dict form stored in the cache and in generations.jsonl."""
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "rendered_prompt": self.rendered_prompt,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> GenerationResult:
        """Inverse of :meth:`to_json`."""
        return cls(**obj)


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``continuation`` after ``context``.

    As in lm-evaluation-harness, trailing spaces of the context move to the start of the
    continuation, the pair is tokenised as a whole, and the continuation's tokens are those after
    the context's own tokenisation. An empty context is replaced by the model's prefix token.
    """

    context: str
    continuation: str

    def to_json(self) -> dict[str, Any]:
        """Return the canonical dict form (part of the cache key)."""
        return {"context": self.context, "continuation": self.continuation}


@dataclass(frozen=True)
class LoglikelihoodResult:
    """Summed log-probability of a continuation.

    Attributes:
        logprob: Sum of the natural-log probabilities of the continuation's tokens.
        is_greedy: Whether every continuation token is the argmax at its position.
        n_tokens: Number of continuation tokens.
    """

    logprob: float
    is_greedy: bool
    n_tokens: int

    def to_json(self) -> dict[str, Any]:
        """Return the dict form stored in the cache."""
        return {"logprob": self.logprob, "is_greedy": self.is_greedy, "n_tokens": self.n_tokens}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> LoglikelihoodResult:
        """Inverse of :meth:`to_json`."""
        return cls(**obj)


class ModelIdentity(BaseModel):
    """What a backend is serving, for the manifest and the cache key.

    ``fingerprint()`` holds everything that can change a result and is hashed into every cache key;
    fields in ``info`` are recorded in the manifest but are not part of the key (for example the
    list of replica URLs, which does not change what a given server answers).
    """

    model_config = ConfigDict(frozen=True)

    backend: str
    backend_version: str
    model: str
    revision: str | None = None
    weights_sha256: str | None = None
    dtype: str | None = None
    chat_template: str | None = None
    chat_template_sha256: str | None = None
    chat_template_source: str | None = Field(
        None, description="where the template came from: 'tokenizer', a file path, or 'server'"
    )
    extra: dict[str, str] = Field(default_factory=dict, description="other result-affecting settings")
    info: dict[str, Any] = Field(default_factory=dict, description="recorded, not part of the cache key")

    def fingerprint(self) -> dict[str, Any]:
        """Return the result-affecting fields."""
        return self.model_dump(mode="json", exclude={"info", "chat_template", "chat_template_source"})


@runtime_checkable
class ModelBackend(Protocol):
    """A model that can generate text and score continuations.

    Implementations: :mod:`safetylens.models.hf` (transformers, local directories, hub ids and GGUF
    files), :mod:`safetylens.models.openai_compat` (vLLM, llama.cpp server, Ollama, TGI, OpenAI) and
    :mod:`safetylens.models.llamacpp` (llama-cpp-python in process).
    """

    @property
    def identity(self) -> ModelIdentity:
        """What is being served, for the manifest and the cache key."""
        ...

    @property
    def batch_size(self) -> int:
        """How many requests to hand over at once.

        For local models, a batch for each batch decoded at once; for servers, a wave.
        """
        ...

    @property
    def is_chat(self) -> bool:
        """Whether the model has a chat template (benchmarks format prompts as chats by default)."""
        ...

    @property
    def supports_loglikelihood(self) -> bool:
        """Whether :meth:`loglikelihood` can be served."""
        ...

    def request_length(self, request: GenerationRequest | LoglikelihoodRequest) -> int:
        """A cheap length measure used to sort requests into batches (tokens or characters)."""
        ...

    def render(self, prompt: Prompt) -> str | None:
        """Return the exact text the model would see for ``prompt``; None when a server formats chats."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Generate one completion per request, in order."""
        ...

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """Score every request, in order."""
        ...

    def close(self) -> None:
        """Release memory, connections and threads."""
        ...


@dataclass
class BackendStats:
    """Counters a backend may expose for benchmarks and tests."""

    generate_calls: int = 0
    generate_requests: int = 0
    loglikelihood_calls: int = 0
    loglikelihood_requests: int = 0
    extra: dict[str, int] = field(default_factory=dict)
