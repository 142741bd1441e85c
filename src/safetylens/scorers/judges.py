r"""The protocol of a TruthfulQA answer judge.

A judge maps (question, answer) pairs to the probability that the answer is true (aspect ``truth``)
or informative (aspect ``info``), as the TruthfulQA "GPT-judge" models do with ``Q: {q}\\nA: {a}\\nTrue:``
/ ``Helpful:`` and P(" yes"). Implementations (``hf-judge``, ``server-judge``, ``offline``) live in
:mod:`safetylens.scorers.truthfulqa_judges`; the TruthfulQA benchmark depends only on this protocol.

Every judge carries a :class:`~safetylens.spec.ScorerRecord` whose ``validation`` holds its measured
agreement with the human labels (accuracy, balanced accuracy, AUC, each with n and a CI), so a report
always shows how far to trust the numbers a judge produced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from safetylens.spec import ScorerRecord

Aspect = Literal["truth", "info"]
"""What a judge decides: truthfulness or informativeness."""

ASPECTS: tuple[Aspect, ...] = ("truth", "info")


@runtime_checkable
class AnswerJudge(Protocol):
    """A judge of TruthfulQA answers."""

    @property
    def aspect(self) -> Aspect:
        """``truth`` or ``info``."""
        ...

    @property
    def record(self) -> ScorerRecord:
        """Identity, version, weights hash and measured validation scores, for the manifest."""
        ...

    @property
    def threshold(self) -> float:
        """Decision threshold on the probability (label = p >= threshold)."""
        ...

    def predict_proba(
        self,
        questions: Sequence[str],
        answers: Sequence[str],
        references: Sequence[Mapping[str, Any]] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Probability of "yes" (true / informative) for each pair, shape ``(len(answers),)``.

        Args:
            questions: The questions, as asked.
            answers: The model's (trimmed) answers, one per question.
            references: Optional per-item references with keys ``correct_answers``, ``incorrect_answers``
                (lists of strings), ``best_answer`` and ``category``. Judges that only read the question
                and answer (the paper's judges) ignore them.
            progress: Called with the number of pairs completed since the last call.
        """
        ...
