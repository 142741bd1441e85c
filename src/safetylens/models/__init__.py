"""Model backends behind one protocol (:class:`~safetylens.models.base.ModelBackend`).

:func:`load_backend` turns a :class:`~safetylens.spec.ModelSpec` into a backend: ``hf`` for local
directories, GGUF files, hub ids and the built-in model; ``openai`` when server URLs are given;
``llamacpp`` only when asked for. The choice is never silent: it is part of the manifest and of
every cache key.

The built-in GGUF model stays on ``hf`` even where llama-cpp-python is installed, although
llama.cpp generates several times faster on a CPU: the same spec must give the same numbers on
every machine, whichever optional packages it has, and llama.cpp's log-likelihoods differ from
transformers' by a fraction of a nat per answer, so ``truthfulqa-mc`` would no longer match
lm-evaluation-harness and every cached result would be keyed to a different backend. Ask for it
with ``--backend llamacpp`` (``model.backend: llamacpp``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from safetylens.models.builtin import BUILTIN_NAMES

if TYPE_CHECKING:
    from safetylens.spec import ModelSpec


def resolve_backend_name(spec: ModelSpec) -> str:
    """The backend a spec selects: explicit, else ``openai`` with server URLs, else ``hf``."""
    if spec.backend:
        return spec.backend
    return "openai" if spec.base_urls else "hf"


def load_backend(spec: ModelSpec) -> ModelBackend:
    """Create the backend for a model spec.

    Raises:
        ConfigError: Inconsistent settings (for example ``llamacpp`` without a GGUF file).
        BackendUnavailable: The backend's optional dependency is missing (with an install hint).
        ModelError: The model cannot be loaded or the server cannot be reached.
    """
    name = resolve_backend_name(spec)
    if name == "hf":
        from safetylens.models.hf import HFBackend

        backend: ModelBackend = HFBackend.from_spec(spec)
        return backend
    if name == "openai":
        from safetylens.models.openai_compat import OpenAIBackend

        server: ModelBackend = OpenAIBackend.from_spec(spec)
        return server
    if name == "llamacpp":
        from safetylens.models.llamacpp import LlamaCppBackend

        llama: ModelBackend = LlamaCppBackend.from_spec(spec)
        return llama
    from safetylens.errors import ConfigError

    raise ConfigError(f"unknown backend {name!r}", hint="use hf, openai or llamacpp")


__all__ = [
    "BUILTIN_NAMES",
    "Decoding",
    "GenerationRequest",
    "GenerationResult",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "Message",
    "ModelBackend",
    "ModelIdentity",
    "Prompt",
    "load_backend",
    "resolve_backend_name",
]
