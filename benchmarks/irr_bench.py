"""Speed of the agreement statistics on a platform-sized batch, against the krippendorff package.

Run: PYTHONPATH=src python benchmarks/irr_bench.py [n_subjects]
Prints the time of each step and its ratio to the baseline (krippendorff.alpha) measured in the same run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Literal

import krippendorff
import numpy as np
from figures import figure

from safetylens.stats.irr import all_coefficients, gwet_ac, krippendorff_alpha_level
from safetylens.stats.irr_data import Ratings


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, size=n)
    ratings = np.clip(truth[:, None] + rng.integers(-1, 2, size=(n, 3)), 1, 5).astype(float)
    ratings[rng.random(ratings.shape) < 0.05] = np.nan
    scale = [1, 2, 3, 4, 5]
    data = Ratings.from_raw(ratings, scale)
    print(f"{n} subjects x 3 raters, 5-point scale, 5% missing")
    levels: tuple[Literal["nominal", "ordinal"], ...] = ("nominal", "ordinal")
    for level in levels:

        def theirs(lv: Literal["nominal", "ordinal"] = level) -> object:
            return krippendorff.alpha(reliability_data=ratings.T, level_of_measurement=lv, value_domain=scale)

        def ours_raw(lv: Literal["nominal", "ordinal"] = level) -> object:
            return krippendorff_alpha_level(ratings, lv, categories=scale)

        def ours_prepared(lv: Literal["nominal", "ordinal"] = level) -> object:
            return krippendorff_alpha_level(data, lv)

        base, raw, prepared = best_of(theirs), best_of(ours_raw), best_of(ours_prepared)
        print(
            f"Krippendorff {level:8s} alpha: krippendorff pkg {base * 1e3:7.1f} ms (1.00x) | safetylens with SE, "
            f"from raw {raw * 1e3:7.1f} ms ({base / raw:4.2f}x), from Ratings {prepared * 1e3:7.1f} ms "
            f"({base / prepared:4.2f}x)"
        )
        figure(f"Krippendorff {level} alpha with SE vs krippendorff pkg", base / prepared, "x", note=f"{n} subjects")
    build = best_of(lambda: Ratings.from_raw(ratings, scale))
    ac2 = best_of(lambda: gwet_ac(data, "quadratic"))
    every = best_of(lambda: all_coefficients(data, "quadratic"))
    print(f"Ratings.from_raw {build * 1e3:.1f} ms; AC2 with SE {ac2 * 1e3:.1f} ms; all {every * 1e3:.1f} ms")
    figure("Gwet AC2 with SE", ac2 * 1e3, "ms", note=f"{n} subjects x 3 raters")


if __name__ == "__main__":
    main()
