"""Batched vs one-at-a-time greedy generation on the built-in model (hf backend).

Runs the same greedy requests (default 32 prompts x 32 new tokens) through the hf backend once with
batch size 8 and once with batch size 1, on the same loaded model, and prints both wall times and
their ratio (goal: >= 4x). Outputs of the two runs are compared as well.

Usage: PYTHONPATH=src python benchmarks/bench_generate_batching.py [--prompts 32] [--tokens 32]
"""

from __future__ import annotations

import argparse
import time

TOPICS = [
    "the sea",
    "mountains",
    "a city at night",
    "bread",
    "rain",
    "a library",
    "trains",
    "the moon",
    "coffee",
    "a garden",
    "winter",
    "music",
    "a market",
    "rivers",
    "birds",
    "a desert",
]


def make_prompts(n: int) -> list[object]:
    from safetylens.models.base import Message

    prompts: list[object] = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        if i % 2:
            prompts.append((Message("user", f"Write a few sentences about {topic}."),))
        else:
            prompts.append(f"Here is a short story about {topic}. It begins:")
    return prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from safetylens.models.base import Decoding, GenerationRequest
    from safetylens.models.hf import HFBackend
    from safetylens.spec import ModelSpec

    t0 = time.perf_counter()
    backend = HFBackend.from_spec(ModelSpec(name="builtin", batch_size=args.batch, threads=args.threads))
    print(f"load: {time.perf_counter() - t0:.1f} s ({backend.identity.info.get('conversion_cache')})")
    # Both runs decode the same requests; rows that hit EOS stop early in both.
    dec = Decoding(temperature=0.0, max_new_tokens=args.tokens)
    reqs = [GenerationRequest(prompt=p, decoding=dec) for p in make_prompts(args.prompts)]  # type: ignore[arg-type]
    backend.generate(reqs[:2])  # warm-up (first-call allocations)

    t0 = time.perf_counter()
    batched = backend.generate(reqs)
    t_batched = time.perf_counter() - t0

    single_backend = HFBackend(backend.model, backend.tokenizer, model_name="single", weights_sha256=None, batch_size=1)
    t0 = time.perf_counter()
    single = single_backend.generate(reqs)
    t_single = time.perf_counter() - t0

    new_tokens = sum(r.completion_tokens or 0 for r in batched)
    same = sum(a.text == b.text for a, b in zip(batched, single, strict=True))
    print(f"requests: {len(reqs)}, max_new_tokens: {args.tokens}, generated tokens: {new_tokens}")
    print(f"batch {args.batch}: {t_batched:.1f} s ({new_tokens / t_batched:.1f} tokens/s)")
    print(f"batch 1: {t_single:.1f} s ({new_tokens / t_single:.1f} tokens/s)")
    print(f"identical outputs: {same}/{len(reqs)} (padding changes float rounding; ties can flip)")
    print(f"speed-up (batch {args.batch} vs 1): {t_single / t_batched:.2f}x  (goal >= 4x)")


if __name__ == "__main__":
    main()
