"""Builders shared by the human-evaluation tests (real database writes through the library)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from safetylens.human.db import Database
from safetylens.human.importing import Record, import_records
from safetylens.human.models import Study
from safetylens.human.studies import acknowledge_guidelines, add_members, create_study, current_guidelines


def records(
    n_prompts: int, models: Sequence[str], *, multi_turn_every: int = 0, categories: Sequence[str] = ()
) -> list[Record]:
    """Synthetic prompts with one response per model."""
    out = []
    for i in range(n_prompts):
        conv = [{"role": "user", "content": f"prompt {i}"}]
        if multi_turn_every and i % multi_turn_every == 0:
            conv = [
                {"role": "user", "content": f"first turn {i}"},
                {"role": "assistant", "content": f"earlier answer {i}"},
                {"role": "user", "content": f"second turn {i}"},
            ]
        for m in models:
            out.append(
                Record(
                    external_id=f"p{i}",
                    conversation=conv,
                    response=f"response of {m} to prompt {i}",
                    model=m,
                    risk_category=categories[i % len(categories)] if categories else None,
                )
            )
    return out


def make_study(
    db: Database,
    raters: Sequence[Any],
    *,
    kind: str = "safety",
    n_prompts: int = 6,
    models: Sequence[str] = ("model-x",),
    raters_per_item: int = 3,
    name: str = "study",
    ack: bool = True,
    **kwargs: Any,
) -> Study:
    """A study with imported items, the raters in its pool, guidelines confirmed."""
    study = create_study(db, name, kind, raters_per_item=raters_per_item, seed=kwargs.pop("seed", 7), **kwargs)
    import_records(db, study.id, records(n_prompts, models))
    add_members(db, study.id, [r.username for r in raters])
    if ack:
        with db.read() as s:
            g = current_guidelines(s, study.id)
        assert g is not None
        for r in raters:
            acknowledge_guidelines(db, study.id, r.id, g.version)
    return study
