"""Statistics: estimates with confidence intervals, bootstrap, paired tests, agreement coefficients."""

from safetylens.stats.ci import Estimate, bootstrap_mean, proportion, wilson_interval

__all__ = ["Estimate", "bootstrap_mean", "proportion", "wilson_interval"]
