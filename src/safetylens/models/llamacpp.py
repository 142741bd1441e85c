"""In-process GGUF models through llama-cpp-python (optional extra ``llamacpp``).

llama-cpp-python compiles llama.cpp when it is installed (``pip install 'safetylens[llamacpp]'``;
``CMAKE_ARGS="-DGGML_NATIVE=OFF"`` for a build that runs on other CPUs). The core never needs it.

- Generation: greedy or seeded sampling with the same definition as the ``hf`` backend
  (temperature, then top-p over the tempered distribution, then a draw from a generator seeded by
  :meth:`~safetylens.models.base.GenerationRequest.sample_seed`), done here in NumPy over the
  model's logits; stop sequences cut the output before their first occurrence. Chats are rendered
  with the GGUF file's chat template (or a ``chat_template`` file override) through
  llama-cpp-python's transformers-compatible Jinja formatter and tokenised without adding special
  tokens; raw prompts get the model's usual BOS (unless they already start with it).
- Log-likelihood: lm-evaluation-harness' definition, as in the ``hf`` backend: the context's
  trailing whitespace moves to the continuation, ``context + continuation`` and the context are
  tokenised separately (no BOS), the continuation's tokens are the whole's tokens after the
  context's, and they are scored after the context's own tokens. An empty context is replaced by
  the BOS (else EOS) token. The context is evaluated on its own and its KV cache reused for the
  next continuation of the same context; the continuation is then evaluated as one batch, so every
  number depends on its request alone, never on request order.

llama.cpp quantises activations inside its dot products, so its log-likelihoods differ from the
``hf`` backend's by a fraction of a nat on the same GGUF file: the backend name and version are
part of every cache key, and numbers should be compared only between identical backends.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from safetylens.errors import BackendUnavailable, ConfigError, ModelError
from safetylens.models.base import (
    BackendStats,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelIdentity,
    Prompt,
)
from safetylens.models.builtin import BUILTIN_NAMES, builtin_gguf_path
from safetylens.util import sha256_file, sha256_text

if TYPE_CHECKING:
    from safetylens.spec import ModelSpec

INSTALL_HINT = (
    "pip install 'safetylens[llamacpp]'  (compiles llama.cpp, 5-10 min; set CMAKE_ARGS=\"-DGGML_NATIVE=OFF\""
    " for a build that also runs on other CPUs)"
)
DEFAULT_N_CTX = 2048
N_BATCH = 512


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendUnavailable(
            "the llamacpp backend needs llama-cpp-python, which is not installed", hint=INSTALL_HINT
        ) from exc
    return llama_cpp


def resolve_gguf(name: str, gguf_file: str | None = None) -> Path:
    """The GGUF file a model name designates: the built-in model, a file, or a file in a directory.

    Raises:
        ConfigError: Not a GGUF file, or a directory without an unambiguous one.
    """
    if name in BUILTIN_NAMES:
        return builtin_gguf_path()
    path = Path(name).expanduser()
    if path.is_dir():
        if gguf_file:
            candidate = path / gguf_file
            if not candidate.is_file():
                raise ConfigError(f"{candidate} does not exist")
            return candidate
        files = sorted(path.glob("*.gguf"))
        if len(files) != 1:
            raise ConfigError(f"{path} holds {len(files)} GGUF files", hint="name one with model.gguf_file")
        return files[0]
    if path.is_file():
        if path.suffix != ".gguf":
            raise ConfigError(f"{path} is not a .gguf file", hint="the llamacpp backend reads GGUF files only")
        return path
    raise ConfigError(
        f"model {name!r} is not a GGUF file or a directory holding one",
        hint="the llamacpp backend loads local GGUF files (or 'builtin'); use the hf backend for hub ids",
    )


def _log_softmax(logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    x = logits.astype(np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    out: np.ndarray[Any, Any] = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


class LlamaCppBackend:
    """A GGUF model run in process by llama.cpp.

    Args:
        model_path: The GGUF file.
        name: The model name recorded in the identity (default: the file name).
        threads: CPU threads (default: llama.cpp's choice).
        n_ctx: Context window in tokens (prompt plus generation).
        batch_size: Requests handed over per wave.
        chat_template: Path of a Jinja chat template overriding the GGUF's own.

    Raises:
        BackendUnavailable: llama-cpp-python is not installed.
        ModelError: The file cannot be loaded.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        name: str | None = None,
        threads: int | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        batch_size: int = 8,
        chat_template: str | Path | None = None,
    ) -> None:
        llama_cpp = _import_llama_cpp()
        self._llama_cpp = llama_cpp
        self.path = Path(model_path)
        if not self.path.is_file():
            raise ConfigError(f"GGUF file not found: {self.path}")
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_batch=N_BATCH,
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=True,  # log-likelihood and our own sampler read every position's logits
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp cannot load {self.path}: {exc}") from exc
        self.name = name or self.path.name
        self.n_ctx = n_ctx
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._kv_context: list[int] | None = None  # tokens whose KV cache was built by eval(context) alone
        self.stats = BackendStats()
        metadata: dict[str, str] = dict(self.llm.metadata or {})
        self._bos = self.llm.token_bos()
        self._eos = self.llm.token_eos()
        self._bos_text = self._piece(self._bos) if self._bos >= 0 else ""
        self._eos_text = self._piece(self._eos) if self._eos >= 0 else ""
        template_source: str | None
        if chat_template is not None:
            template_path = Path(chat_template).expanduser()
            try:
                template: str | None = template_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read chat template {template_path}: {exc}") from exc
            template_source = str(template_path.resolve())
        else:
            template = metadata.get("tokenizer.chat_template") or None
            template_source = "gguf" if template else None
        self.chat_template = template
        self._formatter: Any = None
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(
                template=template, eos_token=self._eos_text, bos_token=self._bos_text, add_generation_prompt=True
            )
        self._identity = ModelIdentity(
            backend="llamacpp",
            backend_version=str(llama_cpp.__version__),
            model=self.name,
            weights_sha256=sha256_file(self.path),
            dtype=metadata.get("general.file_type"),
            chat_template=template,
            chat_template_sha256=sha256_text(template) if template else None,
            chat_template_source=template_source,
            extra={"n_batch": str(N_BATCH)},
            info={
                "path": str(self.path),
                "n_ctx": n_ctx,
                "threads": threads,
                "architecture": metadata.get("general.architecture"),
            },
        )

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> LlamaCppBackend:
        """Create the backend from a model spec (``builtin``, a GGUF file, or a directory with one)."""
        path = resolve_gguf(spec.name, spec.gguf_file)
        return cls(
            path,
            name=spec.name,
            threads=spec.threads,
            batch_size=spec.batch_size,
            chat_template=spec.chat_template,
        )

    # ----------------------------------------------------------------------------------- protocol

    @property
    def identity(self) -> ModelIdentity:
        """Backend ``llamacpp``, the llama-cpp-python version, the GGUF file's sha256 and template."""
        return self._identity

    @property
    def batch_size(self) -> int:
        """Requests per wave (they run one after another)."""
        return self._batch_size

    @property
    def is_chat(self) -> bool:
        """Whether the GGUF file (or the override) provides a chat template."""
        return self._formatter is not None

    @property
    def supports_loglikelihood(self) -> bool:
        """Always True."""
        return True

    def request_length(self, request: GenerationRequest | LoglikelihoodRequest) -> int:
        """Characters (a cheap proxy for tokens)."""
        if isinstance(request, LoglikelihoodRequest):
            return len(request.context) + len(request.continuation)
        prompt = request.prompt
        return len(prompt) if isinstance(prompt, str) else sum(len(m.content) for m in prompt)

    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees: raw text as is, chats through the chat template.

        Raises:
            ModelError: A chat prompt for a model without a chat template.
        """
        if isinstance(prompt, str):
            return prompt
        if self._formatter is None:
            raise ModelError(
                f"{self.name} has no chat template, but a benchmark sent a chat",
                hint="set model.chat=no, or give a template with model.chat_template",
            )
        try:
            response = self._formatter(messages=[m.to_json() for m in prompt])
        except Exception as exc:  # the template is a Jinja program: any error is the template's
            raise ModelError(f"the chat template of {self.name} failed: {exc}") from exc
        return str(response.prompt)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Generate one completion per request, in order."""
        self.stats.generate_calls += 1
        self.stats.generate_requests += len(requests)
        with self._lock:
            return [self._generate_one(r) for r in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """Score every request (lm-evaluation-harness' definition, see the module docs)."""
        self.stats.loglikelihood_calls += 1
        self.stats.loglikelihood_requests += len(requests)
        with self._lock:
            return [self._loglikelihood_one(r) for r in requests]

    def close(self) -> None:
        """Free the model."""
        with self._lock:
            self.llm.close()

    # -------------------------------------------------------------------------------- internals

    def _piece(self, token: int) -> str:
        return bytes(self.llm.detokenize([token], special=True)).decode("utf-8", errors="replace")

    def _tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        # special=True: special-token text is parsed as such, as transformers tokenizers do.
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def _prompt_ids(self, prompt: Prompt) -> tuple[str, list[int]]:
        rendered = self.render(prompt)
        if isinstance(prompt, str):
            add_bos = not (self._bos_text and rendered.startswith(self._bos_text))
            return rendered, self._tokenize(rendered, add_bos=add_bos)
        return rendered, self._tokenize(rendered, add_bos=False)

    def _is_end(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token)) or token == self._eos

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        decoding = request.decoding
        rendered, ids = self._prompt_ids(request.prompt)
        if not ids:
            ids = [self._bos if self._bos >= 0 else self._eos]
        if len(ids) >= self.n_ctx:
            raise ModelError(
                f"the prompt has {len(ids)} tokens; the context window is {self.n_ctx}",
                hint="shorten the prompt or raise the llamacpp n_ctx",
            )
        rng = np.random.default_rng(request.sample_seed())
        llm = self.llm
        self._kv_context = None
        llm.reset()
        llm.eval(ids)
        out: list[int] = []
        finish: Literal["stop", "eos", "length"] = "length"
        text = ""
        while len(out) < decoding.max_new_tokens and llm.n_tokens < self.n_ctx:
            logits = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            token = self._sample(logits, decoding.temperature, decoding.top_p, rng)
            if self._is_end(token):
                finish = "eos"
                break
            out.append(token)
            if decoding.stop:
                text = bytes(llm.detokenize(out)).decode("utf-8", errors="ignore")
                cuts = [i for s in decoding.stop if s and (i := text.find(s)) >= 0]
                if cuts:
                    return GenerationResult(text[: min(cuts)], "stop", len(ids), len(out), rendered)
            llm.eval([token])
        text = bytes(llm.detokenize(out)).decode("utf-8", errors="replace")
        return GenerationResult(text, finish, len(ids), len(out), rendered)

    @staticmethod
    def _sample(logits: np.ndarray[Any, Any], temperature: float, top_p: float, rng: np.random.Generator) -> int:
        if temperature == 0.0:
            return int(np.argmax(logits))
        scaled = logits / temperature
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        if top_p < 1.0:
            order = np.argsort(-probs, kind="stable")
            sorted_probs = probs[order]
            # Keep the smallest set of most probable tokens whose mass reaches top_p.
            keep = (np.cumsum(sorted_probs) - sorted_probs) < top_p
            kept = order[keep]
            weights = probs[kept] / probs[kept].sum()
            return int(kept[rng.choice(len(kept), p=weights)])
        return int(rng.choice(len(probs), p=probs))

    def _loglikelihood_one(self, request: LoglikelihoodRequest) -> LoglikelihoodResult:
        context, continuation = request.context, request.continuation
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self._tokenize(context + continuation, add_bos=False)
        if context:
            context_ids = self._tokenize(context, add_bos=False)
            cont_ids = whole[len(context_ids) :]
        else:
            context_ids = [self._bos if self._bos >= 0 else self._eos]
            cont_ids = whole
        if not cont_ids:
            return LoglikelihoodResult(0.0, True, 0)
        if len(context_ids) + len(cont_ids) > self.n_ctx + 1:
            raise ModelError(
                f"context plus continuation is {len(context_ids) + len(cont_ids)} tokens; the window is {self.n_ctx}",
                hint="raise the llamacpp n_ctx",
            )
        llm = self.llm
        n = len(context_ids)
        if self._kv_context != context_ids:
            llm.reset()
            llm.eval(context_ids)
            self._kv_context = list(context_ids)
        # Drop the previous continuation from the KV cache; the context's own rows stay valid.
        llm.n_tokens = n
        if len(cont_ids) > 1:
            llm.eval(cont_ids[:-1])
        rows = np.asarray(llm.scores[n - 1 : n - 1 + len(cont_ids)])
        logprobs = _log_softmax(rows)
        target = np.asarray(cont_ids)
        picked = logprobs[np.arange(len(cont_ids)), target]
        greedy = bool((rows.argmax(axis=-1) == target).all())
        return LoglikelihoodResult(float(picked.sum()), greedy, len(cont_ids))
