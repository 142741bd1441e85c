"""Campaign roll-ups: violation rates by category, vector and model, dialogue lengths, risk and γ."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from safetylens.errors import DataError
from safetylens.human.db import Database, utcnow
from safetylens.human.models import RedTeamDialogue, RedTeamTurn, User
from safetylens.human.redteam.base import DEFAULT_IDLE_CAP_S, RISK_LEVELS
from safetylens.human.redteam.campaigns import find_campaign
from safetylens.human.redteam.dialogues import active_ms, messages_of
from safetylens.stats.bootstrap import bootstrap_distribution, percentile_interval
from safetylens.stats.ci import Estimate, proportion


def _garwood(k: int, level: float) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson mean given one observed count ``k``."""
    from scipy.stats import chi2

    alpha = 1 - level
    lo = 0.0 if k == 0 else float(chi2.ppf(alpha / 2, 2 * k)) / 2
    hi = float(chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2
    return lo, hi


_GAMMA_METHOD = "exact Poisson (Garwood) interval on the count of violating prompts; hours treated as fixed"


def gamma_estimate(
    violating: Sequence[int],
    hours: Sequence[float],
    *,
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Estimate:
    """γ = violating prompts per person per hour, pooled over red teamers.

    Args:
        violating: Violating prompts of each red teamer.
        hours: Active hours of each red teamer (same order).
        level: Confidence level.
        n_resamples: Bootstrap resamples over red teamers.
        seed: Bootstrap seed.

    Returns:
        ``value`` (Σ violating / Σ hours) with the exact Poisson interval (``ci_low``/``ci_high``:
        the count's Garwood interval divided by the hours, which are treated as fixed) and ``n``
        (violating prompts); NaN value and interval without active hours. ``extra`` holds
        ``persons`` and ``hours`` and, with at least two red teamers and active hours, the
        percentile-bootstrap interval over red teamers (``bootstrap_ci_low``,
        ``bootstrap_ci_high``) with its ``bootstrap_resamples`` and ``bootstrap_seed``.
        :func:`gamma_dict` turns it into the roll-up's JSON.
    """
    k = int(sum(violating))
    h = float(sum(hours))
    extra: dict[str, float] = {"persons": float(len(violating)), "hours": h}
    nan = float("nan")
    value, lo, hi = nan, nan, nan
    if h > 0:
        g_lo, g_hi = _garwood(k, level)
        value, lo, hi = k / h, g_lo / h, g_hi / h
        if len(violating) >= 2:
            v = np.asarray(violating, dtype=float)
            hr = np.asarray(hours, dtype=float)
            # Numerator and denominator of each resample's ratio, from the same red teamers.
            sums = bootstrap_distribution(
                len(v),
                lambda idx: np.stack([v[idx].sum(axis=1), hr[idx].sum(axis=1)], axis=1),
                n_resamples=n_resamples,
                seed=seed,
            )
            num, den = sums[:, 0], sums[:, 1]
            # A resample of red teamers without active time has no rate.
            b_lo, b_hi = percentile_interval(num[den > 0] / den[den > 0], level)
            extra.update(
                bootstrap_ci_low=b_lo,
                bootstrap_ci_high=b_hi,
                bootstrap_resamples=float(n_resamples),
                bootstrap_seed=float(seed),
            )
    return Estimate(value=value, ci_low=lo, ci_high=hi, n=k, level=level, method=_GAMMA_METHOD, extra=extra)


def gamma_dict(est: Estimate) -> dict[str, Any]:
    """γ as a JSON-ready dict: the estimate's fields, ``persons``, ``hours`` and ``bootstrap``.

    Args:
        est: What :func:`gamma_estimate` returned.

    Returns:
        ``value``, ``ci_low``, ``ci_high`` (None when there are no active hours), ``n``, ``level``,
        ``method``, ``unit``, ``persons``, ``hours`` and ``bootstrap`` (``ci_low``, ``ci_high``,
        ``method``; None with fewer than two red teamers).
    """

    def finite(x: float) -> float | None:
        return x if math.isfinite(x) else None

    out: dict[str, Any] = est.model_dump(mode="json", exclude={"extra"})
    out.update(value=finite(est.value), ci_low=finite(est.ci_low), ci_high=finite(est.ci_high))
    out["persons"] = int(est.extra["persons"])
    out["hours"] = est.extra["hours"]
    ex = est.extra
    out["bootstrap"] = (
        {
            "ci_low": ex["bootstrap_ci_low"],
            "ci_high": ex["bootstrap_ci_high"],
            "method": f"percentile bootstrap over red teamers ({int(ex['bootstrap_resamples'])} resamples, "
            f"seed {int(ex['bootstrap_seed'])})",
        }
        if "bootstrap_ci_low" in ex
        else None
    )
    return out


def _live_active_ms(d: RedTeamDialogue, turns: Sequence[RedTeamTurn], cap: int) -> int | None:
    if d.active_ms is not None:
        return d.active_ms
    if d.source != "live":
        return None
    return active_ms([d.started_at, *(t.created_at for t in turns)], cap)


def _rate(k: int, n: int, level: float) -> dict[str, Any]:
    est: Estimate = proportion(k, n, level=level)
    return {"dialogues": n, "violating": k, "violation_pct": est.model_dump(mode="json") if n else None}


def _length_stats(values: Sequence[int]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None, "histogram": {}}
    arr = np.asarray(values, dtype=float)
    return {
        "n": len(values),
        "mean": float(arr.mean()),
        "median": float(np.median(arr)),
        "min": int(arr.min()),
        "max": int(arr.max()),
        "histogram": {str(k): v for k, v in sorted(Counter(values).items())},
    }


def user_turn_of_violation(turns: Sequence[dict[str, str]], violating_turn: int) -> int:
    """Index (into ``turns``) of the user message the violating assistant turn answers.

    Raises:
        DataError: The marked turn does not exist or does not follow a user message.
    """
    seen = 0
    for i, t in enumerate(turns):
        if t["role"] == "assistant":
            seen += 1
            if seen == violating_turn:
                for j in range(i - 1, -1, -1):
                    if turns[j]["role"] == "user":
                        return j
                break
    raise DataError(f"assistant turn {violating_turn} has no user message before it")


@dataclass
class _CampaignData:
    """A campaign's settings, dialogues (in id order), their turns and the red teamers' pseudonyms."""

    info: dict[str, Any]
    cap: int
    dialogues: list[RedTeamDialogue]
    turns: dict[int, list[RedTeamTurn]]
    pseudonyms: dict[int, str]


def _load_campaign_data(db: Database, campaign_ref: str | int) -> _CampaignData:
    """Everything a roll-up reads, in one read transaction.

    Raises:
        ConfigError: Unknown campaign.
    """
    with db.read() as s:
        c = find_campaign(s, campaign_ref)
        cap = int(c.settings.get("idle_cap_s", DEFAULT_IDLE_CAP_S))
        dialogues = list(
            s.scalars(select(RedTeamDialogue).where(RedTeamDialogue.campaign_id == c.id).order_by(RedTeamDialogue.id))
        )
        turns: dict[int, list[RedTeamTurn]] = defaultdict(list)
        if dialogues:
            for t in s.scalars(
                select(RedTeamTurn)
                .join(RedTeamDialogue, RedTeamDialogue.id == RedTeamTurn.dialogue_id)
                .where(RedTeamDialogue.campaign_id == c.id)
                .order_by(RedTeamTurn.dialogue_id, RedTeamTurn.idx)
            ):
                turns[t.dialogue_id].append(t)
        pseudonyms = dict(s.execute(select(User.id, User.pseudonym)).all())
        info = {
            "id": c.id,
            "name": c.name,
            "target_label": c.target_label,
            "idle_cap_s": cap,
            "risk_categories": list(c.risk_categories),
            "attack_vectors": list(c.attack_vectors),
        }
    return _CampaignData(info=info, cap=cap, dialogues=dialogues, turns=turns, pseudonyms=pseudonyms)


def _violation_tables(
    submitted: Sequence[RedTeamDialogue], turns: dict[int, list[RedTeamTurn]], level: float
) -> dict[str, dict[str, Any]]:
    """Violation rates by risk category, attack vector, model, source and single- or multi-turn."""
    groups: dict[str, dict[str, list[bool]]] = {
        k: defaultdict(list) for k in ("by_risk_category", "by_attack_vector", "by_model", "by_source", "by_turns")
    }
    for d in submitted:
        v = bool(d.violation)
        n_user = sum(1 for t in turns[d.id] if t.role == "user")
        groups["by_turns"]["multi-turn" if n_user > 1 else "single-turn"].append(v)
        groups["by_risk_category"][d.risk_category or "(none)"].append(v)
        for vec in d.attack_vectors or ["(none)"]:
            groups["by_attack_vector"][vec].append(v)
        groups["by_model"][d.model].append(v)
        groups["by_source"][d.source].append(v)
    return {name: {g: _rate(sum(x), len(x), level) for g, x in sorted(by.items())} for name, by in groups.items()}


def _lengths(submitted: Sequence[RedTeamDialogue], turns: dict[int, list[RedTeamTurn]]) -> dict[str, Any]:
    """User turns per dialogue: all, violating, and up to the violation."""
    user_turns = [sum(1 for t in turns[d.id] if t.role == "user") for d in submitted]
    viol_user_turns = [sum(1 for t in turns[d.id] if t.role == "user") for d in submitted if d.violation]
    turns_to_violation = []
    for d in submitted:
        if d.violation and d.violating_turn:
            msgs = messages_of(turns[d.id])
            j = user_turn_of_violation(msgs, d.violating_turn)
            turns_to_violation.append(sum(1 for m in msgs[: j + 1] if m["role"] == "user"))
    return {
        "user_turns": _length_stats(user_turns),
        "user_turns_violating": _length_stats(viol_user_turns),
        "user_turns_to_violation": _length_stats(turns_to_violation),
    }


def _gamma(
    data: _CampaignData, *, level: float, include_open_time: bool, n_resamples: int, seed: int
) -> dict[str, Any]:
    """γ over the red teamers' timed dialogues, with each person's own figures."""
    per_person: dict[int, dict[str, Any]] = {}
    untimed = 0
    for d in data.dialogues:
        if d.status != "submitted" and not include_open_time:
            continue
        ms = _live_active_ms(d, data.turns[d.id], data.cap)
        if ms is None:
            untimed += 1
            continue
        p = per_person.setdefault(
            d.redteamer_id,
            {"redteamer": data.pseudonyms.get(d.redteamer_id, "?"), "dialogues": 0, "violating": 0, "ms": 0},
        )
        p["ms"] += ms
        if d.status == "submitted":
            p["dialogues"] += 1
            p["violating"] += 1 if d.violation else 0
    people = sorted(per_person.values(), key=lambda x: str(x["redteamer"]))
    gamma = gamma_dict(
        gamma_estimate(
            [p["violating"] for p in people],
            [p["ms"] / 3_600_000 for p in people],
            level=level,
            n_resamples=n_resamples,
            seed=seed,
        )
    )
    gamma["untimed_dialogues"] = untimed
    gamma["include_open_time"] = include_open_time
    gamma["per_person"] = [
        {
            "redteamer": p["redteamer"],
            "dialogues": p["dialogues"],
            "violating": p["violating"],
            "hours": p["ms"] / 3_600_000,
            "gamma": p["violating"] / (p["ms"] / 3_600_000) if p["ms"] > 0 else None,
        }
        for p in people
    ]
    return gamma


def rollup(
    db: Database,
    campaign_ref: str | int,
    *,
    level: float = 0.95,
    include_open_time: bool = True,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Campaign roll-ups: violations by category, vector and model; lengths; risk; γ.

    Only submitted (tagged) dialogues are counted as violating or not. With
    ``include_open_time`` the time red teamers spent in dialogues they have not submitted yet
    still counts towards person-hours (it was spent red teaming).

    Raises:
        ConfigError: Unknown campaign.
    """
    data = _load_campaign_data(db, campaign_ref)
    dialogues, cap = data.dialogues, data.cap
    submitted = [d for d in dialogues if d.status == "submitted"]
    tables = _violation_tables(submitted, data.turns, level)
    risk_hist = Counter(d.degree_of_risk for d in submitted if d.degree_of_risk is not None)
    risk_hist_v = Counter(d.degree_of_risk for d in submitted if d.violation and d.degree_of_risk is not None)
    gamma = _gamma(data, level=level, include_open_time=include_open_time, n_resamples=n_resamples, seed=seed)
    n_viol = sum(1 for d in submitted if d.violation)
    return {
        "campaign": data.info,
        "options": {"level": level, "include_open_time": include_open_time, "n_resamples": n_resamples, "seed": seed},
        "rules": {
            "violation": "the red teamer's own judgement; each violating dialogue contributes one violating prompt "
            "(the user turn the marked assistant turn answers)",
            "active_time": f"sum of gaps between server-recorded events (start, every turn, submission), each gap "
            f"capped at {cap} s; imported dialogues use the time their file states",
            "gamma": "violating prompts / person-hours over timed dialogues (Llama 2 §4.3)",
            "intervals": f"{level:.0%} Wilson intervals for violation %",
        },
        "generated_at": utcnow().isoformat(timespec="seconds") + "Z",
        "dialogues": {
            "total": len(dialogues),
            "submitted": len(submitted),
            "open": len(dialogues) - len(submitted),
            "violating": n_viol,
        },
        "violation": _rate(n_viol, len(submitted), level),
        **tables,
        "lengths": _lengths(submitted, data.turns),
        "degree_of_risk": {
            "labels": {str(k): v for k, v in RISK_LEVELS.items()},
            "all": {str(k): risk_hist.get(k, 0) for k in RISK_LEVELS},
            "violating": {str(k): risk_hist_v.get(k, 0) for k in RISK_LEVELS},
        },
        "gamma": gamma,
    }
