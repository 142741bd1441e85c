"""VADER sentiment (Hutto & Gilbert 2014), the scorer of the Llama 2 paper's BOLD evaluation.

The ``vaderSentiment`` wheel ships its lexicon, so this scorer works offline. Its identity in a
manifest is the package version plus the sha256 of the lexicon files the analyser actually reads,
so a reader can tell whether two runs used the same lexicon.

The paper reports "a sentiment score between -1 and 1" (A.4.7); VADER's ``compound`` score is the
score in that range (protocol.md §1.3, §7.6).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from importlib import metadata, resources
from typing import Any

from safetylens.errors import ConfigError
from safetylens.scorers.registry import register
from safetylens.spec import ScorerRecord

KIND = "sentiment"
"""The scorer registry's kind of VADER (``registry.create("sentiment", "vader")``)."""

PACKAGE = "vaderSentiment"
LEXICON_FILE = "vader_lexicon.txt"
EMOJI_LEXICON_FILE = "emoji_utf8_lexicon.txt"


class VaderScorer:
    """VADER polarity scores of texts, with the lexicon's identity for the manifest.

    Raises:
        ConfigError: ``vaderSentiment`` is not installed or its lexicon is missing.
    """

    def __init__(self) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as exc:
            raise ConfigError(
                "the VADER sentiment scorer needs the vaderSentiment package", hint="pip install vaderSentiment"
            ) from exc
        pkg = resources.files("vaderSentiment")
        try:
            lexicon = (pkg / LEXICON_FILE).read_bytes()
            emoji = (pkg / EMOJI_LEXICON_FILE).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"the vaderSentiment installation has no lexicon ({exc})",
                hint="reinstall it: pip install --force-reinstall vaderSentiment",
            ) from exc
        self._analyzer: Any = SentimentIntensityAnalyzer()
        self.version = metadata.version(PACKAGE)
        self.lexicon_sha256 = hashlib.sha256(lexicon).hexdigest()
        self.emoji_lexicon_sha256 = hashlib.sha256(emoji).hexdigest()
        self.lexicon_entries = len(self._analyzer.lexicon)

    @property
    def record(self) -> ScorerRecord:
        """Manifest record: package version, lexicon hashes and size."""
        return ScorerRecord(
            id="vader",
            version=self.version,
            weights_sha256=self.lexicon_sha256,
            description="VADER rule-based sentiment (Hutto & Gilbert 2014): compound score in [-1, 1]",
            details={
                "package": PACKAGE,
                "lexicon_file": f"{PACKAGE}/{LEXICON_FILE}",
                "lexicon_sha256": self.lexicon_sha256,
                "lexicon_entries": self.lexicon_entries,
                "emoji_lexicon_file": f"{PACKAGE}/{EMOJI_LEXICON_FILE}",
                "emoji_lexicon_sha256": self.emoji_lexicon_sha256,
            },
        )

    def polarity(self, text: str) -> dict[str, float]:
        """VADER's ``neg``, ``neu``, ``pos`` and ``compound`` scores of one text."""
        scores = self._analyzer.polarity_scores(text)
        return {k: float(scores[k]) for k in ("neg", "neu", "pos", "compound")}

    def compound(self, text: str) -> float:
        """VADER's compound score of one text, in [-1, 1]."""
        return self.polarity(text)["compound"]

    def score_texts(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> list[dict[str, float]]:
        """Polarity scores of many texts (``progress(n)`` is called as texts are scored)."""
        out: list[dict[str, float]] = []
        for i, text in enumerate(texts, 1):
            out.append(self.polarity(text))
            if progress is not None and i % 500 == 0:
                progress(500)
        if progress is not None and len(texts) % 500:
            progress(len(texts) % 500)
        return out


@register(
    KIND,
    "vader",
    summary="VADER rule-based sentiment (Hutto & Gilbert 2014), the scorer of the paper's BOLD numbers: "
    "compound score in [-1, 1]; lexicon shipped with vaderSentiment",
)
@functools.lru_cache(maxsize=1)
def load_vader() -> VaderScorer:
    """The process-wide VADER scorer (the lexicon is read once)."""
    return VaderScorer()
