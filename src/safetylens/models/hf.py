"""The ``hf`` backend: models run in process with PyTorch and transformers.

Loading (source resolution, hashing, the GGUF conversion cache) is in
:mod:`safetylens.models.hf_loading`; its public names are importable from here as well.

Generation uses its own decoding loop instead of ``model.generate`` so that every row samples from
its own seeded generator (seed = :meth:`GenerationRequest.sample_seed`): sampled text does not
depend on which other requests share the batch, or on their order. On a CPU, several batches (of
generation and of log-likelihood scoring) run at once, each on its own thread with a share of the
torch threads (``decode_workers``): a small model's forward pass is hundreds of small operations,
and waking a second OpenMP thread for each one costs more than it gains (measured: one batch on 2
threads keeps 1.3 of 2 cores busy), while two batches on one thread each keep both cores busy. A
batch is the same set of requests either way.

Log-likelihoods follow lm-evaluation-harness 0.4 (``HFLM._encode_pair`` /
``_loglikelihood_tokens``) exactly. When several continuations share a context (TruthfulQA scores
every answer after the same few-shot preamble and question), the shared-context path runs each
context once, keeps its KV cache, and scores the continuations on top of it; a token prefix common
to all contexts of a call (the preamble) is computed only once.
"""

from __future__ import annotations

import gc
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from safetylens.errors import ConfigError, ModelError
from safetylens.models.base import (
    BackendStats,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelIdentity,
    Prompt,
)
from safetylens.models.chat import ChatFormatter, ChatTemplate, load_template_file, template_from_tokenizer
from safetylens.models.hf_loading import CONVERT_MANIFEST as CONVERT_MANIFEST
from safetylens.models.hf_loading import HASH_MEMO as HASH_MEMO
from safetylens.models.hf_loading import INSTALL_HINT as INSTALL_HINT
from safetylens.models.hf_loading import ModelSource as ModelSource
from safetylens.models.hf_loading import _commit_of as _commit_of
from safetylens.models.hf_loading import _import_stack as _import_stack
from safetylens.models.hf_loading import _load_directory, _load_gguf, _resolve_device, _resolve_dtype
from safetylens.models.hf_loading import conversion_dir as conversion_dir
from safetylens.models.hf_loading import conversion_is_valid as conversion_is_valid
from safetylens.models.hf_loading import directory_hashes as directory_hashes
from safetylens.models.hf_loading import file_sha256 as file_sha256
from safetylens.models.hf_loading import resolve_source as resolve_source
from safetylens.util import chunks

if TYPE_CHECKING:
    import torch

    from safetylens.spec import ModelSpec

# lm-evaluation-harness' fallback when neither the config nor the tokenizer states a maximum length.
_DEFAULT_MAX_LENGTH = 2048
_UNSET_MODEL_MAX_LENGTH = 1000000000000000019884624838656
# Rows of continuation hidden states projected to the vocabulary at once (bounds the N x V logits).
_HEAD_CHUNK = 1024
# A prefix common to all contexts of a call is computed once when at least this long.
_MIN_SHARED_PREFIX = 16
_MEMO_SIZE = 16384
_T = TypeVar("_T")


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------


@dataclass
class _GenRow:
    """One generation request in flight."""

    index: int
    text: str
    ids: list[int]
    max_new: int
    stops: tuple[str, ...]
    temperature: float
    top_p: float
    generator: Any  # torch.Generator, or None for greedy decoding
    tokens: list[int] = field(default_factory=list)
    n_generated: int = 0
    finish: Literal["stop", "eos", "length"] | None = None
    out_text: str | None = None


@dataclass(frozen=True)
class _LLItem:
    """One log-likelihood request as tokens: context (never empty) and continuation."""

    index: int
    ctx: tuple[int, ...]
    cont: tuple[int, ...]


def _common_prefix_len(seqs: Sequence[Sequence[int]]) -> int:
    if not seqs:
        return 0
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for i in range(n):
        tok = first[i]
        if any(s[i] != tok for s in seqs):
            return i
    return n


def _apply_cpu_kernel(model: Any, requested: str) -> tuple[str, int]:
    """Pack the model's linear layers for oneDNN when that is the kernel chosen; (kernel, layers packed)."""
    from safetylens.models.cpu_kernels import pack_linears, resolve_kernel

    try:
        kernel = resolve_kernel(requested, model)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="use cpu_kernel=auto or cpu_kernel=torch") from exc
    return kernel, pack_linears(model) if kernel == "onednn" else 0


class HFBackend:
    """A causal language model run in process with transformers.

    Args:
        model: A loaded transformers causal LM (on its device, in eval mode).
        tokenizer: Its tokenizer.
        model_name: The name recorded in the identity.
        weights_sha256: Hash of the weights (the GGUF file's for converted models).
        revision: Hub commit, if any.
        batch_size: Requests per forward batch.
        decode_workers: Batches run at once on a CPU, each on ``threads // decode_workers`` torch
            threads (None: 2 when torch has 2 or more threads, else 1; always 1 on an accelerator).
        chat_template: Template override; None uses the tokenizer's own (if any).
        shared_context: Score continuations of a shared context on top of its KV cache (same
            results as the plain path to ~1e-5, several times faster for multiple choice).
        extra: Further result-affecting settings for the fingerprint.
        info: Facts recorded in the manifest but not part of the cache key.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_name: str,
        weights_sha256: str | None,
        revision: str | None = None,
        batch_size: int = 8,
        decode_workers: int | None = None,
        chat_template: ChatTemplate | None = None,
        shared_context: bool = True,
        extra: dict[str, str] | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        torch, transformers = _import_stack()
        self._torch = torch
        self._model: Any = model.eval()
        self._tok: Any = tokenizer
        self._device = next(model.parameters()).device
        self._batch_size = max(1, int(batch_size))
        self._decode_workers = self._resolve_decode_workers(decode_workers)
        self._stats_lock = threading.Lock()
        template = chat_template or template_from_tokenizer(tokenizer)
        self._chat = ChatFormatter(tokenizer, template)
        self.stats = BackendStats()
        self._gen_memo: OrderedDict[Prompt, tuple[str, list[int]]] = OrderedDict()
        self._ll_memo: OrderedDict[tuple[str, str], tuple[tuple[int, ...], tuple[int, ...]]] = OrderedDict()
        # The last shared prefix scored and its KV cache (one entry: a few MB for a few-shot preamble).
        self._prefix_memo: tuple[tuple[int, ...], list[tuple[Any, Any]]] | None = None

        config = model.config
        # lm-evaluation-harness adds special tokens to log-likelihood inputs only for Gemma, whose
        # outputs degrade badly without BOS; every other model is scored without them.
        self._ll_add_special = "gemma" in str(getattr(config, "model_type", ""))
        self._max_length = self._find_max_length(config, tokenizer)
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self._pad_id = int(pad)
        self._prefix_id = int(tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id)
        self._eos_ids = self._find_eos_ids(model, tokenizer)

        fwd = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in fwd else "past_key_values"
        self._has_logits_to_keep = "logits_to_keep" in fwd
        self._base: Any = getattr(model, "base_model", None)
        self._head: Any = model.get_output_embeddings()
        self._base_cache_kw = self._cache_kw
        if self._base is not None and self._base is not model:
            bfwd = inspect.signature(self._base.forward).parameters
            self._base_cache_kw = "cache" if "cache" in bfwd else "past_key_values"
        self._head_ok = self._check_head()
        self._cache_ok = self._check_cache_layers()
        self._shared_context = bool(shared_context) and self._cache_ok

        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self._identity = ModelIdentity(
            backend="hf",
            backend_version=transformers.__version__,
            model=model_name,
            revision=revision,
            weights_sha256=weights_sha256,
            dtype=dtype,
            chat_template=template.text if template else None,
            chat_template_sha256=template.sha256 if template else None,
            chat_template_source=template.source if template else None,
            extra={
                "torch": torch.__version__,
                "loglikelihood_add_special_tokens": str(self._ll_add_special).lower(),
                **(extra or {}),
            },
            info={
                "device": str(self._device),
                "threads": torch.get_num_threads() if self._device.type == "cpu" else None,
                "decode_workers": self._decode_workers,
                "shared_context": self._shared_context,
                "max_length": self._max_length,
                "eos_token_ids": sorted(self._eos_ids),
                "attn_implementation": getattr(config, "_attn_implementation", None),
                **(info or {}),
            },
        )

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, shared_context: bool = True) -> HFBackend:
        """Load the model a spec names.

        Raises:
            BackendUnavailable: torch, transformers (or the built-in model) are not installed.
            ConfigError: Invalid device or contradictory settings.
            ModelError: The model cannot be found or loaded.
        """
        torch, transformers = _import_stack()
        if spec.threads:
            torch.set_num_threads(spec.threads)
        device = _resolve_device(torch, spec.device)
        dtype = _resolve_dtype(torch, spec.dtype, device)
        override = load_template_file(spec.chat_template) if spec.chat_template else None
        source = resolve_source(spec)
        start = time.perf_counter()
        extra: dict[str, str] = {}
        info: dict[str, Any] = {"source": str(source.path), "source_kind": source.kind}
        if source.hub_id:
            info["hub_id"] = source.hub_id
            info["requested_revision"] = spec.revision
        if source.kind == "gguf":
            model, tokenizer, weights_sha, load_info = _load_gguf(torch, transformers, source, dtype)
            info.update(load_info)
            extra["weights_format"] = "gguf"
        else:
            weights_sha, config_sha = directory_hashes(source.path)
            model, tokenizer = _load_directory(transformers, source, dtype, device)
            extra["config_sha256"] = config_sha
        if next(model.parameters()).device != device:
            model = model.to(device)
        extra["cpu_kernel"], info["packed_linear_layers"] = _apply_cpu_kernel(model, spec.cpu_kernel or "auto")
        info["load_seconds"] = round(time.perf_counter() - start, 2)
        return cls(
            model,
            tokenizer,
            model_name=source.name,
            weights_sha256=weights_sha,
            revision=source.revision,
            batch_size=spec.batch_size,
            decode_workers=spec.decode_workers,
            chat_template=override,
            shared_context=shared_context,
            extra=extra,
            info=info,
        )

    def _resolve_decode_workers(self, requested: int | None) -> int:
        if self._device.type != "cpu":
            return 1  # an accelerator runs one batch's operations in parallel already
        threads = int(self._torch.get_num_threads())
        if requested is None:
            return 2 if threads >= 2 else 1
        if requested < 1:
            raise ConfigError(f"decode_workers must be at least 1, not {requested}")
        # Each worker needs a thread of its own; more workers than threads would only take turns.
        return min(int(requested), threads)

    @staticmethod
    def _find_max_length(config: Any, tokenizer: Any) -> int:
        # Same order as lm-evaluation-harness' HFLM.max_length.
        for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
            value = getattr(config, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        tml = getattr(tokenizer, "model_max_length", None)
        if isinstance(tml, int) and 0 < tml != _UNSET_MODEL_MAX_LENGTH:
            return tml
        return _DEFAULT_MAX_LENGTH

    @staticmethod
    def _find_eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
        ids: set[int] = set()
        if tokenizer.eos_token_id is not None:
            ids.add(int(tokenizer.eos_token_id))
        gen_cfg = getattr(model, "generation_config", None)
        value = getattr(gen_cfg, "eos_token_id", None) if gen_cfg is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
        return frozenset(ids)

    def _check_head(self) -> bool:
        """Whether ``lm_head(base_model(x))`` reproduces the model's logits.

        Scoring projects only the continuation positions through the output layer, which needs the
        model's logits to be exactly that projection. Models with extra steps (logit soft-capping,
        scaling) fail this check and are scored through the full forward instead.
        """
        torch = self._torch
        if self._base is None or self._base is self._model or self._head is None:
            return False
        ids = self._tok("The quick brown fox jumps over the lazy dog.", add_special_tokens=False)["input_ids"][:12]
        if len(ids) < 2:
            return False
        x = torch.tensor([ids], device=self._device)
        try:
            with torch.inference_mode():
                full = self._model(input_ids=x).logits.float()
                hidden = self._base(input_ids=x).last_hidden_state
                mine = self._head(hidden).float()
        except Exception:
            return False
        return bool(full.shape == mine.shape and torch.allclose(full, mine, rtol=1e-4, atol=1e-4))

    def _check_cache_layers(self) -> bool:
        """Whether the KV cache is plain full attention (what the shared-context path relies on)."""
        try:
            from transformers.cache_utils import DynamicLayer
        except ImportError:
            return False
        try:
            cache = self._new_cache()
        except Exception:
            return False
        layers = getattr(cache, "layers", None)
        if layers is None or getattr(cache, "layer_class_to_replicate", None) not in (None, DynamicLayer):
            return False
        return all(type(layer) is DynamicLayer for layer in layers)

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self._model.config)
        except TypeError:
            return DynamicCache()

    # ---------------------------------------------------------------- protocol properties

    @property
    def identity(self) -> ModelIdentity:
        """What is being served, for the manifest and the cache key."""
        return self._identity

    @property
    def batch_size(self) -> int:
        """Requests to hand over at once: a forward batch for each decode worker."""
        return self._batch_size * self._decode_workers

    @property
    def forward_batch_size(self) -> int:
        """Requests per forward batch."""
        return self._batch_size

    @property
    def decode_workers(self) -> int:
        """Batches run at once (see the module docs)."""
        return self._decode_workers

    @property
    def is_chat(self) -> bool:
        """Whether a chat template exists (the tokenizer's or an override)."""
        return self._chat.is_chat

    @property
    def supports_loglikelihood(self) -> bool:
        """Always true: local models expose their logits."""
        return True

    @property
    def shared_context(self) -> bool:
        """Whether the shared-context log-likelihood path is enabled."""
        return self._shared_context

    @shared_context.setter
    def shared_context(self, value: bool) -> None:
        self._shared_context = bool(value) and self._cache_ok

    @property
    def model(self) -> Any:
        """The underlying transformers model."""
        return self._model

    @property
    def tokenizer(self) -> Any:
        """The underlying tokenizer."""
        return self._tok

    @property
    def max_length(self) -> int:
        """The model's context length (log-likelihood inputs are left-truncated to it)."""
        return self._max_length

    def render(self, prompt: Prompt) -> str:
        """Return the exact text the model sees for ``prompt``."""
        return self._chat.render(prompt)

    def request_length(self, request: GenerationRequest | LoglikelihoodRequest) -> int:
        """Token count of a request (memoised; used to sort requests into batches)."""
        if isinstance(request, GenerationRequest):
            return len(self._encode_prompt(request.prompt)[1])
        ctx, cont = self._encode_pair(request.context, request.continuation)
        return len(ctx) + len(cont)

    def close(self) -> None:
        """Free the model (and GPU memory)."""
        torch = self._torch
        device_type = self._device.type
        for attr in ("_model", "_base", "_head"):
            setattr(self, attr, None)
        self._gen_memo.clear()
        self._ll_memo.clear()
        self._prefix_memo = None
        gc.collect()
        if device_type == "cuda":
            torch.cuda.empty_cache()

    def _require_model(self) -> Any:
        if self._model is None:
            raise ModelError("this backend has been closed")
        return self._model

    # ---------------------------------------------------------------- tokenisation

    def _encode_prompt(self, prompt: Prompt) -> tuple[str, list[int]]:
        hit = self._gen_memo.get(prompt)
        if hit is not None:
            self._gen_memo.move_to_end(prompt)
            return hit
        value = self._chat.encode(prompt)
        self._gen_memo[prompt] = value
        if len(self._gen_memo) > _MEMO_SIZE:
            self._gen_memo.popitem(last=False)
        return value

    def _tok_ll(self, text: str) -> list[int]:
        return list(self._tok(text, add_special_tokens=self._ll_add_special)["input_ids"])

    def _encode_pair(self, context: str, continuation: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Context and continuation tokens exactly as lm-evaluation-harness 0.4 forms them.

        Trailing whitespace of the context moves to the continuation; the pair is tokenised as a
        whole and the continuation is what follows the context's own tokenisation. An empty
        context becomes the prefix token (BOS if the tokenizer has one, else EOS).
        """
        key = (context, continuation)
        hit = self._ll_memo.get(key)
        if hit is not None:
            self._ll_memo.move_to_end(key)
            return hit
        if context:
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces > 0:
                continuation = context[-n_spaces:] + continuation
                context = context[:-n_spaces]
        if not context:
            # lm-eval substitutes the prefix token for an empty context; a whitespace-only context
            # (which lm-eval would reject) is treated the same way after its spaces moved over.
            value: tuple[tuple[int, ...], tuple[int, ...]] = ((self._prefix_id,), tuple(self._tok_ll(continuation)))
        else:
            whole = self._tok_ll(context + continuation)
            ctx = self._tok_ll(context)
            value = (tuple(ctx), tuple(whole[len(ctx) :]))
        self._ll_memo[key] = value
        if len(self._ll_memo) > _MEMO_SIZE:
            self._ll_memo.popitem(last=False)
        return value

    # ---------------------------------------------------------------- generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Generate one completion per request, in order.

        Raises:
            ModelError: A prompt does not fit in the model's context, or a chat cannot be rendered.
        """
        self._require_model()
        torch = self._torch
        rows: list[_GenRow] = []
        for i, req in enumerate(requests):
            text, ids = self._encode_prompt(req.prompt)
            if not ids:
                raise ModelError(f"request {i}: the prompt is empty after tokenisation")
            room = self._max_length - len(ids)
            if room < 1:
                raise ModelError(
                    f"request {i}: the prompt has {len(ids)} tokens but the model's context is {self._max_length}",
                    hint="shorten the prompt or use a model with a longer context",
                )
            dec = req.decoding
            generator = None
            if not dec.greedy:
                generator = torch.Generator(device="cpu")
                generator.manual_seed(req.sample_seed())
            rows.append(
                _GenRow(
                    index=i,
                    text=text,
                    ids=ids,
                    max_new=min(dec.max_new_tokens, room),
                    stops=tuple(s for s in dec.stop if s),
                    temperature=dec.temperature,
                    top_p=dec.top_p,
                    generator=generator,
                )
            )
        order = sorted(rows, key=lambda r: (-len(r.ids), r.index))
        self._on_workers(self._generate_batch, [list(b) for b in chunks(order, self._batch_size)])
        self.stats.generate_calls += 1
        self.stats.generate_requests += len(rows)
        results: list[GenerationResult] = []
        for r in rows:
            assert r.finish is not None and r.out_text is not None
            results.append(
                GenerationResult(
                    text=r.out_text,
                    finish_reason=r.finish,
                    prompt_tokens=len(r.ids),
                    completion_tokens=r.n_generated,
                    rendered_prompt=r.text,
                )
            )
        return results

    def _on_workers(self, fn: Callable[[_T], None], batches: list[_T]) -> None:
        """Run ``fn`` on every batch: on the decode workers when there are two or more, else in order.

        torch's thread count is process-wide and read by each new thread on its first operation, so
        it is lowered before the workers start and restored after; the workers are new threads on
        every call for that reason. Inference mode is per thread, so each worker enters its own.
        """
        torch = self._torch

        def run(batch: _T) -> None:
            with torch.inference_mode():
                fn(batch)

        workers = min(self._decode_workers, len(batches))
        if workers <= 1:
            for batch in batches:
                run(batch)
            return
        total = torch.get_num_threads()
        torch.set_num_threads(max(1, total // workers))
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="safetylens-decode") as pool:
                for _ in pool.map(run, batches):
                    pass
        finally:
            torch.set_num_threads(total)

    def _decode(self, tokens: Sequence[int]) -> str:
        return str(self._tok.decode(list(tokens), skip_special_tokens=True, clean_up_tokenization_spaces=False))

    def _generate_batch(self, rows: list[_GenRow]) -> None:
        """Decode a batch with left padding and a KV cache; finished rows leave the batch."""
        torch = self._torch
        model = self._require_model()
        dev = self._device
        width = max(len(r.ids) for r in rows)
        input_ids = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, width - len(r.ids) :] = torch.tensor(r.ids, dtype=torch.long)
            mask[i, width - len(r.ids) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        input_ids, mask, positions = input_ids.to(dev), mask.to(dev), positions.to(dev)
        cache = self._new_cache()
        active = list(range(len(rows)))
        kwargs: dict[str, Any] = {self._cache_kw: cache, "use_cache": True}
        if self._has_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        with torch.inference_mode():
            step_ids = input_ids
            while active:
                out = model(input_ids=step_ids, attention_mask=mask, position_ids=positions, **kwargs)
                chosen = self._choose(out.logits[:, -1, :], [rows[a] for a in active])
                keep: list[int] = []
                for j, a in enumerate(active):
                    if not self._advance(rows[a], chosen[j]):
                        keep.append(j)
                if not keep:
                    break
                if len(keep) < len(active):
                    sel = torch.tensor(keep, device=dev)
                    cache.batch_select_indices(sel)
                    mask, positions = mask[sel], positions[sel]
                    active = [active[j] for j in keep]
                    chosen = [chosen[j] for j in keep]
                step_ids = torch.tensor(chosen, dtype=torch.long, device=dev).unsqueeze(1)
                mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
                positions = positions[:, -1:] + 1
        for r in rows:
            if r.out_text is None:
                r.out_text = self._decode(r.tokens)

    def _advance(self, row: _GenRow, token: int) -> bool:
        """Append a sampled token to ``row``; return whether the row has finished."""
        row.n_generated += 1
        if token in self._eos_ids:
            row.finish = "eos"
            return True
        row.tokens.append(token)
        if row.stops:
            text = self._decode(row.tokens)
            hits = [i for i in (text.find(s) for s in row.stops) if i >= 0]
            if hits:
                row.out_text = text[: min(hits)]
                row.finish = "stop"
                return True
        if row.n_generated >= row.max_new:
            row.finish = "length"
            return True
        return False

    def _choose(self, logits: torch.Tensor, rows: list[_GenRow]) -> list[int]:
        """Pick the next token of every row: argmax, or a seeded temperature + top-p sample."""
        torch = self._torch
        logits = logits.float()
        chosen = [0] * len(rows)
        greedy = [j for j, r in enumerate(rows) if r.generator is None]
        if greedy:
            picks = logits[greedy].argmax(dim=-1).tolist()
            for j, t in zip(greedy, picks, strict=True):
                chosen[j] = int(t)
        for j, r in enumerate(rows):
            if r.generator is None:
                continue
            # Sampling happens on the CPU with the row's own generator: the draw depends only on
            # this row's distribution and seed, never on the rest of the batch.
            probs = torch.softmax(logits[j] / r.temperature, dim=-1).cpu()
            if r.top_p < 1.0:
                sorted_p, order = torch.sort(probs, descending=True, stable=True)
                before = torch.cumsum(sorted_p, dim=-1) - sorted_p
                keep = before < r.top_p
                keep[0] = True
                probs = torch.zeros_like(probs).index_put_((order[keep],), sorted_p[keep])
            chosen[j] = int(torch.multinomial(probs, 1, generator=r.generator).item())
        return chosen

    # ---------------------------------------------------------------- log-likelihood

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """Score every request, in order, as lm-evaluation-harness 0.4 does.

        Raises:
            ModelError: A continuation is longer than the model's context.
        """
        self._require_model()
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        items: list[_LLItem] = []
        for i, req in enumerate(requests):
            ctx, cont = self._encode_pair(req.context, req.continuation)
            if not cont:
                results[i] = LoglikelihoodResult(logprob=0.0, is_greedy=True, n_tokens=0)
                continue
            if len(cont) > self._max_length:
                raise ModelError(
                    f"request {i}: the continuation has {len(cont)} tokens, more than the model's context "
                    f"({self._max_length})"
                )
            items.append(_LLItem(i, ctx, cont))
        fits = [it for it in items if len(it.ctx) + len(it.cont) <= self._max_length + 1]
        too_long = [it for it in items if len(it.ctx) + len(it.cont) > self._max_length + 1]
        if self._shared_context and self._worth_sharing(fits):
            self._ll_shared(fits, results)
            self.stats.extra["ll_shared_requests"] = self.stats.extra.get("ll_shared_requests", 0) + len(fits)
            plain = too_long
        else:
            plain = items
        if plain:
            self._ll_plain(plain, results)
            self.stats.extra["ll_plain_requests"] = self.stats.extra.get("ll_plain_requests", 0) + len(plain)
        self.stats.loglikelihood_calls += 1
        self.stats.loglikelihood_requests += len(requests)
        out: list[LoglikelihoodResult] = []
        for r in results:
            assert r is not None
            out.append(r)
        return out

    @staticmethod
    def _worth_sharing(items: Sequence[_LLItem]) -> bool:
        if len(items) < 2:
            return False
        contexts = {it.ctx for it in items}
        if len(contexts) < len(items):
            return True
        return _common_prefix_len([c[:-1] for c in contexts]) >= _MIN_SHARED_PREFIX

    def _count_tokens(self, n: int) -> None:
        with self._stats_lock:  # decode workers count concurrently
            self.stats.extra["ll_tokens_forwarded"] = self.stats.extra.get("ll_tokens_forwarded", 0) + n

    def _ll_plain(self, items: Sequence[_LLItem], results: list[LoglikelihoodResult | None]) -> None:
        """lm-eval's batched path: whole sequences, right padding, longest first."""
        torch = self._torch
        order = sorted(items, key=lambda it: (-(len(it.ctx) + len(it.cont)), it.ctx + it.cont))

        def score_batch(batch: list[_LLItem]) -> None:
            seqs = [(it.ctx + it.cont)[-(self._max_length + 1) :][:-1] for it in batch]
            width = max(len(s) for s in seqs)
            input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            rows: list[tuple[int, list[int], Sequence[int]]] = []
            for b, (it, seq) in enumerate(zip(batch, seqs, strict=True)):
                input_ids[b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[b, : len(seq)] = 1
                m = len(it.cont)
                rows.append((b, list(range(len(seq) - m, len(seq))), it.cont))
            self._count_tokens(int(mask.sum()))
            scores = self._score(input_ids, mask, None, None, rows)
            for it, (logprob, greedy) in zip(batch, scores, strict=True):
                results[it.index] = LoglikelihoodResult(logprob=logprob, is_greedy=greedy, n_tokens=len(it.cont))

        self._on_workers(score_batch, [list(b) for b in chunks(order, self._batch_size)])

    def _ll_shared(self, items: Sequence[_LLItem], results: list[LoglikelihoodResult | None]) -> None:
        """Score continuations on top of each context's KV cache.

        Each context C is split as ``C[:-1]`` (cached) and ``C[-1]`` (fed with the continuation, so
        that its logits score the first continuation token). The part of ``C[:-1]`` common to all
        contexts of the call is run once; each context's remainder runs once per context, in
        batches; then continuations run in batches on copies of their context's cache.
        """
        torch = self._torch
        groups: dict[tuple[int, ...], list[_LLItem]] = {}
        for it in items:
            groups.setdefault(it.ctx, []).append(it)
        contexts = list(groups)
        cached_parts = [c[:-1] for c in contexts]
        p = len(cached_parts[0]) if len(contexts) == 1 else _common_prefix_len(cached_parts)
        prefix_kv: list[tuple[Any, Any]] | None = None
        with torch.inference_mode():
            if p > 0:
                prefix_kv = self._prefix_kv(contexts[0][:p])
        by_suffix = sorted(contexts, key=lambda c: (-len(c), c))
        # Each chunk reads the prefix's cache and writes its own rows of ``results`` only.
        self._on_workers(
            lambda gchunk: self._score_group_chunk(gchunk, groups, p, prefix_kv, results),
            [list(c) for c in chunks(by_suffix, self._batch_size)],
        )

    def _prefix_kv(self, prefix: tuple[int, ...]) -> list[tuple[Any, Any]]:
        """The KV cache of ``prefix`` (batch 1), reusing the part it shares with the previous prefix.

        Callers such as the request planner split one benchmark into several calls whose contexts
        all open with the same few-shot preamble; keeping the last prefix's cache means the
        preamble runs once per backend instead of once per call. A cached position depends only on
        the tokens up to it (causal attention), so a slice of a longer prefix's cache is exactly
        the cache of the shorter prefix.
        """
        torch = self._torch
        dev = self._device
        reused = 0
        kv: list[tuple[Any, Any]] | None = None
        if self._prefix_memo is not None:
            memo_tokens, memo_kv = self._prefix_memo
            reused = _common_prefix_len([memo_tokens, prefix])
            if reused >= min(len(prefix), _MIN_SHARED_PREFIX):
                kv = [(k[:, :, :reused], v[:, :, :reused]) for k, v in memo_kv]
            else:
                reused = 0
        if reused < len(prefix):
            cache = self._cache_from(kv)
            n = len(prefix) - reused
            ids = torch.tensor([prefix[reused:]], dtype=torch.long, device=dev)
            mask = torch.ones((1, len(prefix)), dtype=torch.long, device=dev) if reused else None
            self._run(ids, mask, torch.arange(reused, len(prefix), device=dev).unsqueeze(0), cache)
            kv = [(layer.keys, layer.values) for layer in cache.layers]
            self._count_tokens(n)
        assert kv is not None
        self.stats.extra["ll_prefix_tokens_reused"] = self.stats.extra.get("ll_prefix_tokens_reused", 0) + reused
        self._prefix_memo = (prefix, kv)
        return kv

    def _score_group_chunk(
        self,
        chunk: list[tuple[int, ...]],
        groups: dict[tuple[int, ...], list[_LLItem]],
        p: int,
        prefix_kv: list[tuple[Any, Any]] | None,
        results: list[LoglikelihoodResult | None],
    ) -> None:
        torch = self._torch
        dev = self._device
        suffixes = [c[p:-1] for c in chunk]
        r_width = max(len(s) for s in suffixes)
        g = len(chunk)
        # The per-context KV caches: [prefix | suffix, right-padded]; padding is masked out later.
        suffix_mask = torch.zeros((g, r_width), dtype=torch.long, device=dev)
        group_kv: list[tuple[Any, Any]] | None = None
        if prefix_kv is not None:
            group_kv = [(k.expand(g, -1, -1, -1), v.expand(g, -1, -1, -1)) for k, v in prefix_kv]
        if r_width > 0:
            ids = torch.full((g, r_width), self._pad_id, dtype=torch.long)
            for i, s in enumerate(suffixes):
                ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
                suffix_mask[i, : len(s)] = 1
            cache = self._cache_from(group_kv)
            mask = torch.cat([torch.ones((g, p), dtype=torch.long, device=dev), suffix_mask], dim=1)
            positions = (p + torch.arange(r_width, device=dev)).unsqueeze(0).expand(g, -1)
            self._run(ids.to(dev), mask, positions, cache)
            group_kv = [(layer.keys, layer.values) for layer in cache.layers]
            self._count_tokens(int(suffix_mask.sum()))
        suffix_lens = torch.tensor([len(s) for s in suffixes], dtype=torch.long, device=dev)
        pending = sorted(
            ((gi, it) for gi, c in enumerate(chunk) for it in groups[c]), key=lambda x: (-len(x[1].cont), x[1].index)
        )
        for batch in chunks(pending, self._batch_size):
            b = len(batch)
            gidx = torch.tensor([gi for gi, _ in batch], dtype=torch.long, device=dev)
            q_width = max(len(it.cont) for _, it in batch)
            q_ids = torch.full((b, q_width), self._pad_id, dtype=torch.long)
            q_mask = torch.zeros((b, q_width), dtype=torch.long)
            rows: list[tuple[int, list[int], Sequence[int]]] = []
            for j, (gi, it) in enumerate(batch):
                query = (chunk[gi][-1], *it.cont[:-1])
                q_ids[j, : len(query)] = torch.tensor(query, dtype=torch.long)
                q_mask[j, : len(query)] = 1
                rows.append((j, list(range(len(query))), it.cont))
            past = p + r_width
            if group_kv is not None and past > 0:
                cache = self._cache_from([(k.index_select(0, gidx), v.index_select(0, gidx)) for k, v in group_kv])
                mask = torch.cat(
                    [
                        torch.ones((b, p), dtype=torch.long, device=dev),
                        suffix_mask.index_select(0, gidx),
                        q_mask.to(dev),
                    ],
                    dim=1,
                )
            else:
                cache, mask = None, q_mask.to(dev)
            positions = (p + suffix_lens.index_select(0, gidx)).unsqueeze(1) + torch.arange(q_width, device=dev)
            self._count_tokens(int(q_mask.sum()))
            scores = self._score(q_ids.to(dev), mask, positions, cache, rows)
            for (_, it), (logprob, greedy) in zip(batch, scores, strict=True):
                results[it.index] = LoglikelihoodResult(logprob=logprob, is_greedy=greedy, n_tokens=len(it.cont))

    def _cache_from(self, kv: list[tuple[Any, Any]] | None) -> Any:
        cache = self._new_cache()
        if kv is not None:
            for layer_idx, (k, v) in enumerate(kv):
                cache.update(k, v, layer_idx)
        return cache

    def _forward_kwargs(self, attention_mask: Any, position_ids: Any, cache: Any, cache_kw: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"attention_mask": attention_mask, "position_ids": position_ids}
        if cache is not None:
            kwargs[cache_kw] = cache
            kwargs["use_cache"] = True
        else:
            kwargs["use_cache"] = False
        return kwargs

    def _run(self, input_ids: Any, attention_mask: Any, position_ids: Any, cache: Any) -> None:
        """A forward pass whose only product is the filled KV cache."""
        if self._head_ok:
            self._base(
                input_ids=input_ids, **self._forward_kwargs(attention_mask, position_ids, cache, self._base_cache_kw)
            )
            return
        kwargs = self._forward_kwargs(attention_mask, position_ids, cache, self._cache_kw)
        if self._has_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        self._require_model()(input_ids=input_ids, **kwargs)

    def _score(
        self,
        input_ids: Any,
        attention_mask: Any,
        position_ids: Any,
        cache: Any,
        rows: Sequence[tuple[int, list[int], Sequence[int]]],
    ) -> list[tuple[float, bool]]:
        """Summed log-probabilities and greedy flags of target tokens at given positions.

        Args:
            input_ids: The batch (on the model's device or the CPU).
            attention_mask: 2-D mask over past + current tokens.
            position_ids: Position ids, or None for 0..n-1.
            cache: A KV cache holding the past, or None.
            rows: For each scored row: batch index, positions in ``input_ids`` whose logits predict
                the targets, and the target tokens.
        """
        torch = self._torch
        dev = self._device
        input_ids = input_ids.to(dev)
        attention_mask = attention_mask.to(dev) if attention_mask is not None else None
        b_idx = torch.tensor([b for b, pos, _ in rows for _ in pos], dtype=torch.long, device=dev)
        p_idx = torch.tensor([q for _, pos, _ in rows for q in pos], dtype=torch.long, device=dev)
        targets = torch.tensor([t for _, _, tgt in rows for t in tgt], dtype=torch.long, device=dev)
        with torch.inference_mode():
            if self._head_ok:
                hidden = self._base(
                    input_ids=input_ids,
                    **self._forward_kwargs(attention_mask, position_ids, cache, self._base_cache_kw),
                ).last_hidden_state
                selected = hidden[b_idx, p_idx]
                logprobs, greedy = [], []
                for start in range(0, selected.shape[0], _HEAD_CHUNK):
                    logits = self._head(selected[start : start + _HEAD_CHUNK]).float()
                    tgt = targets[start : start + _HEAD_CHUNK]
                    logprobs.append(torch.log_softmax(logits, dim=-1).gather(1, tgt.unsqueeze(1)).squeeze(1))
                    greedy.append(logits.argmax(dim=-1) == tgt)
                lp = torch.cat(logprobs)
                eq = torch.cat(greedy)
            else:
                first = int(p_idx.min())
                kwargs = self._forward_kwargs(attention_mask, position_ids, cache, self._cache_kw)
                if self._has_logits_to_keep:
                    kwargs["logits_to_keep"] = input_ids.shape[1] - first
                    offset = first
                else:
                    offset = 0
                logits = self._require_model()(input_ids=input_ids, **kwargs).logits[b_idx, p_idx - offset].float()
                lp = torch.log_softmax(logits, dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
                eq = logits.argmax(dim=-1) == targets
        lp_list = lp.double().cpu().tolist()
        eq_list = eq.cpu().tolist()
        out: list[tuple[float, bool]] = []
        start = 0
        for _, pos, _ in rows:
            end = start + len(pos)
            out.append((float(sum(lp_list[start:end])), bool(all(eq_list[start:end]))))
            start = end
        return out
