"""Generation and log-likelihood throughput: llamacpp backend vs the hf backend on the built-in model.

Both run in this process on the same prompts with the same thread count; the ratio printed is
llamacpp / baseline. ``--baseline transformers`` uses plain transformers (``generate`` and one
forward pass per request) on the same GGUF file instead of the hf backend, for checkouts without it.

    PYTHONPATH=src python benchmarks/bench_llamacpp.py [--threads 2] [--tokens 64] [--prompts 6]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from figures import figure

from safetylens.models.base import Decoding, GenerationRequest, LoglikelihoodRequest
from safetylens.models.builtin import builtin_gguf_path

# Raw story openings: both backends keep generating until the token limit (instructions given as
# raw text often end at once with an end-of-sequence token).
PROMPTS = [
    "Once upon a time, in a small village by the sea,",
    "The robot looked at the blank canvas and",
    "In the year 2150, the city of Paris",
    "The best way to learn a new language is",
    "She opened the old wooden box and found",
    "The history of the bicycle begins in",
    "Every morning, the baker",
    "The mountain road was narrow, and",
]
MC = [
    LoglikelihoodRequest(f"Q: {q}\nA:", f" {a}")
    for q in ("What is the capital of France?", "What happens if you swallow gum?", "Who wrote Hamlet?")
    for a in ("Paris.", "Nothing in particular happens.", "Shakespeare.", "It stays in you for seven years.")
]


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


class TransformersBaseline:
    """Plain transformers on the GGUF: greedy ``generate`` at batch 1, one forward per log-likelihood."""

    def __init__(self, threads: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        path = builtin_gguf_path()
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self.model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name).eval()

    def generate(self, requests: list[GenerationRequest]) -> list[int]:
        counts = []
        for r in requests:
            assert isinstance(r.prompt, str)
            ids = self.tok(r.prompt, return_tensors="pt")
            with self.torch.no_grad():
                out = self.model.generate(
                    **ids, max_new_tokens=r.decoding.max_new_tokens, do_sample=False, pad_token_id=self.tok.eos_token_id
                )
            counts.append(int(out.shape[1] - ids["input_ids"].shape[1]))
        return counts

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> None:
        for r in requests:
            ctx = self.tok(r.context, add_special_tokens=False)["input_ids"]
            whole = self.tok(r.context + r.continuation, add_special_tokens=False)["input_ids"]
            with self.torch.no_grad():
                logits = self.model(self.torch.tensor([whole])).logits[0]
            self.torch.log_softmax(logits[len(ctx) - 1 : -1], dim=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--baseline", choices=["hf", "transformers"], default="hf")
    args = parser.parse_args()

    from safetylens.models.llamacpp import LlamaCppBackend

    decoding = Decoding(temperature=0.0, max_new_tokens=args.tokens)
    requests = [GenerationRequest(p, decoding) for p in PROMPTS[: args.prompts]]

    llama, load_llama = _timed(lambda: LlamaCppBackend(builtin_gguf_path(), name="builtin", threads=args.threads))
    if args.baseline == "hf":
        from safetylens.models import load_backend
        from safetylens.spec import ModelSpec

        base, load_base = _timed(
            lambda: load_backend(ModelSpec(name="builtin", backend="hf", threads=args.threads, batch_size=1))
        )
    else:
        base, load_base = _timed(lambda: TransformersBaseline(args.threads))
    print(f"load: llamacpp {load_llama:.1f} s, {args.baseline} {load_base:.1f} s")

    llama.generate(requests[:1])  # warm-up
    base.generate(requests[:1])
    results, t_llama = _timed(lambda: llama.generate(requests))
    n_llama = sum(r.completion_tokens or 0 for r in results)
    if args.baseline == "hf":
        # Batch 1, as llamacpp runs: one request per call.
        base_results, t_base = _timed(lambda: [base.generate([r])[0] for r in requests])
        n_base = sum(r.completion_tokens or 0 for r in base_results)
    else:
        counts, t_base = _timed(lambda: base.generate(requests))
        n_base = sum(counts)
    tps_llama, tps_base = n_llama / t_llama, n_base / t_base
    print(
        f"greedy generation, batch 1, {len(requests)} prompts x {args.tokens} new tokens, {args.threads} threads:\n"
        f"  llamacpp {tps_llama:7.1f} tokens/s ({n_llama} tokens in {t_llama:.1f} s)\n"
        f"  {args.baseline:<8} {tps_base:7.1f} tokens/s ({n_base} tokens in {t_base:.1f} s)\n"
        f"  ratio llamacpp/{args.baseline}: {tps_llama / tps_base:.2f}x"
    )
    figure("llamacpp generation, batch 1", tps_llama, "tok/s", note=f"{args.threads} threads")
    figure(f"llamacpp vs {args.baseline} generation, batch 1", tps_llama / tps_base, "x")

    _, ll_llama = _timed(lambda: llama.loglikelihood(MC))
    _, ll_base = _timed(lambda: base.loglikelihood(MC))
    print(
        f"log-likelihood, {len(MC)} requests (3 contexts x 4 answers):\n"
        f"  llamacpp {len(MC) / ll_llama:7.1f} requests/s\n"
        f"  {args.baseline:<8} {len(MC) / ll_base:7.1f} requests/s\n"
        f"  ratio llamacpp/{args.baseline}: {ll_base / ll_llama:.2f}x"
    )


if __name__ == "__main__":
    main()
