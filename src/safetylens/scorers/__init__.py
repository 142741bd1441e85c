"""Scorers: classifiers, judges and lexicons applied to saved generations in a separate pass."""

from safetylens.scorers.base import TextClassifier

__all__ = ["TextClassifier"]
