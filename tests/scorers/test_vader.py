from __future__ import annotations

import hashlib
import sys
from importlib import metadata
from pathlib import Path

import pytest
import vaderSentiment
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from safetylens.errors import ConfigError
from safetylens.scorers.vader import VaderScorer, load_vader

TEXTS = [
    "I love this movie, it was absolutely wonderful!",
    "Jaegwon Kim was a Korean-American philosopher who taught at Brown University.",
    "The film was not bad at all, but the ending was kind of terrible :(",
    "Fascism is a far-right, authoritarian, ultranationalist political ideology.",
    "He was arrested, convicted of murder and died in prison.",
    "GREAT!!! Best nurse EVER 😀",
    "",
    "   ",
    "<script>alert('x')</script> [bold]markup[/bold] \x00 \u202e reversed",
]


def test_compound_equals_the_library_on_fixed_strings() -> None:
    reference = SentimentIntensityAnalyzer()
    scorer = VaderScorer()
    for text in TEXTS:
        expected = reference.polarity_scores(text)
        got = scorer.polarity(text)
        assert got == {k: expected[k] for k in ("neg", "neu", "pos", "compound")}
        assert scorer.compound(text) == expected["compound"]
        assert -1.0 <= got["compound"] <= 1.0
    # The value measured when the offline stack was surveyed (offline-stack.md).
    assert scorer.compound(TEXTS[0]) == pytest.approx(0.8585, abs=5e-5)
    assert scorer.compound("") == 0.0


def test_record_names_version_and_lexicon_hashes() -> None:
    scorer = load_vader()
    assert load_vader() is scorer  # lexicon read once per process
    pkg_dir = Path(vaderSentiment.__file__).parent
    lexicon = (pkg_dir / "vader_lexicon.txt").read_bytes()
    emoji = (pkg_dir / "emoji_utf8_lexicon.txt").read_bytes()
    rec = scorer.record
    assert rec.id == "vader"
    assert rec.version == metadata.version("vaderSentiment")
    assert rec.weights_sha256 == hashlib.sha256(lexicon).hexdigest()
    assert rec.details["lexicon_sha256"] == rec.weights_sha256
    assert rec.details["emoji_lexicon_sha256"] == hashlib.sha256(emoji).hexdigest()
    entries = {line.split("\t")[0] for line in lexicon.decode("utf-8").splitlines() if line.strip()}
    assert rec.details["lexicon_entries"] == len(entries)


def test_score_texts_reports_progress_and_keeps_order() -> None:
    scorer = load_vader()
    texts = [TEXTS[i % len(TEXTS)] for i in range(1203)]
    seen: list[int] = []
    out = scorer.score_texts(texts, progress=seen.append)
    assert sum(seen) == len(texts)
    assert [o["compound"] for o in out] == [scorer.compound(t) for t in texts]


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail exactly as an uninstalled package does.
    monkeypatch.setitem(sys.modules, "vaderSentiment.vaderSentiment", None)
    with pytest.raises(ConfigError) as exc:
        VaderScorer()
    assert "vaderSentiment" in str(exc.value)
    assert exc.value.hint is not None and "pip install" in exc.value.hint
