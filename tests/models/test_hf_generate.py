"""Generation on the built-in model: determinism, seeded sampling, stops, finish reasons."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from safetylens.errors import ModelError
from safetylens.models.base import Decoding, GenerationRequest, Message

pytestmark = pytest.mark.model

PROMPTS: list[Any] = [
    (Message("user", "What is the capital of France?"),),
    "The capital of France is",
    (Message("user", "Write one sentence about the sea."),),
    "Once upon a time, in a small village,",
    (Message("system", "Answer briefly."), Message("user", "Name three colours.")),
    "def fibonacci(n):",
]


def _greedy(prompt: Any, n: int = 12, stop: tuple[str, ...] = ()) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, decoding=Decoding(temperature=0.0, max_new_tokens=n, stop=stop))


def _sampled(prompt: Any, seed: int, n: int = 10) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, decoding=Decoding(temperature=1.0, top_p=0.95, max_new_tokens=n, seed=seed))


def test_greedy_is_deterministic_across_batches_and_orders(builtin_backend: Any) -> None:
    reqs = [_greedy(p) for p in PROMPTS]
    first = builtin_backend.generate(reqs)
    again = builtin_backend.generate(reqs)
    assert first == again
    reversed_results = builtin_backend.generate(list(reversed(reqs)))
    assert list(reversed(reversed_results)) == first
    # Different batch compositions: pairs, and each prompt alone.
    pairs = builtin_backend.generate([reqs[1], reqs[4]]) + builtin_backend.generate([reqs[0], reqs[5]])
    assert [r.text for r in pairs] == [first[1].text, first[4].text, first[0].text, first[5].text]
    for req, expected in zip(reqs[:3], first[:3], strict=True):
        assert builtin_backend.generate([req]) == [expected]
    for res, prompt in zip(first, PROMPTS, strict=True):
        assert res.rendered_prompt == builtin_backend.render(prompt)
        assert res.prompt_tokens == builtin_backend.request_length(_greedy(prompt))
        assert res.text  # the model says something for every prompt


def test_greedy_equals_model_generate(builtin_backend: Any) -> None:
    model, tok = builtin_backend.model, builtin_backend.tokenizer
    for prompt in PROMPTS[:4]:
        (ours,) = builtin_backend.generate([_greedy(prompt, n=16)])
        ids = builtin_backend._encode_prompt(prompt)[1]
        x = torch.tensor([ids])
        with torch.inference_mode():
            out = model.generate(
                input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=16, do_sample=False, pad_token_id=2
            )
        new = out[0, len(ids) :].tolist()
        expected = tok.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        assert ours.text == expected, prompt
        if 2 in new:  # stopped at <|im_end|>
            assert ours.finish_reason == "eos" and ours.completion_tokens == new.index(2) + 1
        else:
            assert ours.finish_reason == "length" and ours.completion_tokens == 16


def test_seeded_sampling_is_independent_of_batch(builtin_backend: Any) -> None:
    prompts = PROMPTS[:4]
    seed_a = [_sampled(p, seed=1) for p in prompts]
    seed_b = [_sampled(p, seed=2) for p in prompts]
    together = builtin_backend.generate(seed_a + seed_b)
    alone = [builtin_backend.generate([r])[0] for r in seed_a]
    shuffled = builtin_backend.generate([seed_b[2], seed_a[3], seed_a[0], seed_b[0], seed_a[2], seed_a[1]])
    assert [r.text for r in together[:4]] == [r.text for r in alone]
    assert [shuffled[2].text, shuffled[5].text, shuffled[4].text, shuffled[1].text] == [r.text for r in alone]
    assert shuffled[0].text == together[6].text and shuffled[3].text == together[4].text
    # Different seeds give different samples (10 tokens at temperature 1: all four equal by chance is
    # practically impossible).
    assert sum(a.text != b.text for a, b in zip(together[:4], together[4:], strict=True)) >= 3
    # And sampling is not greedy decoding in disguise.
    greedy = builtin_backend.generate([_greedy(p, n=10) for p in prompts])
    assert sum(s.text != g.text for s, g in zip(together[:4], greedy, strict=True)) >= 2


def test_stop_sequences_cut_text(builtin_backend: Any) -> None:
    prompt = "Once upon a time, in a small village,"
    (full,) = builtin_backend.generate([_greedy(prompt, n=24)])
    words = full.text.split()
    assert len(words) >= 4, full.text
    stop_word = " " + words[3]
    early = " " + words[1]
    cut = full.text[: full.text.find(stop_word)]
    results = builtin_backend.generate(
        [
            _greedy(prompt, n=24, stop=(stop_word,)),
            _greedy(prompt, n=24, stop=(stop_word, early)),  # the earliest stop wins
            _greedy(prompt, n=24, stop=("\u2603 never \u2603",)),
            _greedy("The capital of France is", n=24, stop=(".",)),
        ]
    )
    assert results[0].text == cut and results[0].finish_reason == "stop"
    assert stop_word not in results[0].text
    assert results[1].text == full.text[: full.text.find(early)] and results[1].finish_reason == "stop"
    assert results[2] == full  # a stop that never appears changes nothing
    assert results[3].finish_reason == "stop" and "." not in results[3].text


def test_max_new_tokens_per_row_and_finish_reasons(builtin_backend: Any) -> None:
    prompt = "Once upon a time, in a small village,"
    limits = [1, 3, 7, 12]
    results = builtin_backend.generate([_greedy(prompt, n=n) for n in limits] + [_greedy(PROMPTS[0], n=40)])
    (full,) = builtin_backend.generate([_greedy(prompt, n=12)])
    for n, res in zip(limits, results, strict=False):
        assert res.finish_reason == "length" and res.completion_tokens == n
        assert full.text.startswith(res.text)  # a shorter limit is a prefix of the longer output
    eos = results[-1]
    assert eos.finish_reason == "eos" and 0 < eos.completion_tokens < 40
    assert "<|im_end|>" not in eos.text


def test_prompt_longer_than_context_is_an_error(builtin_backend: Any) -> None:
    long_prompt = "hello " * (builtin_backend.max_length + 10)
    with pytest.raises(ModelError, match="context"):
        builtin_backend.generate([_greedy(long_prompt)])


def test_chat_without_template_fails_clearly(builtin_backend: Any) -> None:
    from safetylens.models.chat import ChatFormatter

    fmt = ChatFormatter(builtin_backend.tokenizer, None)
    with pytest.raises(ModelError, match="no chat template"):
        fmt.encode((Message("user", "hi"),))


def test_decode_workers_give_the_same_results_and_restore_the_threads(
    builtin_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetylens.models.hf import HFBackend

    model, tok = builtin_backend.model, builtin_backend.tokenizer

    def over_same_model(workers: int) -> HFBackend:
        return HFBackend(model, tok, model_name="w", weights_sha256=None, batch_size=2, decode_workers=workers)

    one, two = over_same_model(1), over_same_model(2)
    assert (one.decode_workers, two.decode_workers) == (1, 2)
    assert (one.batch_size, two.batch_size, two.forward_batch_size) == (2, 4, 2)
    assert two.identity.info["decode_workers"] == 2
    assert over_same_model(64).decode_workers == torch.get_num_threads(), "no more workers than threads"
    # Three batches of two, greedy and seeded sampling mixed: the same rows in the same batches, so
    # the same tokens, whichever thread decodes which batch.
    reqs = [_greedy(p, n=10) for p in PROMPTS[:3]] + [_sampled(p, seed=5) for p in PROMPTS[3:]]
    seen: set[str] = set()
    real = HFBackend._generate_batch

    def spy(self: HFBackend, rows: Any) -> None:
        name = threading.current_thread().name
        seen.add(name)
        # Each worker on its share of the 2 threads; one batch at a time on both.
        assert torch.get_num_threads() == (1 if name.startswith("safetylens-decode") else 2)
        real(self, rows)

    monkeypatch.setattr(HFBackend, "_generate_batch", spy)
    assert two.generate(reqs) == one.generate(reqs)
    assert any(name.startswith("safetylens-decode") for name in seen)
    assert torch.get_num_threads() == 2

    def broken(self: HFBackend, rows: Any) -> None:
        raise ModelError("a batch failed")

    monkeypatch.setattr(HFBackend, "_generate_batch", broken)
    with pytest.raises(ModelError, match="a batch failed"):
        two.generate(reqs)
    assert torch.get_num_threads() == 2, "restored after a failure too"


def test_decode_workers_in_the_spec_and_the_manifest() -> None:
    from safetylens.errors import ConfigError
    from safetylens.models.hf import HFBackend
    from safetylens.spec import ModelSpec, build_spec

    unset = build_spec({"model": {"name": "builtin"}})
    assert "decode_workers" not in unset.model_dump(mode="json")["model"], "old specs keep their hash"
    chosen = build_spec({"model": {"name": "builtin", "decode_workers": 1}})
    assert chosen.model_dump(mode="json")["model"]["decode_workers"] == 1
    assert chosen.spec_hash() != unset.spec_hash()
    with pytest.raises(ConfigError, match=r"model\.decode_workers"):
        build_spec({"model": {"decode_workers": 0}})
    single = HFBackend.from_spec(ModelSpec(name="builtin", batch_size=4, threads=2, decode_workers=1))
    try:
        assert single.decode_workers == single.identity.info["decode_workers"] == 1
        assert single.batch_size == single.forward_batch_size == 4
    finally:
        single.close()
