"""The protocol of a text classifier used as a scorer.

A classifier maps texts to the probability of its positive class (toxic, true, informative, ...).
It carries a :class:`~safetylens.spec.ScorerRecord` (identity, version, weights hash, measured
validation scores) that goes into every manifest and report that uses it, so a reader always
knows which classifier produced a number and how well it agrees with humans.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from safetylens.spec import ScorerRecord


@runtime_checkable
class TextClassifier(Protocol):
    """A binary text classifier."""

    @property
    def record(self) -> ScorerRecord:
        """Identity and measured validity, for the manifest."""
        ...

    @property
    def threshold(self) -> float:
        """Decision threshold on the positive-class probability (label = p >= threshold)."""
        ...

    def predict_proba(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Probability of the positive class for each text, shape ``(len(texts),)``."""
        ...
