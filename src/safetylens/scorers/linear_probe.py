"""An import path kept for callers outside the scorers: the probe trainer is :mod:`safetylens.scorers.probe`."""

from safetylens.scorers.probe import LinearProbe, ProbeClassifier, binary_metrics, group_split, train_probe

__all__ = ["LinearProbe", "ProbeClassifier", "binary_metrics", "group_split", "train_probe"]
