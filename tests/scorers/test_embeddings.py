from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from safetylens.scorers.embeddings import EmbeddingCache, SentenceEncoder


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder(threads=2, batch_size=16)


def test_embeddings_are_unit_norm_and_semantic(encoder: SentenceEncoder) -> None:
    v = encoder.encode(["I love this movie", "I really like this film", "The stock market crashed today"])
    assert v.shape == (3, 384)
    np.testing.assert_allclose((v**2).sum(1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > 0.6 > sims[0, 2]


def test_order_independent_and_batching_consistent(encoder: SentenceEncoder) -> None:
    texts = ["short", "a somewhat longer sentence about cats", "x" * 50, "mid length text here"]
    a = encoder.encode(texts)
    b = encoder.encode(texts[::-1])[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)
    single = np.stack([encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(a, single, atol=1e-5)


def test_embedding_cache_reuses_vectors(encoder: SentenceEncoder, tmp_path: Path) -> None:
    cache = EmbeddingCache(encoder, tmp_path / "emb.sqlite")
    texts = ["alpha", "beta", "alpha"]
    first = cache.encode(texts)
    np.testing.assert_allclose(first[0], first[2])
    calls: list[int] = []
    original = encoder.encode

    def counting(batch: list[str], progress: object = None) -> np.ndarray:
        calls.append(len(batch))
        return original(batch)

    encoder.encode = counting  # type: ignore[method-assign]
    try:
        second = cache.encode(["beta", "gamma", "alpha"])
    finally:
        encoder.encode = original  # type: ignore[method-assign]
    assert calls == [1]  # only "gamma" was computed
    np.testing.assert_allclose(second[0], first[1], atol=1e-6)
    np.testing.assert_allclose(second[2], first[0], atol=1e-6)


def test_batches_are_length_sorted_within_both_limits() -> None:
    enc = SentenceEncoder(batch_size=4, max_batch_tokens=40)
    lengths = [5, 30, 3, 12, 12, 7, 9, 41, 2, 8]
    batches = enc.batches(lengths)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)
    for b in batches:
        # A single text longer than the token budget still gets a batch of its own.
        assert len(b) <= 4 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 40)
    assert enc.batches([]) == []


def test_token_bucketed_batches_give_the_same_embeddings(encoder: SentenceEncoder) -> None:
    texts = [f"sentence number {i} " + "word " * (i % 13) for i in range(40)]
    wide = SentenceEncoder(batch_size=256, max_batch_tokens=100_000).encode(texts)
    narrow = SentenceEncoder(batch_size=3, max_batch_tokens=40).encode(texts)
    np.testing.assert_allclose(wide, narrow, atol=1e-5)
