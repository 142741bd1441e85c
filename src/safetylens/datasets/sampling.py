"""Seeded stratified subsets of a data set, the same for every run with the same seed and k."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from safetylens.errors import ConfigError

T = TypeVar("T")


def stratified_sample(items: Sequence[T], key: Callable[[T], Hashable], k: int, seed: int) -> list[T]:
    """At most ``k`` items per group, drawn with a seeded generator; original order is kept.

    The draw for one group does not depend on the other groups, so adding a group or changing
    ``k`` for another benchmark never changes which items a group gets for the same seed and k.

    Args:
        items: Items in their canonical order.
        key: Group of an item.
        k: Maximum items per group.
        seed: Seed of the draw.
    """
    if k < 1:
        raise ConfigError(f"sample size must be >= 1, got {k}")
    groups: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item), []).append(i)
    keep: set[int] = set()
    for g, idx in groups.items():
        if len(idx) <= k:
            keep.update(idx)
        else:
            rng = random.Random(f"{seed}:{g!r}")
            keep.update(rng.sample(idx, k))
    return [item for i, item in enumerate(items) if i in keep]
