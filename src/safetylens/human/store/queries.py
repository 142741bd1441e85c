"""Every hand-written statement of the human-evaluation platform.

The rating hot path (reservation, submission, expiry, gold checks, adaptive overlap, session
lookup) runs these through :mod:`safetylens.human.store.sql`; the rules they enforce are described
in :mod:`safetylens.human.assignment` and :mod:`safetylens.human.gold`. Statements that differ
between SQLite and PostgreSQL (row locks, data-modifying CTEs) come in both forms, selected by the
caller's ``is_postgres``.

The context of a request, everything its checks need read in one query, comes from one builder,
:func:`context_query`, for a study (``POST .../next``) or for an assignment (a rating, with or
without the session that submits it, with or without the next reservation's checks).
"""

from __future__ import annotations

from functools import cache

from safetylens.human.store.audit_log import insert_from
from safetylens.human.store.sql import Sql


def rater_has_no(item: str, rater: str, *, live: bool) -> str:
    """SQL condition: the rater holds no assignment for the item (``live``: ignore expired ones).

    ``item`` and ``rater`` are SQL expressions (a column, a ``:param``). The subquery ends in
    ``LIMIT 1 OFFSET 0`` on purpose: without the OFFSET, PostgreSQL turns the NOT EXISTS of an
    item search into an anti-join that first reads every assignment of the rater in the whole
    ``(item_id, rater_id)`` index (0.5 ms for 44,000 assignments, growing with the database); with
    it, each item looked at costs one index probe, and a search that stops at its first item costs
    one. SQLite plans the probe either way and accepts the clause.
    """
    status = " AND y.status <> 'expired'" if live else ""
    return (
        f"NOT EXISTS (SELECT 1 FROM assignments y WHERE y.item_id = {item} AND y.rater_id = {rater}{status}"
        " LIMIT 1 OFFSET 0)"
    )


# ------------------------------------------------------------------------------------ contexts

# The next reservation's checks besides the study row and the member row ``m`` (whose ``taken``
# and ``taken_checks`` the database keeps, migration 0005), as scalar subqueries over the rater
# {rid} and study {sid}. {not_this} keeps a rated assignment itself out of ``held``. ``open_level``
# is the fewest raters on any open item the rater may take (None: none open), where the item search
# starts, so that late in a study (two thirds of the ratings at N = 3 come at levels 1-2) a
# rating does not first probe every lower, already full level with two empty statements each.
_NEXT_CHECKS = """,
        m.taken, m.taken_checks,
        (SELECT o.claimed FROM items o
         WHERE o.study_id = {sid} AND o.claimed < o.target_ratings AND NOT o.is_gold
            AND {free}
         ORDER BY o.claimed LIMIT 1) AS open_level,
        (SELECT COUNT(*) FROM study_quizzes q WHERE q.study_id = {sid} AND NOT EXISTS (
            SELECT 1 FROM quiz_attempts t WHERE t.quiz_id = q.quiz_id AND t.user_id = {rid} AND t.status = 'passed'))
            AS quizzes_missing,
        (SELECT MAX(x.id) FROM assignments x
         WHERE x.rater_id = {rid} AND x.study_id = {sid} AND x.status = 'reserved'{not_this}) AS held,
        (SELECT MAX(g.version) FROM guidelines g WHERE g.study_id = {sid}) AS guidelines_version"""
_STUDY_COLUMNS = """
        s.name AS study_name, s.kind, s.status AS study_status, s.settings, s.raters_per_item,
        s.reservation_timeout_s, s.balance, s.max_items_per_rater, s.seed,
        u.role, u.status AS user_status, m.status AS member_status,
        (SELECT MAX(k.version) FROM guideline_acks k WHERE k.study_id = {sid} AND k.user_id = {rid}) AS acked_version"""
_ASSIGNMENT_COLUMNS = "a.id, a.study_id, a.item_id, a.rater_id, a.status, a.reserved_at, i.is_gold,"
# The session's columns under the names of :data:`safetylens.human.auth.SESSION_COLUMNS`
# (``user_status`` is among the study columns).
_SESSION_COLUMNS = (
    ",\n        ses.expires_at AS session_expires_at, ses.csrf_token, u.id AS user_id, u.username, u.pseudonym"
)


@cache
def context_query(*, assignment: bool, lock: bool = False, session: bool = False, next_checks: bool = False) -> Sql:
    """The query that reads a request's context in one round trip.

    Every variant returns the study's columns (``study_name``, ``kind``, ``study_status``,
    ``settings``, ``raters_per_item``, ``reservation_timeout_s``, ``balance``,
    ``max_items_per_rater``, ``seed``) and the rater's (``role``, ``user_status``,
    ``member_status``: None when not in the study's pool, ``acked_version``).

    Args:
        assignment: Read an assignment's context: parameter ``:aid``, and the assignment's
            columns (``id``, ``study_id``, ``item_id``, ``rater_id``, ``status``, ``reserved_at``,
            ``is_gold``); no row when there is no such assignment. Otherwise a study's context for
            a rater: parameters ``:sid`` and ``:rid``; no row when there is no such study.
        lock: PostgreSQL: lock the assignment row (``FOR UPDATE``), so that a concurrent
            resubmission of the same rating waits and then sees it recorded.
        session: Also authenticate: join the session ``:h`` (a token hash), whose user must be the
            assignment's rater (no row otherwise), with the columns of
            :data:`safetylens.human.auth.SESSION_COLUMNS`.
        next_checks: Also read the next reservation's checks (``taken``, ``taken_checks``,
            ``open_level``, ``quizzes_missing``, ``held``, ``guidelines_version``). For an
            assignment, ``held`` leaves the assignment itself out.

    Raises:
        ValueError: ``lock`` or ``session`` without ``assignment``.
    """
    if not assignment and (lock or session):
        raise ValueError("only an assignment's context can be locked or read with its session")
    if assignment:
        rid, sid = "a.rater_id", "a.study_id"
        source = (
            "assignments a JOIN studies s ON s.id = a.study_id JOIN users u ON u.id = a.rater_id"
            " JOIN items i ON i.id = a.item_id"
        )
        where = "a.id = :aid"
    else:
        rid, sid = ":rid", ":sid"
        # LEFT: an unknown rater still gets the study's row (and is refused as not a rater).
        source = "studies s LEFT JOIN users u ON u.id = :rid"
        where = "s.id = :sid"
    columns = (_ASSIGNMENT_COLUMNS if assignment else "") + _STUDY_COLUMNS.format(rid=rid, sid=sid)
    if session:
        columns += _SESSION_COLUMNS
        source += " JOIN sessions ses ON ses.user_id = a.rater_id"
        where += " AND ses.token_hash = :h"
    if next_checks:
        columns += _NEXT_CHECKS.format(
            rid=rid,
            sid=sid,
            not_this=" AND x.id <> a.id" if assignment else "",
            free=rater_has_no("o.id", rid, live=True),
        )
    # The rater's membership of the study (no row: not a member).
    member = f" LEFT JOIN study_members m ON m.study_id = {sid} AND m.user_id = {rid}"
    return Sql(f"SELECT {columns}\n    FROM {source}{member}\n    WHERE {where}{' FOR UPDATE OF a' if lock else ''}")


# ----------------------------------------------------------------------------------- reservation

EXTEND = Sql("UPDATE assignments SET expires_at = :exp WHERE id = :aid RETURNING item_id")
_EXPIRED = """
    SELECT id, item_id FROM assignments
    WHERE study_id = :sid AND status = 'reserved' AND expires_at < :now ORDER BY id LIMIT 200
"""
# Keyed by is_postgres: concurrent sweeps skip each other's rows instead of queueing.
EXPIRED = {False: Sql(_EXPIRED), True: Sql(_EXPIRED + " FOR UPDATE SKIP LOCKED")}
EXPIRE_ONE = Sql("UPDATE assignments SET status = 'expired' WHERE id = :aid AND status = 'reserved'")
RELEASE = Sql("UPDATE items SET claimed = claimed - 1 WHERE id = :iid")
# One pass over the study's items (three separate aggregates scanned them three times: 12-20 ms
# for 8,000 items on PostgreSQL under load, a visible step in the latency tail once a second).
CAP_INPUTS = Sql(
    """
    SELECT COUNT(*) AS n_items, COALESCE(SUM(target_ratings), 0) AS slots,
        COALESCE(MAX(target_ratings), 0) AS max_target,
        (SELECT COUNT(*) FROM study_members m JOIN users u ON u.id = m.user_id
         WHERE m.study_id = :sid AND u.status = 'active' AND u.role = 'rater' AND m.status = 'active') AS n_raters
    FROM items WHERE study_id = :sid AND is_gold = :false
    """
)
_CANDIDATE = """
    SELECT i.id FROM items i
    WHERE i.study_id = :sid AND i.claimed = :level AND i.claimed < i.target_ratings AND i.order_key {cmp} :start
      AND i.is_gold = :false
      AND {free}
    ORDER BY i.order_key
    LIMIT 1
"""
# The first open item at a level from the random point ``:start`` (``>=``) or before it (``<``),
# keyed by (is_postgres, cmp); PostgreSQL skips rows other raters are claiming.
CANDIDATES = {
    (pg, cmp): Sql(
        _CANDIDATE.format(cmp=cmp, free=rater_has_no("i.id", ":rid", live=True))
        + (" FOR UPDATE OF i SKIP LOCKED" if pg else "")
    )
    for pg in (False, True)
    for cmp in (">=", "<")
}
# Find and claim in one statement (the classic queue pattern on PostgreSQL).
PICK = {
    key: Sql(
        f"UPDATE items SET claimed = claimed + 1 WHERE id = ({q.sqlite}) AND claimed < target_ratings RETURNING id"
    )
    for key, q in CANDIDATES.items()
}
CLAIM = Sql("UPDATE items SET claimed = claimed + 1 WHERE id = :iid AND claimed < target_ratings")
_INSERT_ASSIGNMENT = "INSERT INTO assignments (study_id, item_id, rater_id, status, reserved_at, expires_at, is_gold)"
# An expired assignment of the same rater and item is reused; a live one makes the insert a no-op.
_ON_RESERVE_CONFLICT = """
    ON CONFLICT (item_id, rater_id) DO UPDATE
        SET status = 'reserved', reserved_at = excluded.reserved_at, expires_at = excluded.expires_at,
            submitted_at = NULL
        WHERE assignments.status = 'expired'
"""
_RESERVE_VALUES = "VALUES (:sid, :iid, :rid, 'reserved', :now, :exp, :gold)"
RESERVE = Sql(f"{_INSERT_ASSIGNMENT} {_RESERVE_VALUES} {_ON_RESERVE_CONFLICT} RETURNING id")

# PostgreSQL only (data-modifying CTEs): the writes of a rating in one round trip, and a
# reservation with its audit entry in another. Each round trip costs ~0.3 ms of client and server
# CPU here; SQLite, in-process, runs the same steps as separate statements.
_RESERVED_DETAILS = "json_build_object('item_id', reserved.item_id)"
RESERVE_PG = Sql(
    f"""
    WITH reserved AS ({_INSERT_ASSIGNMENT} {_RESERVE_VALUES} {_ON_RESERVE_CONFLICT} RETURNING id, item_id),
    au AS ({insert_from("reserved", "assignment.reserve", "assignment", _RESERVED_DETAILS)})
    SELECT id FROM reserved
    """
)
# What a rater sees of an item (``s``: its study, ``i``: the item), for the rating page and API.
ITEM_CONTENT = "s.kind, p.conversation, p.n_user_turns, ra.text AS response_a, rb.text AS response_b"
ITEM_CONTENT_JOINS = """
    JOIN prompts p ON p.id = i.prompt_id
    JOIN responses ra ON ra.id = i.response_id
    LEFT JOIN responses rb ON rb.id = i.response_b_id
"""
ITEM_OF_ASSIGNMENT = Sql(
    f"""
    SELECT {ITEM_CONTENT}
    FROM assignments a
    JOIN items i ON i.id = a.item_id
    JOIN studies s ON s.id = a.study_id
    {ITEM_CONTENT_JOINS}
    WHERE a.id = :aid
    """
)
# Claim an open item, reserve it, log the reservation and read the item's content in one round
# trip: the claim of PICK, the insert of RESERVE fed by it, keyed by cmp as CANDIDATES. No row:
# nothing claimed (as PICK); aid NULL: a live assignment of this rater for the claimed item
# appeared concurrently (the caller gives the slot back).
PICK_RESERVE_PG = {
    cmp: Sql(
        f"""
        WITH claimed AS ({PICK[(True, cmp)].sqlite}),
        reserved AS (
            {_INSERT_ASSIGNMENT}
            SELECT :sid, claimed.id, :rid, 'reserved', CAST(:now AS TIMESTAMP), CAST(:exp AS TIMESTAMP), :false
            FROM claimed
            {_ON_RESERVE_CONFLICT}
            RETURNING id, item_id
        ),
        au AS ({insert_from("reserved", "assignment.reserve", "assignment", _RESERVED_DETAILS)})
        SELECT claimed.id AS item_id, reserved.id AS aid, {ITEM_CONTENT}
        FROM claimed LEFT JOIN reserved ON true JOIN items i ON i.id = claimed.id JOIN studies s ON s.id = i.study_id
        {ITEM_CONTENT_JOINS}
        """
    )
    for cmp in (">=", "<")
}

# ------------------------------------------------------------------------------------ submission

EXISTING_RATING = Sql("SELECT id, value FROM ratings WHERE assignment_id = :aid")
MARK_SUBMITTED = Sql(
    "UPDATE assignments SET status = 'submitted', submitted_at = :now WHERE id = :aid AND status = :old"
)
INSERT_RATING = Sql(
    """
    INSERT INTO ratings (assignment_id, study_id, item_id, rater_id, value, scale, comment, time_spent_ms,
        server_elapsed_ms, guidelines_version, created_at)
    VALUES (:aid, :sid, :iid, :rid, :value, :scale, :comment, :spent, :elapsed, :gv, :now)
    RETURNING id
    """
)
COMPLETE = Sql("UPDATE items SET completed = completed + 1 WHERE id = :iid")
# MARK_SUBMITTED, INSERT_RATING, COMPLETE and the rating's audit entry in one round trip.
SUBMIT_PG = Sql(
    """
    WITH m AS (
        UPDATE assignments SET status = 'submitted', submitted_at = :now WHERE id = :aid AND status = :old
        RETURNING id
    ), r AS (
        INSERT INTO ratings (assignment_id, study_id, item_id, rater_id, value, scale, comment, time_spent_ms,
            server_elapsed_ms, guidelines_version, created_at)
        SELECT m.id, :sid, :iid, :rid, :value, CAST(:scale AS VARCHAR), CAST(:comment AS TEXT),
            CAST(:spent AS INTEGER), :elapsed, CAST(:gv AS INTEGER), CAST(:now AS TIMESTAMP) FROM m
        RETURNING id
    ), c AS (
        UPDATE items SET completed = completed + 1 WHERE id = :iid AND EXISTS (SELECT 1 FROM r) RETURNING id
    ), au AS ("""
    + insert_from("r", "rating.create", "rating")
    + """)
    SELECT id FROM r
    """
)
SKIP = Sql(
    """
    UPDATE assignments SET status = 'skipped' WHERE id = :aid AND rater_id = :rid AND status IN ('reserved', 'expired')
    RETURNING item_id, study_id
    """
)
SKIP_STATE = Sql("SELECT status FROM assignments WHERE id = :aid AND rater_id = :rid")

# ------------------------------------------------------------------------------ gold and overlap

_GOLD_CANDIDATE = f"""
    SELECT i.id FROM items i
    WHERE i.study_id = :sid AND i.is_gold = :true AND i.claimed < i.target_ratings
      AND {rater_has_no("i.id", ":rid", live=False)}
    ORDER BY i.order_key
    LIMIT 1
"""
# Claim a check item the rater never had, keyed by is_postgres.
PICK_GOLD = {
    pg: Sql(
        "UPDATE items SET claimed = claimed + 1 WHERE id = ("
        + _GOLD_CANDIDATE
        + (" FOR UPDATE OF i SKIP LOCKED" if pg else "")
        + ") AND claimed < target_ratings RETURNING id"
    )
    for pg in (False, True)
}
# The rater's checks since they were last (re)admitted to the study.
GOLD_WINDOW = Sql(
    """
    SELECT r.value, g.accepted FROM ratings r JOIN gold_items g ON g.item_id = r.item_id
    WHERE r.study_id = :sid AND r.rater_id = :rid
      AND r.created_at >= (SELECT COALESCE(m.status_changed_at, m.added_at) FROM study_members m
                           WHERE m.study_id = :sid AND m.user_id = :rid)
    """
)
PAUSE = Sql(
    """
    UPDATE study_members SET status = 'paused', status_changed_at = :now
    WHERE study_id = :sid AND user_id = :rid AND status = 'active'
    """
)
OVERLAP_STATE = Sql("SELECT completed, target_ratings FROM items WHERE id = :iid")
ITEM_VALUES = Sql("SELECT value FROM ratings WHERE item_id = :iid")
GROW = Sql(
    "UPDATE items SET target_ratings = target_ratings + 1 WHERE id = :iid AND target_ratings = :t AND completed = :t"
)

# ------------------------------------------------------------------------------------- sessions

RESOLVE_SESSION = Sql(
    """
    SELECT s.expires_at AS session_expires_at, s.csrf_token, u.id AS user_id, u.username, u.role, u.pseudonym,
        u.status AS user_status
    FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = :h
    """
)
# PostgreSQL: makes a login's rate-limit check and its record one step no other login interleaves
# with (plain reads go on); SQLite's write lock does the same there.
LOCK_LOGIN_ATTEMPTS = Sql("LOCK TABLE login_attempts IN SHARE ROW EXCLUSIVE MODE")
