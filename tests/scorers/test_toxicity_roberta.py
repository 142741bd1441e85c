"""The toxigen-roberta path, on a tiny RoBERTa sequence classifier built and saved by the test itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from safetylens.errors import ConfigError, ModelError
from safetylens.scorers.toxicity import (
    HFSequenceClassifier,
    ToxicityClassifier,
    decide,
    load_classifier,
)

WORDS = ["hate", "love", "the", "people", "are", "bad", "good", "all", "they", "we", "x", "y", "z"]


def build_tiny_roberta(directory: Path, num_labels: int = 2, seed: int = 0) -> Path:
    """A 1-layer RoBERTa classifier with a word-level tokenizer, saved like a hub checkpoint."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for w in WORDS:
        vocab[w] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=512,
    )
    fast.save_pretrained(directory)
    torch.manual_seed(seed)
    cfg = RobertaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=514,  # 512 tokens + RoBERTa's padding offset, as roberta-large
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=num_labels,
        initializer_range=0.5,  # large weights: logits far apart, so decisions are not all ties
    )
    RobertaForSequenceClassification(cfg).eval().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"))


def _direct(directory: Path, texts: list[str], truncate: bool = True) -> np.ndarray:
    """Logits from a plain transformers forward pass, one text at a time."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(directory))
    model = AutoModelForSequenceClassification.from_pretrained(str(directory)).eval()
    out = []
    with torch.inference_mode():
        for t in texts:
            enc = tok(t, truncation=truncate, max_length=512 if truncate else None, return_tensors="pt")
            out.append(model(**enc).logits[0].numpy())
    return np.array(out)


TEXTS = [
    "the people are bad",
    "we love all",
    "they hate the people",
    "good good good",
    "x y z all are",
    "",
    "hate",
    "we are the people and they are all good",
]


def test_class_one_is_toxic_and_argmax_matches_a_direct_forward_pass(tiny_dir: Path) -> None:
    clf = load_classifier("toxigen-roberta", model=str(tiny_dir), device="cpu", batch_size=3)
    assert isinstance(clf, ToxicityClassifier)
    p = clf.predict_proba(TEXTS)
    logits = _direct(tiny_dir, TEXTS)
    soft = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(p, soft[:, 1], atol=1e-5)  # class index 1 = toxic
    assert not np.allclose(p, soft[:, 0], atol=1e-3)
    labels = clf.decide(p)
    np.testing.assert_array_equal(labels, logits.argmax(-1) == 1)
    assert 0 < labels.sum() < len(TEXTS)  # the check is not vacuous
    assert clf.decision_rule == "argmax" and clf.threshold == 0.5
    rec = clf.record
    assert rec.id == "toxigen-roberta"
    assert rec.details["toxic_class"] == 1 and rec.details["decision"] == "argmax"
    assert rec.details["max_length"] == 512 and rec.details["paper_classifier"] is False
    assert rec.weights_sha256 and len(rec.weights_sha256) == 64
    assert "loaded from" in rec.description


def test_threshold_rule(tiny_dir: Path) -> None:
    argmax = load_classifier("toxigen-roberta", model=str(tiny_dir), device="cpu")
    p = argmax.predict_proba(TEXTS)
    t = float(np.sort(p)[len(p) // 2])  # a threshold that splits the texts differently from 0.5
    clf = load_classifier("toxigen-roberta", model=str(tiny_dir), threshold=t, device="cpu")
    assert clf.decision_rule == "threshold" and clf.threshold == t
    np.testing.assert_array_equal(clf.decide(p), p >= t)
    assert clf.record.details["threshold"] == t
    # argmax is p > 0.5 strictly: an exact tie goes to class 0, as torch.argmax picks the first maximum.
    assert decide(np.array([0.5]), "argmax", 0.5).tolist() == [False]
    assert decide(np.array([0.5]), "threshold", 0.5).tolist() == [True]
    assert int(torch.tensor([[0.3, 0.3]]).argmax(-1)) == 0


def test_inputs_are_truncated_at_512_tokens(tiny_dir: Path) -> None:
    clf = load_classifier("toxigen-roberta", model=str(tiny_dir), device="cpu")
    assert isinstance(clf, HFSequenceClassifier)
    long_a = " ".join(["we"] * 509 + ["good"] + ["hate"] * 300)
    long_b = " ".join(["we"] * 509 + ["good"] + ["love"] * 300)
    short_c = " ".join(["we"] * 509 + ["bad"])
    enc = clf.encode([long_a])
    assert enc["input_ids"].shape[1] == 512
    assert int(enc["input_ids"][0, -1]) == 2  # </s> kept after truncation
    p = clf.predict_proba([long_a, long_b, short_c])
    # Tokens after the 510th word are cut off: a and b read the same 512 tokens.
    assert p[0] == pytest.approx(p[1], abs=1e-6)
    assert p[0] != pytest.approx(p[2], abs=1e-6)
    direct = _direct(tiny_dir, [long_a])
    np.testing.assert_allclose(
        p[0], np.exp(direct[0, 1]) / np.exp(direct[0]).sum(), atol=1e-5
    )  # same as the truncated direct pass
    with pytest.raises(Exception, match=r"index|size|range"):
        _direct(tiny_dir, [long_a], truncate=False)  # untruncated input does not fit the model


def test_batching_and_order_do_not_change_results(tiny_dir: Path) -> None:
    a = load_classifier("toxigen-roberta", model=str(tiny_dir), device="cpu", batch_size=1).predict_proba(TEXTS)
    b = load_classifier("toxigen-roberta", model=str(tiny_dir), device="cpu", batch_size=8).predict_proba(TEXTS[::-1])
    np.testing.assert_allclose(a, b[::-1], atol=1e-5)
    seen: list[int] = []
    load_classifier("toxigen-roberta", model=str(tiny_dir), device="cpu", batch_size=3).predict_proba(
        TEXTS, progress=seen.append
    )
    assert sum(seen) == len(TEXTS)


def test_hatebert_takes_the_same_path(tiny_dir: Path) -> None:
    clf = load_classifier("toxigen-hatebert", model=str(tiny_dir), device="cpu")
    assert clf.record.id == "toxigen-hatebert"
    ref = load_classifier("toxigen-roberta", model=str(tiny_dir), device="cpu")
    np.testing.assert_allclose(clf.predict_proba(TEXTS), ref.predict_proba(TEXTS), atol=1e-6)
    # A separate tokenizer directory is honoured.
    sep = load_classifier("toxigen-hatebert", model=str(tiny_dir), tokenizer=str(tiny_dir), device="cpu")
    assert sep.record.details["tokenizer"] == str(tiny_dir)


def test_fail_closed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown toxicity classifier"):
        load_classifier("perspective")
    with pytest.raises(ModelError, match="not a directory"):
        load_classifier("toxigen-roberta", model=str(tmp_path / "missing"))
    three = build_tiny_roberta(tmp_path / "three", num_labels=3)
    with pytest.raises(ModelError, match="3 classes"):
        load_classifier("toxigen-roberta", model=str(three), device="cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="cannot load the tokenizer"):
        load_classifier("toxigen-roberta", model=str(empty), device="cpu")
    with pytest.raises(ConfigError, match="threshold must be in"):
        HFSequenceClassifier("toxigen-roberta", str(three), threshold=1.5)
