from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from safetylens.cache import CachedModel, RequestCache, model_key, request_key
from safetylens.models.base import Decoding, GenerationRequest, LoglikelihoodRequest, Message, ModelIdentity
from tests.helpers import CountingBackend


def _req(prompt: str = "hello", **dec: object) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, decoding=Decoding(**dec))  # type: ignore[arg-type]


def test_every_key_component_changes_the_key() -> None:
    base_id = ModelIdentity(
        backend="hf",
        backend_version="5.24",
        model="m",
        weights_sha256="a" * 64,
        dtype="float32",
        chat_template_sha256="t1",
    )
    mk = model_key(base_id.fingerprint())
    base = request_key(mk, "generate", _req())
    variants = {
        "model": request_key(model_key(base_id.model_copy(update={"model": "m2"}).fingerprint()), "generate", _req()),
        "weights": request_key(
            model_key(base_id.model_copy(update={"weights_sha256": "b" * 64}).fingerprint()), "generate", _req()
        ),
        "backend version": request_key(
            model_key(base_id.model_copy(update={"backend_version": "5.25"}).fingerprint()), "generate", _req()
        ),
        "dtype": request_key(
            model_key(base_id.model_copy(update={"dtype": "bfloat16"}).fingerprint()), "generate", _req()
        ),
        "template": request_key(
            model_key(base_id.model_copy(update={"chat_template_sha256": "t2"}).fingerprint()), "generate", _req()
        ),
        "prompt": request_key(mk, "generate", _req("hello!")),
        "chat prompt": request_key(mk, "generate", GenerationRequest((Message("user", "hello"),), Decoding())),
        "temperature": request_key(mk, "generate", _req(temperature=0.0)),
        "top_p": request_key(mk, "generate", _req(top_p=0.5)),
        "max tokens": request_key(mk, "generate", _req(max_new_tokens=7)),
        "stop": request_key(mk, "generate", _req(stop=("\n",))),
        "seed": request_key(mk, "generate", _req(seed=1)),
        "kind": request_key(mk, "loglikelihood", LoglikelihoodRequest("hello", "")),
    }
    assert base not in variants.values()
    assert len(set(variants.values())) == len(variants)
    # `info` is recorded but not part of the key (e.g. replica URLs)
    info_only = base_id.model_copy(update={"info": {"base_urls": ["http://a", "http://b"]}})
    assert request_key(model_key(info_only.fingerprint()), "generate", _req()) == base


def test_cached_model_reuses_and_dedups(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "c.sqlite")
    backend = CountingBackend(batch_size=3)
    model = CachedModel(backend, cache)
    reqs = [_req(f"prompt {i}") for i in range(7)] + [_req("prompt 0")]
    first = dict(model.generate(reqs))
    assert sorted(first) == list(range(8))
    assert first[7] == first[0]
    assert sum(backend.generate_calls) == 7  # the duplicate was computed once
    assert model.counters.computed == 7
    again = CachedModel(backend, cache)
    second = dict(again.generate(reqs))
    assert second == first
    assert sum(backend.generate_calls) == 7  # nothing recomputed
    assert again.counters.cached == 8 and again.counters.computed == 0


def test_no_cache_recomputes(tmp_path: Path) -> None:
    backend = CountingBackend()
    model = CachedModel(backend, None)
    list(model.generate([_req("a"), _req("b")]))
    list(model.generate([_req("a"), _req("b")]))
    assert sum(backend.generate_calls) == 4


def test_batch_plan_is_stable_under_partial_cache(tmp_path: Path) -> None:
    """Resumed runs compute the remaining batches with exactly the composition of an uninterrupted run."""
    reqs = [_req("x" * (i % 5 + 1) + str(i)) for i in range(11)]
    full_backend = CountingBackend(batch_size=4)
    full = CachedModel(full_backend, RequestCache(tmp_path / "a.sqlite"))
    plan_full = full._plan("generate", reqs, list(range(len(reqs))))
    assert [len(b) for b in plan_full] == [4, 4, 3]
    # simulate a run killed after its first batch: only that batch's results are in the cache
    cache = RequestCache(tmp_path / "b.sqlite")
    partial_backend = CountingBackend(batch_size=4)
    partial = CachedModel(partial_backend, cache)
    gen = partial.generate(reqs)
    for _ in range(4):
        next(gen)
    gen.close()
    resumed_backend = CountingBackend(batch_size=4)
    resumed = CachedModel(resumed_backend, cache)
    out = dict(resumed.generate(reqs))
    assert len(out) == 11
    assert resumed_backend.generate_calls == [4, 3]  # the remaining batches, unchanged


def test_loglikelihood_waves_keep_contexts_together(tmp_path: Path) -> None:
    backend = CountingBackend(batch_size=1)  # wave = 8 requests
    model = CachedModel(backend, RequestCache(tmp_path / "c.sqlite"))
    reqs = [LoglikelihoodRequest(f"ctx{c}", f" a{k}") for c in range(4) for k in range(3)]
    plan = model._plan("loglikelihood", reqs, list(range(len(reqs))))
    for batch in plan:
        contexts = [reqs[i].context for i in batch]
        for ctx in set(contexts):
            assert contexts.count(ctx) == 3  # never split
    out = dict(model.loglikelihood(reqs))
    assert len(out) == 12


def test_stats_and_prune(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "c.sqlite")
    list(CachedModel(CountingBackend(name="m1"), cache).generate([_req("a"), _req("b")]))
    list(CachedModel(CountingBackend(name="m2"), cache).generate([_req("a")]))
    stats = {r["model"]: r["entries"] for r in cache.stats()}
    assert stats == {"m1": 2, "m2": 1}
    assert cache.prune() == 0  # nothing selected
    assert cache.prune(model="m1") == 2
    assert {r["model"] for r in cache.stats()} == {"m2"}
    assert cache.prune(older_than_s=3600) == 0
    time.sleep(0.05)
    assert cache.prune(older_than_s=0.01) == 1


def _writer(path: str, start: int) -> None:
    cache = RequestCache(Path(path))
    model = CachedModel(CountingBackend(batch_size=2), cache)
    list(model.generate([_req(f"p{start + i}") for i in range(40)]))


def test_concurrent_processes_share_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    RequestCache(path)
    procs = [mp.get_context("spawn").Process(target=_writer, args=(str(path), k * 20)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sum(r["entries"] for r in RequestCache(path).stats()) == 80


def test_corrupt_backend_result_count_is_an_error(tmp_path: Path) -> None:
    class Broken(CountingBackend):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            return super().generate(requests)[:-1]

    with pytest.raises(RuntimeError, match="returned"):
        list(CachedModel(Broken(), RequestCache(tmp_path / "c.sqlite")).generate([_req("a"), _req("b")]))
    assert RequestCache(tmp_path / "c.sqlite").stats() == []  # nothing half-written
