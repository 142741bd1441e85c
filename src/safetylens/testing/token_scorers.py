"""Token-level access to a model, which the test server needs for prompt log-probabilities.

A :class:`~safetylens.models.base.ModelBackend` answers summed log-likelihoods only; an
OpenAI-compatible server must also return each prompt token's string, log-probability and top
alternatives (``echo=True, logprobs=k``; vLLM's ``prompt_logprobs``). :class:`TokenScorer` is that
interface, and :class:`TransformersScorer` implements it for a transformers causal LM.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from safetylens.errors import BackendUnavailable


@dataclass(frozen=True)
class TokenScore:
    """One prompt position's score.

    Attributes:
        logprob: Natural-log probability of the prompt's token at this position.
        rank: 1 + the number of vocabulary tokens more probable than it (1 = greedy).
        top: The ``k`` most probable ``(token_id, logprob)`` pairs, best first.
    """

    logprob: float
    rank: int
    top: tuple[tuple[int, float], ...]


@runtime_checkable
class TokenScorer(Protocol):
    """Tokenisation and per-position log-probabilities of one model."""

    def prefix_ids(self) -> list[int]:
        """Tokens the model puts before every prompt (a BOS token, or none)."""
        ...

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        ...

    def token_text(self, token_id: int) -> str:
        """The text of one token as a server shows it (a partial UTF-8 sequence decodes to U+FFFD)."""
        ...

    def score(self, ids: Sequence[int], top_k: int) -> list[TokenScore]:
        """Scores of positions ``1 .. len(ids) - 1``, each given the tokens before it."""
        ...


class TransformersScorer:
    """A :class:`TokenScorer` over a transformers causal LM and its tokenizer.

    Args:
        model: A ``transformers`` causal language model (evaluation mode is set here).
        tokenizer: Its tokenizer.
    """

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, gguf_file: str | None = None) -> TransformersScorer:
        """Load a model directory, or a GGUF file (``path`` may be the file itself).

        Raises:
            BackendUnavailable: transformers or torch is not installed.
        """
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise BackendUnavailable(
                "the transformers scorer needs torch and transformers", hint="pip install 'safetylens[hf]'"
            ) from exc
        p = Path(path)
        kwargs: dict[str, Any] = {}
        if p.is_file() and p.suffix == ".gguf":
            kwargs["gguf_file"] = p.name
            p = p.parent
        elif gguf_file:
            kwargs["gguf_file"] = gguf_file
        tokenizer = AutoTokenizer.from_pretrained(str(p), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(str(p), **kwargs)
        return cls(model, tokenizer)

    @classmethod
    def from_backend(cls, backend: Any) -> TransformersScorer | None:
        """Reuse a backend's transformers model and tokenizer when it exposes them, else None."""
        model = getattr(backend, "model", None)
        tokenizer = getattr(backend, "tokenizer", None)
        if model is None or tokenizer is None or not hasattr(tokenizer, "convert_ids_to_tokens"):
            return None
        if not callable(model) or not hasattr(model, "config"):
            return None
        return cls(model, tokenizer)

    def prefix_ids(self) -> list[int]:
        """The BOS token when the tokenizer adds one to every text, else none."""
        with_special = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        without = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        return list(with_special[: len(with_special) - len(without)]) if len(with_special) > len(without) else []

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def token_text(self, token_id: int) -> str:
        """The decoded text of one token."""
        return str(self.tokenizer.decode([token_id]))

    def score(self, ids: Sequence[int], top_k: int) -> list[TokenScore]:
        """Scores of positions ``1 .. len(ids) - 1`` from one forward pass."""
        import torch

        if len(ids) < 2:
            return []
        with self._lock, torch.no_grad():
            device = next(self.model.parameters()).device
            tensor = torch.tensor([list(ids)], dtype=torch.long, device=device)
            logits = self.model(tensor).logits[0, :-1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            targets = tensor[0, 1:]
            own = logprobs.gather(1, targets[:, None])[:, 0]
            ranks = (logprobs > own[:, None]).sum(dim=1) + 1
            k = max(1, top_k)
            top_values, top_ids = logprobs.topk(k, dim=-1)
        return [
            TokenScore(
                float(own[i]),
                int(ranks[i]),
                tuple((int(t), float(v)) for t, v in zip(top_ids[i].tolist(), top_values[i].tolist(), strict=True)),
            )
            for i in range(len(ids) - 1)
        ]
