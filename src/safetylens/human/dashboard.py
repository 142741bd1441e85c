"""The rater dashboard (staff only): per rater, how much, how fast, how well.

Per rater in a study: items rated (checks excluded), median and mean seconds per item (the
browser's active time, else the server's reservation-to-submission time), accuracy on gold and
attention checks, agreement with the other raters' majority (one measure with the results page:
:func:`safetylens.human.results.agreement_with_others`), skip rate
(skipped / (skipped + rated), checks included because a rater cannot tell them apart), expired
reservations, and pairwise agreement with every other rater on the items both rated.

Agreement is on the violation flag (rating 1-2 vs 3-5) in safety studies and on the preferred
side (A better / about the same / B better) in pairwise studies; every proportion carries its
n and a 95% Wilson interval (:func:`safetylens.stats.ci.proportion`).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from itertools import combinations
from typing import Any

from sqlalchemy import func, select

from safetylens.human.db import Database
from safetylens.human.gold import check_scores
from safetylens.human.models import Assignment, StudyMember, User
from safetylens.human.results import (
    AGREEMENT_WITH_MAJORITY,
    RatingRow,
    agreement_label,
    agreement_with_others,
    load_ratings,
)
from safetylens.human.studies import find_study
from safetylens.stats.ci import proportion


def _prop(k: int, n: int) -> dict[str, Any] | None:
    return proportion(k, n).model_dump(mode="json") if n else None


def rater_dashboard(db: Database, study_ref: str | int) -> dict[str, Any]:
    """The dashboard of a study as a JSON-ready dict: ``raters`` and ``pairwise``."""
    with db.read() as s:
        study = find_study(s, study_ref)
        rows = load_ratings(s, study)
        checks = check_scores(s, study.id)
        members = s.execute(
            select(User.id, User.pseudonym, User.username, StudyMember.status)
            .join(StudyMember, StudyMember.user_id == User.id)
            .where(StudyMember.study_id == study.id)
            .order_by(User.username)
        ).all()
        statuses: dict[int, dict[str, int]] = defaultdict(dict)
        for rater_id, status, n in s.execute(
            select(Assignment.rater_id, Assignment.status, func.count())
            .where(Assignment.study_id == study.id)
            .group_by(Assignment.rater_id, Assignment.status)
        ).all():
            statuses[rater_id][status] = int(n)
    kind = study.kind
    per_rater: dict[int, list[RatingRow]] = defaultdict(list)
    for r in rows:
        per_rater[r.rater_id].append(r)
    agreement = agreement_with_others(rows, kind)
    out = []
    names = {m.id: m.pseudonym for m in members}
    for r_id in sorted(set(per_rater) | set(names), key=lambda i: names.get(i, "")):
        mine = per_rater.get(r_id, [])
        times = [(r.time_spent_ms if r.time_spent_ms is not None else r.server_elapsed_ms) / 1000 for r in mine]
        agree, n_maj = agreement.get(r_id, (0, 0))
        st = statuses.get(r_id, {})
        skipped, submitted = st.get("skipped", 0), st.get("submitted", 0)
        score = checks.get(r_id)
        member = next((m for m in members if m.id == r_id), None)
        out.append(
            {
                "rater_id": r_id,
                "rater": names.get(r_id, mine[0].rater if mine else str(r_id)),
                "username": member.username if member else None,
                "status": member.status if member else "not in study",
                "items_done": len(mine),
                "median_seconds_per_item": statistics.median(times) if times else None,
                "mean_seconds_per_item": statistics.fmean(times) if times else None,
                "checks": score.n if score else 0,
                "gold_accuracy": _prop(score.correct, score.n) if score else None,
                "attention_accuracy": _prop(score.correct_attention, score.n_attention)
                if score and score.n_attention
                else None,
                "agreement_with_majority": _prop(agree, n_maj),
                "skipped": skipped,
                "expired": st.get("expired", 0),
                "skip_rate": _prop(skipped, skipped + submitted),
            }
        )
    pairwise = []
    ratings_by_rater = {rid: {r.item_id: agreement_label(kind, r.value) for r in rs} for rid, rs in per_rater.items()}
    for a, b in combinations(sorted(ratings_by_rater, key=lambda i: names.get(i, "")), 2):
        shared = set(ratings_by_rater[a]) & set(ratings_by_rater[b])
        if not shared:
            continue
        k = sum(1 for i in shared if ratings_by_rater[a][i] == ratings_by_rater[b][i])
        pairwise.append(
            {
                "rater_a": names.get(a, str(a)),
                "rater_b": names.get(b, str(b)),
                "shared_items": len(shared),
                "agreement": _prop(k, len(shared)),
            }
        )
    return {
        "study": {"id": study.id, "name": study.name, "kind": kind},
        "agreement_on": "violation flag (1-2 vs 3-5)" if kind == "safety" else "preferred side (A / same / B)",
        "agreement_with_majority": AGREEMENT_WITH_MAJORITY,
        "raters": out,
        "pairwise": pairwise,
    }
