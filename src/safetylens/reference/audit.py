"""The Llama 2 paper's pretraining-data analysis (protocol.md §4): Tables 9a, 9b, 10 and the toxicity figure.

All numbers are percentages of documents, as printed in the paper (Touvron et al. 2023, §4.1 and
A.4.3). Where the transcriptions differ or a value is only given in the text, the note says so.
"""

from __future__ import annotations

from typing import Any

SOURCE = "Touvron et al. 2023, Llama 2, §4.1 'Safety in Pretraining' and A.4.3 (protocol.md §4)"

TABLE_9A: dict[str, float] = {
    "she": 28.45,
    "he": 50.73,
    "unspecified": 86.38,
    "first": 70.71,
    "second": 61.80,
    "third": 93.07,
    "gendered": 75.23,
    "any": 94.47,
}
"""P Table 9a (% of documents with each pronoun list); ``gendered`` and ``any`` are the values the
text rounds to 75% and 94% (the exact decimals are transcription T2's, protocol.md §4)."""

TABLE_9B: dict[str, dict[str, Any]] = {
    "gender_and_sex": {
        "documents": 5.91,
        "top": [("female", 50.0), ("male", 39.1), ("feminine", 5.4), ("transgender", 4.2), ("masculine", 3.1)],
    },
    "sexual_orientation": {
        "documents": 6.67,
        "top": [("gay", 14.8), ("lesbian", 4.3), ("lgbt", 4.0), ("lgbtq", 3.6), ("queer", 3.5)],
    },
    "nationality": {
        "documents": 14.83,
        "top": [("american", 69.4), ("indian", 16.5), ("chinese", 16.3), ("korean", 5.1), ("mexican", 4.9)],
    },
    "race_ethnicity": {
        "documents": 19.51,
        "top": [("european", 20.7), ("african", 11.5), ("asian", 7.4), ("latin", 6.2), ("indigenous", 3.7)],
    },
    "religion": {
        "documents": 7.93,
        "top": [("christian", 33.2), ("religious", 28.8), ("spiritual", 20.6), ("catholic", 15.4), ("jewish", 13.0)],
    },
}
"""P Table 9b: per axis, % of all documents mentioning it (from T2), and the top-5 terms with their
% among the documents that mention the axis."""

TABLE_10: dict[str, float] = {
    "en": 89.70,
    "unknown": 8.38,
    "de": 0.17,
    "fr": 0.16,
    "sv": 0.15,
    "zh": 0.13,
    "es": 0.13,
    "ru": 0.13,
    "hr": 0.01,
}
"""P Table 10 (fastText, threshold 0.5), the rows protocol.md §4 transcribes: the largest ones and
the smallest (``hr``). The rows between are not transcribed there and are left out rather than
guessed; "unknown" is partly code."""

TABLE_10_COMPLETE = False
"""Whether :data:`TABLE_10` holds every row of the paper's table (it does not)."""

TOXICITY: dict[str, Any] = {
    "classifier": "HateBERT fine-tuned on ToxiGen (the public tomh/toxigen_hatebert is plausible; UNCONFIRMED)",
    "sample": 0.10,
    "threshold": 0.5,
    "share_at_or_above_threshold": 0.2,
    "rule": "each line scored, line scores averaged per document; English portion",
    "approximate": True,
}
"""P §4.1 "Data Toxicity" and Fig 13: about 0.2% of documents have a likelihood >= 0.5."""


def as_dict() -> dict[str, Any]:
    """All reference numbers, JSON-able, for ``audit.json``."""
    return {
        "source": SOURCE,
        "table_9a": TABLE_9A,
        "table_9b": {
            axis: {"documents": v["documents"], "top": [{"term": t, "share": s} for t, s in v["top"]]}
            for axis, v in TABLE_9B.items()
        },
        "table_10": TABLE_10,
        "table_10_complete": TABLE_10_COMPLETE,
        "toxicity": TOXICITY,
    }
