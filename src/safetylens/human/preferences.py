"""Preference pairs for reward-model training from a pairwise study (TRL's preference format).

One JSONL row per pairwise item whose raters prefer one response: ``prompt`` (the conversation
up to the last user turn), ``chosen`` and ``rejected`` (the two responses, each as a one-message
assistant turn), all in TRL's *conversational, explicit prompt* form, which ``RewardTrainer`` and
``DPOTrainer`` accept directly (``--prompt-format implicit`` instead puts the conversation at the
front of ``chosen`` and ``rejected`` and drops ``prompt``, for trainers that want it so).

**Strength and margin.** Each rating becomes a signed score from the pair's first model's point of
view (+3 "much better" ... -3); an item's direction and strength come from the median score
(``rule="median"``, the default, as in :mod:`safetylens.human.results`) or from the strict-majority
direction and the median strength of the raters who share it (``rule="majority"``). Half-point
medians (possible with an even number of ratings) are rounded towards zero. Strengths map onto
Llama 2's four preference levels (human-eval.md §4.1/§4.3; the mapping is an open choice): 3
"much better" -> "significantly better", 2 "better" -> "better", 1 "slightly better" -> "slightly
better", and a tie kept with ``keep_ties`` -> "negligibly better/unsure". The ``margin`` column is
the paper's Table 27 value of that level: Margin Small 1, 2/3, 1/3, 0 (default) or Margin Large 3,
2, 1, 0; TRL's reward trainer subtracts it inside the loss, ``-log σ(r_c - r_r - margin)``.

**Ties** (median 0 / no strict majority) are dropped by default; with ``keep_ties`` they are kept
with margin 0, the side with the higher mean score as chosen (the first model when the mean is 0
too) and ``is_tie`` set.

**Safety bin.** With ``safety_study`` (a safety study that rated the same responses: same prompt
id, model and text), each response is safe or unsafe by its raters' majority vote and the row gets
Llama 2's 3-way bin: ``chosen safe, rejected unsafe`` / ``both safe`` / ``both unsafe``, or
``chosen unsafe, rejected safe``, which the paper did not keep and which is dropped by default
(``keep_unsafe_chosen`` keeps it). Responses not rated there give ``safety_bin = None``.

**Provenance columns** (TRL ignores extra columns): study, batch, item id, prompt id, risk category,
turns, the chosen and rejected models, the A/B mapping (which model was shown as A and B), the
raters' pseudonyms, every individual label (value as shown, its wording, signed score), agreement
(share of raters on the exported direction; exact-label pairwise agreement), guidelines versions,
the preference level and the median score.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from safetylens.errors import ConfigError
from safetylens.human.db import Database
from safetylens.human.models import Item
from safetylens.human.results import RatingRow, load_ratings
from safetylens.human.scales import PAIRWISE_SCALE, pairwise_signed
from safetylens.human.studies import find_study
from safetylens.util import atomic_write_json, atomic_write_text

LEVELS: dict[int, str] = {
    3: "significantly better",
    2: "better",
    1: "slightly better",
    0: "negligibly better/unsure",
}
"""Our 7-point strength (|signed score|) -> Llama 2's preference level (human-eval.md §4.3)."""

MARGINS: dict[str, dict[str, float]] = {
    # Llama 2 Table 27.
    "small": {"significantly better": 1.0, "better": 2 / 3, "slightly better": 1 / 3, "negligibly better/unsure": 0.0},
    "large": {"significantly better": 3.0, "better": 2.0, "slightly better": 1.0, "negligibly better/unsure": 0.0},
}

SAFETY_BINS = ("chosen safe, rejected unsafe", "both safe", "both unsafe", "chosen unsafe, rejected safe")


class PreferenceOptions(BaseModel):
    """How ratings become preference pairs (every field is written to the export's manifest).

    Attributes:
        margin: ``small`` or ``large`` (Llama 2 Table 27), or ``none`` for no margin column.
        rule: ``median`` signed score or strict ``majority`` direction.
        keep_ties: Keep items without a preferred side (margin 0, ``is_tie``).
        keep_unsafe_chosen: Keep pairs whose chosen response is unsafe and rejected one safe.
        safety_study: Safety study whose ratings of the same responses give the safety bin.
        min_ratings: Items with fewer ratings are left out (None = the study's N).
        safety_tie_rule: Tie rule of the safety majority vote (see :mod:`safetylens.stats.vote`).
        prompt_format: ``explicit`` (``prompt`` column) or ``implicit`` (conversation inside
            ``chosen``/``rejected``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    margin: Literal["small", "large", "none"] = "small"
    rule: Literal["median", "majority"] = "median"
    keep_ties: bool = False
    keep_unsafe_chosen: bool = False
    safety_study: str | None = None
    min_ratings: int | None = Field(None, ge=1)
    safety_tie_rule: Literal["adjudicate", "strict-majority", "any"] = "adjudicate"
    prompt_format: Literal["explicit", "implicit"] = "explicit"


def strength_and_direction(scores: Sequence[int], rule: str) -> tuple[int, int]:
    """An item's direction (+1 first model, -1 second, 0 tie) and strength (0-3).

    Args:
        scores: Signed scores from the first model's point of view (-3..+3).
        rule: ``median`` or ``majority``.
    """
    if rule == "median":
        med = statistics.median(scores)
        direction = 1 if med > 0 else -1 if med < 0 else 0
        return direction, math.floor(abs(med))
    n = len(scores)
    wins = [x for x in scores if x > 0]
    losses = [x for x in scores if x < 0]
    if 2 * len(wins) > n:
        return 1, math.floor(statistics.median(abs(x) for x in wins))
    if 2 * len(losses) > n:
        return -1, math.floor(statistics.median(abs(x) for x in losses))
    return 0, 0


def _pairwise_agreement(values: Sequence[int]) -> float | None:
    pairs = list(combinations(values, 2))
    if not pairs:
        return None
    return sum(1 for a, b in pairs if a == b) / len(pairs)


def _safety_verdicts(
    db: Database, study_ref: str, tie_rule: str
) -> dict[tuple[str, str], tuple[str, bool | None, int]]:
    """(prompt id, model) -> (response text, majority violation, number of ratings) in a safety study."""
    from safetylens.stats.vote import majority_violation

    with db.read() as s:
        study = find_study(s, study_ref)
        if study.kind != "safety":
            raise ConfigError(f"study {study.name!r} is a {study.kind} study, not a safety study")
        rows = load_ratings(s, study)
        need = study.raters_per_item
    by_key: dict[tuple[str, str], list[RatingRow]] = defaultdict(list)
    for r in rows:
        by_key[(r.prompt_external_id, r.model_a)].append(r)
    out = {}
    for key, rs in by_key.items():
        v = majority_violation([r.value for r in rs], tie_rule=tie_rule, min_ratings=need)  # type: ignore[arg-type]
        out[key] = (rs[0].response_a, v, len(rs))
    return out


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def preference_rows(
    db: Database, study_ref: str | int, options: PreferenceOptions | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The preference rows of a pairwise study and what was kept and dropped.

    Raises:
        ConfigError: Unknown study, or not a pairwise study.
    """
    opts = options or PreferenceOptions()
    with db.read() as s:
        study = find_study(s, study_ref)
        if study.kind != "pairwise":
            raise ConfigError(
                f"study {study.name!r} is a {study.kind} study; preference pairs come from pairwise studies"
            )
        rows = load_ratings(s, study)
        study_name, need = study.name, opts.min_ratings or study.raters_per_item
        # Gold and attention checks are for rater quality, not training data.
        gold = set(s.scalars(select(Item.id).where(Item.study_id == study.id, Item.is_gold.is_(True))))
    rows = [r for r in rows if r.item_id not in gold]
    safety = _safety_verdicts(db, opts.safety_study, opts.safety_tie_rule) if opts.safety_study else None
    by_item: dict[int, list[RatingRow]] = defaultdict(list)
    for r in rows:
        by_item[r.item_id].append(r)
    counts: Counter[str] = Counter()
    bins: Counter[str] = Counter()
    out: list[dict[str, Any]] = []
    for item_id in sorted(by_item):
        ratings = by_item[item_id]
        counts["items"] += 1
        if len(ratings) < need:
            counts["dropped_incomplete"] += 1
            continue
        first = ratings[0]
        pair = first.pair
        assert pair is not None and first.a_is_first is not None and first.response_b is not None
        scores = [pairwise_signed(r.value, first.a_is_first) for r in ratings]
        direction, strength = strength_and_direction(scores, opts.rule)
        is_tie = direction == 0
        if is_tie:
            if not opts.keep_ties:
                counts["dropped_ties"] += 1
                continue
            mean = statistics.fmean(scores)
            direction = -1 if mean < 0 else 1
            strength = 0
        level = LEVELS[min(strength, 3)]
        text_of = {
            first.model_a: first.response_a,
            str(first.model_b): first.response_b,
        }
        chosen_model, rejected_model = (pair[0], pair[1]) if direction > 0 else (pair[1], pair[0])
        chosen, rejected = text_of[chosen_model], text_of[rejected_model]
        safety_bin: str | None = None
        chosen_safe: bool | None = None
        rejected_safe: bool | None = None
        if safety is not None:
            vc = safety.get((first.prompt_external_id, chosen_model))
            vr = safety.get((first.prompt_external_id, rejected_model))
            if vc is not None and vc[0] == chosen and vc[1] is not None:
                chosen_safe = not vc[1]
            if vr is not None and vr[0] == rejected and vr[1] is not None:
                rejected_safe = not vr[1]
            if chosen_safe is not None and rejected_safe is not None:
                safety_bin = {
                    (True, False): SAFETY_BINS[0],
                    (True, True): SAFETY_BINS[1],
                    (False, False): SAFETY_BINS[2],
                    (False, True): SAFETY_BINS[3],
                }[(chosen_safe, rejected_safe)]
            else:
                counts["safety_unknown"] += 1
        if safety_bin == SAFETY_BINS[3] and not opts.keep_unsafe_chosen:
            counts["dropped_unsafe_chosen"] += 1
            continue
        agree = sum(1 for x in scores if (x > 0 if direction > 0 else x < 0)) if not is_tie else scores.count(0)
        prompt = [dict(m) for m in first.conversation]
        row: dict[str, Any] = {}
        if opts.prompt_format == "explicit":
            row["prompt"] = prompt
            row["chosen"] = _assistant(chosen)
            row["rejected"] = _assistant(rejected)
        else:
            row["chosen"] = prompt + _assistant(chosen)
            row["rejected"] = prompt + _assistant(rejected)
        if opts.margin != "none":
            row["margin"] = MARGINS[opts.margin][level]
        row.update(
            {
                "preference_label": level,
                "is_tie": is_tie,
                "safety_bin": safety_bin,
                "chosen_safe": chosen_safe,
                "rejected_safe": rejected_safe,
                "study": study_name,
                "batch": first.batch,
                "item_id": item_id,
                "prompt_id": first.prompt_external_id,
                "risk_category": first.risk_category,
                "turns": first.turns,
                "chosen_model": chosen_model,
                "rejected_model": rejected_model,
                "a_b_mapping": {"A": first.model_a, "B": str(first.model_b)},
                "raters": [r.rater for r in ratings],
                "individual_labels": [
                    {
                        "rater": r.rater,
                        "value": r.value,
                        "label": PAIRWISE_SCALE.label(r.value),
                        "signed_score_first_model": sc,
                    }
                    for r, sc in zip(ratings, scores, strict=True)
                ],
                "median_score_first_model": float(statistics.median(scores)),
                "agreement": agree / len(scores),
                "agreement_exact_pairwise": _pairwise_agreement([r.value for r in ratings]),
                "guidelines_versions": sorted({r.guidelines_version for r in ratings if r.guidelines_version}),
            }
        )
        out.append(row)
        counts["exported"] += 1
        bins[safety_bin or "(unknown)"] += 1
    stats = {
        "study": study_name,
        "options": opts.model_dump(mode="json"),
        "counts": {
            k: counts.get(k, 0)
            for k in (
                "items",
                "exported",
                "dropped_incomplete",
                "dropped_ties",
                "dropped_unsafe_chosen",
                "safety_unknown",
            )
        },
        "safety_bins": dict(sorted(bins.items())),
        "levels": dict(sorted(Counter(r["preference_label"] for r in out).items())),
        "margin_mapping": MARGINS.get(opts.margin),
        "strength_mapping": {str(k): v for k, v in LEVELS.items()},
    }
    return out, stats


def write_preferences(
    db: Database, study_ref: str | int, path: Path, options: PreferenceOptions | None = None
) -> dict[str, Any]:
    """Write the preference JSONL to ``path`` and its manifest to ``path`` + ``.manifest.json``.

    Returns:
        The manifest (options, counts, mappings).
    """
    rows, stats = preference_rows(db, study_ref, options)
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    atomic_write_json(path.with_name(path.name + ".manifest.json"), stats)
    return stats
