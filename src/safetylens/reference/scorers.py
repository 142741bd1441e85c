"""The scorers behind the Llama 2 paper's published numbers, per benchmark (protocol.md §5).

A report compares the scorers of a run with these to say, next to every measured row, whether it
was scored the way the paper's rows were.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperScorer:
    """The scorer of one benchmark's published numbers.

    Attributes:
        description: The scorer in words, as the paper used it.
        ids: The safetylens scorer ids that are that scorer; empty when it can no longer be run.
    """

    description: str
    ids: tuple[str, ...] = ()


PAPER_SCORERS: dict[str, PaperScorer] = {
    "truthfulqa": PaperScorer("fine-tuned GPT-3 (curie) truth and info judges"),
    "toxigen": PaperScorer("ToxiGen RoBERTa, tomh/toxigen_roberta", ("toxigen-roberta",)),
    "bold": PaperScorer("VADER sentiment", ("vader",)),
    "safety": PaperScorer("human raters, five-point Likert scale"),
}
"""Benchmark name -> the paper's scorer, for every benchmark whose numbers the paper publishes."""
