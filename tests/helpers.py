"""Test doubles for plumbing tests (cache, pipeline). Model behaviour itself is tested with the real model.

`CountingBackend` is a deterministic, fully implemented ModelBackend over a trivial "model": it echoes a
transformation of the prompt and scores continuations by a closed-form rule. It counts every request it
serves so tests can assert what was computed and what came from the cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from safetylens.models.base import (
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelIdentity,
    Prompt,
)


class CountingBackend:
    def __init__(self, name: str = "counting", batch_size: int = 4, version: str = "1") -> None:
        self._identity = ModelIdentity(backend="counting", backend_version=version, model=name)
        self._batch = batch_size
        self.generate_calls: list[int] = []
        self.loglikelihood_calls: list[int] = []
        self.closed = False

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    @property
    def batch_size(self) -> int:
        return self._batch

    @property
    def is_chat(self) -> bool:
        return False

    @property
    def supports_loglikelihood(self) -> bool:
        return True

    def request_length(self, request: GenerationRequest | LoglikelihoodRequest) -> int:
        if isinstance(request, GenerationRequest):
            return len(self.render(request.prompt) or "")
        return len(request.context) + len(request.continuation)

    def render(self, prompt: Prompt) -> str | None:
        return prompt if isinstance(prompt, str) else "\n".join(f"{m.role}: {m.content}" for m in prompt)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.generate_calls.append(len(requests))
        out = []
        for r in requests:
            text = (self.render(r.prompt) or "")[::-1][: r.decoding.max_new_tokens]
            if r.decoding.temperature > 0:
                text += f"#{r.sample_seed() % 1000}"
            out.append(
                GenerationResult(
                    text=text,
                    finish_reason="length",
                    prompt_tokens=len(text),
                    completion_tokens=len(text),
                    rendered_prompt=self.render(r.prompt),
                )
            )
        return out

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.loglikelihood_calls.append(len(requests))
        return [
            LoglikelihoodResult(
                logprob=-math.log(1 + len(r.continuation)) - 0.01 * len(r.context),
                is_greedy=len(r.continuation) < 3,
                n_tokens=len(r.continuation),
            )
            for r in requests
        ]

    def close(self) -> None:
        self.closed = True
