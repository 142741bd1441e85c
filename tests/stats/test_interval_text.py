"""Interval text: estimable intervals print as numbers, non-estimable ones (NaN or JSON null) never crash."""

from __future__ import annotations

import json
import math

from safetylens.stats.ci import bootstrap_mean
from safetylens.util import format_interval


def test_numbers_are_rounded_to_the_requested_digits() -> None:
    assert format_interval(0.12345, 0.98765, 3) == "[0.123, 0.988]"
    assert format_interval(1.0, 2.0) == "[1.00, 2.00]"


def test_nan_and_none_say_not_estimable() -> None:
    assert format_interval(math.nan, math.nan) == "[n/a: n < 2]"
    assert format_interval(None, None, 1) == "[n/a: n < 2]"
    assert format_interval(0.5, None) == "[n/a: n < 2]"


def test_a_one_observation_bootstrap_formats_without_error() -> None:
    est = bootstrap_mean([3.0], n_resamples=50, seed=0)
    assert est.n == 1 and math.isnan(est.ci_low)
    assert est.fmt(1) == "3.0 [n/a: n < 2]"
    # Through JSON (results files, the human-results dicts) the NaN bounds become null.
    dumped = json.loads(est.model_dump_json())
    assert dumped["ci_low"] is None
    assert format_interval(dumped["ci_low"], dumped["ci_high"], 1) == "[n/a: n < 2]"
