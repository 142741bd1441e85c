"""Sentence-embedding throughput of the offline scorers' encoder: the current batching against the former one.

The offline scorers embed tens of thousands of texts to train (ToxiGen and ImplicitHate sentences,
TruthfulQA answers and references, XSTest answers). This embeds a seeded sample of such texts from
the reference data, in the same mix of lengths, twice in the same process:

- ``old``: the former loop, kept here as the baseline: texts sorted by characters, fixed batches of
  64, each batch tokenised and padded on its own, torch's default thread count;
- ``new``: :class:`~safetylens.scorers.embeddings.SentenceEncoder` as shipped: tokenised once,
  sorted by tokens, batches bounded by texts and padded tokens, torch on every available core.

Rounds alternate (old, new, old, new, ...) so both see the same machine load; the figure is the
ratio of the best texts/s of each. It also reports the largest difference between the two
embeddings of a text (float rounding from different batch shapes).

    SAFETYLENS_DATA_DIR=../shared/datasets PYTHONPATH=src python benchmarks/bench_embeddings.py --texts 1500
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import numpy as np
from figures import cpu_model, figure

from safetylens.datasets.registry import DataStore
from safetylens.scorers.embeddings import SentenceEncoder


def sample_texts(n: int, seed: int) -> list[str]:
    """A seeded mix like the training sets: 40% ToxiGen sentences, 40% TruthfulQA answers, 20% XSTest answers."""
    from safetylens.datasets.toxigen import PROMPT_FILE_GROUPS
    from safetylens.scorers.refusal_probe import xstest_training_set
    from safetylens.scorers.toxicity import prompt_sentences
    from safetylens.scorers.truthfulqa_judges import load_label_set

    store = DataStore()
    toxigen = [
        s
        for g in PROMPT_FILE_GROUPS
        for s in prompt_sentences(store.path("toxigen-prompts", f"toxigen/hate_{g}_1k.txt"))
    ]
    answers = sorted({it.answer for it in load_label_set(store, "truth").items})
    xstest = list(xstest_training_set(store).responses)
    rng = random.Random(seed)
    parts = [(toxigen, 0.4), (answers, 0.4), (xstest, 0.2)]
    texts: list[str] = []
    for pool, share in parts:
        k = min(len(pool), round(n * share))
        texts.extend(rng.sample(pool, k))
    rng.shuffle(texts)
    return texts


def old_encode(encoder: SentenceEncoder, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The former encoding loop (character-sorted fixed batches, tokenised batch by batch)."""
    import torch

    tok, model = encoder._tokenizer, encoder._model
    out: list[np.ndarray] = []
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tok(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=encoder.max_length,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().numpy().astype(np.float32))
    emb = np.concatenate(out)
    result = np.empty_like(emb)
    result[np.array(order)] = emb
    return result


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1500, help="texts to embed per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (old, new)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts = sample_texts(args.texts, args.seed)
    default_threads = torch.get_num_threads()
    encoder = SentenceEncoder()
    encoder._load()
    new_threads = torch.get_num_threads()
    encoder.encode(texts[:32])  # warm-up: first-call allocations are not throughput
    rates: dict[str, list[float]] = {"old": [], "new": []}
    results: dict[str, Any] = {}
    for _ in range(args.rounds):
        torch.set_num_threads(default_threads)
        t0 = time.perf_counter()
        results["old"] = old_encode(encoder, texts)
        rates["old"].append(len(texts) / (time.perf_counter() - t0))
        torch.set_num_threads(new_threads)
        t0 = time.perf_counter()
        results["new"] = encoder.encode(texts)
        rates["new"].append(len(texts) / (time.perf_counter() - t0))
    diff = float(np.abs(results["old"] - results["new"]).max())
    old, new = max(rates["old"]), max(rates["new"])
    cpu = cpu_model()
    print(f"CPU: {cpu}; torch threads: old {default_threads}, new {new_threads}")
    lengths = [len(t) for t in texts]
    print(f"{len(texts)} texts, characters median {int(np.median(lengths))}, max {max(lengths)}")
    for k, v in rates.items():
        print(f"{k}: " + ", ".join(f"{r:.1f}" for r in v) + " texts/s")
    print(f"largest difference between old and new embeddings: {diff:.2e}")
    note = f"{len(texts)} texts from the scorers' training data, best of {args.rounds} alternating rounds, {cpu}"
    figure("embedding texts/s new vs old", new / old, "x", note=note)
    figure("embedding texts/s (new)", new, "texts/s", note=f"{cpu}, {new_threads} threads")
    figure("embedding texts/s (old)", old, "texts/s", note=f"{cpu}, {default_threads} threads")
    figure("embedding max |new - old|", diff, "", "<= 1e-4", note="float rounding from batch shapes")


if __name__ == "__main__":
    main()
