"""Qualification quizzes of the paper's four kinds (Llama 2, App. A.5.4), graded and gated.

Kinds and their default pass rules (the paper's thresholds; every quiz may set its own):

========== =========================================================== ==========================
kind       paper                                                       default ``pass_rules``
========== =========================================================== ==========================
grammar    grammar, reading comprehension, writing; >= 90% on part I,   auto_accuracy[I] >= 0.9,
           then an average of 4 on parts II and III                    mean_grade[II, III] >= 4
sensitive  sensitive-topic alignment, answer ranking, two written       auto_accuracy >= 0.8,
           answers; 80% agreement and 4/5 on the writing               mean_grade >= 4
quality    quality-assessment alignment: grade and rank prompt-answer   auto_accuracy > 26/31
           pairs against reference answers; more than 26 of 31
writing    choose at least 6 of 18 prompts and answer them; an average  answered >= 6,
           score above 4                                               mean_grade > 4
========== =========================================================== ==========================

``auto_accuracy > 26/31`` is exactly "more than 26 of 31" on a 31-question quiz and scales to
quizzes of other lengths.

Question types: ``choice`` (auto-graded against the key), ``ranking`` (auto-graded: the
candidate's order must equal the reference order) and ``text`` (graded 1-5 by a reviewer in the
review queue). A rule is ``{"metric", "op", "value"}`` with an optional ``sections`` filter:

- ``auto_accuracy``: share of the choice and ranking questions answered correctly;
- ``mean_grade``: mean reviewer grade of the answered text questions;
- ``answered``: number of text questions answered (optional questions let candidates choose).

Flow: a rater starts an attempt, submits it once; auto-graded rules are checked at once (a
failure there ends the attempt without review), then text answers wait for a reviewer; when the
last one is graded the attempt passes or fails. A failed attempt can be retried after the quiz's
cooldown, up to ``max_attempts``. A study may require quizzes; its raters receive items only
after passing all of them (checked in :mod:`safetylens.human.assignment`). Every step is audited.
Answer keys, reference answers and rubrics never leave the staff pages.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safetylens.errors import ConfigError, SafetylensError
from safetylens.human.db import Database, find_by_ref, utcnow
from safetylens.human.models import (
    QUESTION_TYPES,
    QUIZ_KINDS,
    Quiz,
    QuizAnswer,
    QuizAttempt,
    QuizQuestion,
    Study,
    StudyMember,
    StudyQuiz,
    User,
)
from safetylens.human.studies import audit

METRICS = ("auto_accuracy", "mean_grade", "answered")
OPS = (">=", ">")
DEFAULT_COOLDOWN_S = 24 * 3600
TIME_GRACE_S = 30
MAX_TEXT_ANSWER = 20_000

DEFAULT_RULES: dict[str, list[dict[str, Any]]] = {
    "grammar": [
        {"metric": "auto_accuracy", "sections": ["I"], "op": ">=", "value": 0.9},
        {"metric": "mean_grade", "sections": ["II", "III"], "op": ">=", "value": 4},
    ],
    "sensitive": [
        {"metric": "auto_accuracy", "op": ">=", "value": 0.8},
        {"metric": "mean_grade", "op": ">=", "value": 4},
    ],
    "quality": [{"metric": "auto_accuracy", "op": ">", "value": 26 / 31}],
    "writing": [
        {"metric": "answered", "op": ">=", "value": 6},
        {"metric": "mean_grade", "op": ">", "value": 4},
    ],
}


class QuizError(SafetylensError):
    """A quiz action that is not allowed now (cooldown, no attempts left, not your quiz)."""

    status = 409


# ------------------------------------------------------------------------------------ authoring


def _duration(value: Any, where: str) -> int | None:
    """Seconds from an int or a string like ``90s``, ``50m``, ``24h``, ``2d``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{where}: not a duration: {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value).strip().lower()
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        try:
            seconds = int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units else int(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: not a duration: {value!r}", hint="e.g. 90s, 50m, 24h") from exc
    if seconds < 0:
        raise ConfigError(f"{where}: durations cannot be negative")
    return seconds


def _rule_text(rule: dict[str, Any]) -> str:
    where = f"[{', '.join(rule['sections'])}]" if rule.get("sections") else ""
    value = rule["value"]
    shown = "26/31" if math.isclose(value, 26 / 31) else f"{value:g}"
    return f"{rule['metric']}{where} {rule['op']} {shown}"


def _check_rules(rules: Any, questions: Sequence[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    if not isinstance(rules, list) or not rules:
        raise ConfigError(f"{where}: pass_rules must be a non-empty list")
    out = []
    for k, rule in enumerate(rules, 1):
        loc = f"{where}: pass rule {k}"
        if not isinstance(rule, dict) or set(rule) - {"metric", "sections", "op", "value"}:
            raise ConfigError(f"{loc}: expected metric, op, value and optional sections")
        metric, op, value = rule.get("metric"), rule.get("op", ">="), rule.get("value")
        if metric not in METRICS:
            raise ConfigError(f"{loc}: metric must be one of {', '.join(METRICS)}")
        if op not in OPS:
            raise ConfigError(f"{loc}: op must be >= or >")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"{loc}: value must be a number")
        sections = rule.get("sections")
        if sections is not None and (not isinstance(sections, list) or not all(isinstance(x, str) for x in sections)):
            raise ConfigError(f"{loc}: sections must be a list of section names")
        types = ("choice", "ranking") if metric == "auto_accuracy" else ("text",)
        if not any(q["qtype"] in types and (not sections or q["section"] in sections) for q in questions):
            raise ConfigError(
                f"{loc}: {metric} needs {' or '.join(types)} questions"
                + (f" in section(s) {', '.join(sections)}" if sections else "")
            )
        clean = {"metric": metric, "op": op, "value": float(value)}
        if sections:
            clean["sections"] = list(sections)
        out.append(clean)
    return out


def _question(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    qtype = raw.get("type", "choice")
    if qtype not in QUESTION_TYPES:
        raise ConfigError(f"{where}: type must be one of {', '.join(QUESTION_TYPES)}")
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: missing text")
    q: dict[str, Any] = {
        "qtype": qtype,
        "text": text,
        "section": str(raw.get("section", "")),
        "options": [],
        "answer_key": [],
        "reference": str(raw.get("reference", "")),
        "rubric": str(raw.get("rubric", "")),
        "required": bool(raw.get("required", True)),
    }
    if qtype in ("choice", "ranking"):
        options = raw.get("options")
        if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise ConfigError(f"{where}: a {qtype} question needs at least two text options")
        if len(set(options)) != len(options):
            raise ConfigError(f"{where}: options must be distinct")
        q["options"] = options
        answer = raw.get("answer")
        if qtype == "choice":
            if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(options):
                q["answer_key"] = [answer]
            elif isinstance(answer, str) and answer in options:
                q["answer_key"] = [options.index(answer)]
            else:
                raise ConfigError(f"{where}: answer must be one of the options (its text or 0-based index)")
        else:
            if not isinstance(answer, list) or sorted(map(str, answer)) != sorted(options):
                raise ConfigError(f"{where}: answer must list every option once, in the reference order")
            q["answer_key"] = [options.index(a) for a in answer]
        if not q["required"]:
            raise ConfigError(f"{where}: only text questions can be optional")
    return q


def parse_quiz(raw: Any, where: str = "quiz") -> dict[str, Any]:
    """Validate one quiz definition (a mapping) and return it normalised.

    Raises:
        ConfigError: What is wrong and where.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping")
    name = str(raw.get("name", "")).strip()
    if not name or len(name) > 100:
        raise ConfigError(f"{where}: a quiz needs a name of 1-100 characters")
    where = f"{where} {name!r}"
    kind = raw.get("kind")
    if kind not in QUIZ_KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(QUIZ_KINDS)}")
    questions_raw = raw.get("questions")
    if not isinstance(questions_raw, list) or not questions_raw:
        raise ConfigError(f"{where}: needs a list of questions")
    questions = [_question(q, f"{where}, question {i}") for i, q in enumerate(questions_raw, 1)]
    rules = _check_rules(raw.get("pass_rules", DEFAULT_RULES[kind]), questions, where)
    max_attempts = raw.get("max_attempts")
    if max_attempts is not None and (not isinstance(max_attempts, int) or max_attempts < 1):
        raise ConfigError(f"{where}: max_attempts must be a positive integer")
    cooldown = _duration(raw.get("cooldown", DEFAULT_COOLDOWN_S), f"{where}: cooldown")
    return {
        "name": name,
        "kind": kind,
        "title": str(raw.get("title") or name)[:200],
        "description": str(raw.get("description", "")),
        "pass_rules": rules,
        "cooldown_s": cooldown if cooldown is not None else DEFAULT_COOLDOWN_S,
        "max_attempts": max_attempts,
        "time_limit_s": _duration(raw.get("time_limit"), f"{where}: time_limit"),
        "questions": questions,
    }


def load_quiz_file(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """Quizzes from a YAML or JSON file: ``{"example": bool, "quizzes": [...]}`` or one quiz.

    Returns:
        The normalised quizzes and whether the file marks itself as example content.

    Raises:
        ConfigError: Unreadable or invalid file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parse_quiz_text(text, str(path), yaml_ok=path.suffix.lower() != ".json")


def parse_quiz_text(text: str, where: str = "input", *, yaml_ok: bool = True) -> tuple[list[dict[str, Any]], bool]:
    """Like :func:`load_quiz_file` for text already read (YAML or JSON)."""
    try:
        if yaml_ok:
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"{where}: not valid {'YAML' if yaml_ok else 'JSON'}: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError and friends
        raise ConfigError(f"{where}: not valid YAML: {exc}") from exc
    if isinstance(data, dict) and "quizzes" in data:
        items, example = data["quizzes"], bool(data.get("example", False))
    else:
        items, example = [data], False
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: no quizzes")
    quizzes = [parse_quiz(q, f"{where}: quiz {i}") for i, q in enumerate(items, 1)]
    names = [q["name"] for q in quizzes]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: quiz names must be unique")
    return quizzes, example


def import_quizzes(
    db: Database, quizzes: Sequence[dict[str, Any]], *, example: bool = False, actor_id: int | None = None
) -> list[int]:
    """Create quizzes from parsed definitions (all or nothing); returns their ids.

    Raises:
        ConfigError: A quiz with that name exists.
    """
    ids = []
    now = utcnow()
    try:
        with db.write() as s:
            for q in quizzes:
                if s.scalar(select(Quiz.id).where(Quiz.name == q["name"])) is not None:
                    raise ConfigError(
                        f"a quiz named {q['name']!r} already exists",
                        hint="quizzes with attempts are never changed in place; import under a new name",
                    )
                quiz = Quiz(
                    name=q["name"],
                    kind=q["kind"],
                    title=q["title"],
                    description=q["description"],
                    pass_rules=q["pass_rules"],
                    cooldown_s=q["cooldown_s"],
                    max_attempts=q["max_attempts"],
                    time_limit_s=q["time_limit_s"],
                    is_example=example,
                    created_at=now,
                    created_by=actor_id,
                )
                s.add(quiz)
                s.flush()
                for pos, qq in enumerate(q["questions"], 1):
                    s.add(QuizQuestion(quiz_id=quiz.id, position=pos, **qq))
                audit(
                    s,
                    actor_id,
                    "quiz.create",
                    "quiz",
                    quiz.id,
                    details={
                        "name": q["name"],
                        "kind": q["kind"],
                        "questions": len(q["questions"]),
                        "example": example,
                    },
                )
                ids.append(quiz.id)
    except IntegrityError as exc:
        raise ConfigError("a quiz with one of these names was created concurrently") from exc
    return ids


def find_quiz(s: Session, ref: str | int) -> Quiz:
    """A quiz by id or name.

    Raises:
        ConfigError: No such quiz.
    """
    return find_by_ref(s, Quiz, ref, "quiz", "list quizzes with: safetylens human quiz list")


def questions_of(s: Session, quiz_id: int) -> list[QuizQuestion]:
    """A quiz's questions in order."""
    return list(s.scalars(select(QuizQuestion).where(QuizQuestion.quiz_id == quiz_id).order_by(QuizQuestion.position)))


def set_required_quizzes(db: Database, study_id: int, quiz_ids: Sequence[int], *, actor_id: int | None) -> None:
    """Set which quizzes a study's raters must pass before receiving items (audited).

    Raises:
        ConfigError: Unknown study or quiz.
    """
    with db.write() as s:
        if s.get(Study, study_id) is None:
            raise ConfigError(f"no study with id {study_id}")
        wanted = set(quiz_ids)
        for qid in wanted:
            if s.get(Quiz, qid) is None:
                raise ConfigError(f"no quiz with id {qid}")
        current = {sq.quiz_id: sq for sq in s.scalars(select(StudyQuiz).where(StudyQuiz.study_id == study_id))}
        for qid in sorted(wanted - set(current)):
            s.add(StudyQuiz(study_id=study_id, quiz_id=qid, added_at=utcnow()))
            audit(s, actor_id, "study.quiz.require", "study", study_id, study_id=study_id, details={"quiz_id": qid})
        for qid in sorted(set(current) - wanted):
            s.delete(current[qid])
            audit(s, actor_id, "study.quiz.unrequire", "study", study_id, study_id=study_id, details={"quiz_id": qid})


def required_quizzes(s: Session, study_id: int) -> list[Quiz]:
    """The quizzes a study requires."""
    return list(
        s.scalars(
            select(Quiz).join(StudyQuiz, StudyQuiz.quiz_id == Quiz.id).where(StudyQuiz.study_id == study_id)
        ).all()
    )


# ------------------------------------------------------------------------------------- attempts


@dataclass(frozen=True)
class QuizState:
    """Where a rater stands with a quiz.

    Attributes:
        status: ``passed``, ``pending_review``, ``in_progress``, ``failed`` or ``new``.
        attempt: The newest attempt (None before the first).
        attempts: Attempts so far.
        can_start: A new attempt may start now.
        retry_at: With a cooldown running: when the next attempt may start.
        reason: Why no attempt can start (cooldown, attempts used up), for the rater.
    """

    status: str
    attempt: QuizAttempt | None
    attempts: int
    can_start: bool
    retry_at: datetime | None
    reason: str | None


def may_take(s: Session, quiz_id: int, user_id: int) -> bool:
    """A rater may see a quiz only when a study they are in requires it."""
    return (
        s.scalar(
            select(StudyQuiz.quiz_id)
            .join(StudyMember, StudyMember.study_id == StudyQuiz.study_id)
            .where(StudyQuiz.quiz_id == quiz_id, StudyMember.user_id == user_id)
            .limit(1)
        )
        is not None
    )


def quiz_state(s: Session, quiz: Quiz, user_id: int, now: datetime | None = None) -> QuizState:
    """A rater's state for a quiz (see :class:`QuizState`)."""
    now = now or utcnow()
    attempts = list(
        s.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.quiz_id == quiz.id, QuizAttempt.user_id == user_id)
            .order_by(QuizAttempt.number)
        )
    )
    last = attempts[-1] if attempts else None
    if any(a.status == "passed" for a in attempts):
        return QuizState("passed", last, len(attempts), False, None, "you passed this quiz")
    if last is None:
        return QuizState("new", None, 0, True, None, None)
    if last.status in ("in_progress", "pending_review"):
        return QuizState(last.status, last, len(attempts), False, None, None)
    if quiz.max_attempts is not None and len(attempts) >= quiz.max_attempts:
        return QuizState("failed", last, len(attempts), False, None, "no attempts left; contact your coordinator")
    retry_at = (last.finished_at or last.started_at) + timedelta(seconds=quiz.cooldown_s)
    if now < retry_at:
        wait = math.ceil((retry_at - now).total_seconds())
        return QuizState("failed", last, len(attempts), False, retry_at, f"you can try again in {_human(wait)}")
    return QuizState("failed", last, len(attempts), True, None, None)


def _human(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def start_attempt(db: Database, quiz_id: int, user_id: int, *, now: datetime | None = None) -> int:
    """Start an attempt (or return the one in progress).

    Raises:
        QuizError: Passed already, waiting for review, cooldown running or no attempts left.
    """
    now = now or utcnow()
    try:
        with db.write() as s:
            quiz = s.get(Quiz, quiz_id)
            if quiz is None:
                raise QuizError("no such quiz")
            state = quiz_state(s, quiz, user_id, now)
            if state.status == "in_progress" and state.attempt is not None:
                return state.attempt.id
            if not state.can_start:
                raise QuizError(state.reason or "this quiz is waiting for a reviewer")
            attempt = QuizAttempt(
                quiz_id=quiz_id, user_id=user_id, number=state.attempts + 1, status="in_progress", started_at=now
            )
            s.add(attempt)
            s.flush()
            audit(s, user_id, "quiz.attempt.start", "quiz_attempt", attempt.id, details={"quiz_id": quiz_id})
            return attempt.id
    except IntegrityError as exc:
        raise QuizError("an attempt was started concurrently; reload the page") from exc


def _auto_correct(q: QuizQuestion, answer: Any) -> bool:
    if q.qtype == "choice":
        return isinstance(answer, int) and [answer] == list(q.answer_key)
    return isinstance(answer, list) and list(answer) == list(q.answer_key)


def _normalise_answer(q: QuizQuestion, raw: Any) -> Any:
    """The stored form of an answer: an option index, a list of indices, or text (None = blank)."""
    if q.qtype == "choice":
        if raw is None or raw == "":
            return None
        try:
            idx = int(raw)
        except (TypeError, ValueError) as exc:
            raise QuizError(f"question {q.position}: not an option") from exc
        if not 0 <= idx < len(q.options):
            raise QuizError(f"question {q.position}: not an option")
        return idx
    if q.qtype == "ranking":
        # raw: the rank (1 = best) given to each option, in option order; stored as the order.
        if raw is None or not isinstance(raw, list) or len(raw) != len(q.options):
            return None
        try:
            ranks = [int(r) for r in raw]
        except (TypeError, ValueError):
            return None
        if sorted(ranks) != list(range(1, len(q.options) + 1)):
            raise QuizError(f"question {q.position}: give each answer a different rank from 1 to {len(q.options)}")
        return [i for _, i in sorted((r, i) for i, r in enumerate(ranks))]
    text = str(raw or "").strip()
    if len(text) > MAX_TEXT_ANSWER:
        raise QuizError(f"question {q.position}: answers are at most {MAX_TEXT_ANSWER} characters")
    return text or None


def submit_attempt(
    db: Database, quiz_id: int, user_id: int, answers: dict[int, Any], *, now: datetime | None = None
) -> QuizAttempt:
    """Submit the rater's attempt in progress; auto-graded parts are graded at once.

    Args:
        db: Database.
        quiz_id: The quiz.
        user_id: The rater.
        answers: Question id -> option index (choice), ranks per option (ranking) or text.
        now: Submission time.

    Raises:
        QuizError: No attempt in progress, or a required question left blank.
    """
    now = now or utcnow()
    with db.write() as s:
        quiz = s.get(Quiz, quiz_id)
        if quiz is None:
            raise QuizError("no such quiz")
        attempt = s.scalar(
            select(QuizAttempt).where(
                QuizAttempt.quiz_id == quiz_id, QuizAttempt.user_id == user_id, QuizAttempt.status == "in_progress"
            )
        )
        if attempt is None:
            raise QuizError("no attempt in progress; start the quiz first")
        questions = questions_of(s, quiz_id)
        stored: list[QuizAnswer] = []
        for q in questions:
            value = _normalise_answer(q, answers.get(q.id))
            if value is None and q.required:
                raise QuizError(f"answer question {q.position} before submitting")
            if value is None:
                continue
            stored.append(
                QuizAnswer(
                    attempt_id=attempt.id,
                    question_id=q.id,
                    answer={"value": value},
                    correct=_auto_correct(q, value) if q.qtype != "text" else None,
                )
            )
        s.add_all(stored)
        attempt.submitted_at = now
        overtime = (
            quiz.time_limit_s is not None
            and (now - attempt.started_at).total_seconds() > quiz.time_limit_s + TIME_GRACE_S
        )
        s.flush()
        audit(
            s,
            user_id,
            "quiz.attempt.submit",
            "quiz_attempt",
            attempt.id,
            details={"quiz_id": quiz_id, "answers": len(stored)},
        )
        _evaluate(s, quiz, attempt, questions, stored, now, actor_id=user_id, overtime=overtime)
        return attempt


def _metric(rule: dict[str, Any], questions: Sequence[QuizQuestion], answers: dict[int, QuizAnswer]) -> float | None:
    """A rule's metric; None while text grades are missing."""
    sections = rule.get("sections")
    chosen = [q for q in questions if not sections or q.section in sections]
    if rule["metric"] == "auto_accuracy":
        auto = [q for q in chosen if q.qtype != "text"]
        if not auto:
            return math.nan
        return sum(1 for q in auto if q.id in answers and answers[q.id].correct) / len(auto)
    texts = [answers[q.id] for q in chosen if q.qtype == "text" and q.id in answers]
    if rule["metric"] == "answered":
        return float(len(texts))
    grades = [a.grade for a in texts]
    if any(g is None for g in grades):
        return None
    return sum(g for g in grades if g is not None) / len(grades) if grades else math.nan


def _holds(rule: dict[str, Any], value: float) -> bool:
    if math.isnan(value):
        return False
    threshold = float(rule["value"])
    return value >= threshold if rule["op"] == ">=" else value > threshold


def _evaluate(
    s: Session,
    quiz: Quiz,
    attempt: QuizAttempt,
    questions: Sequence[QuizQuestion],
    answers: Sequence[QuizAnswer],
    now: datetime,
    *,
    actor_id: int | None,
    overtime: bool = False,
) -> None:
    """Decide an attempt: failed as soon as any rule fails, passed when all hold, else pending."""
    by_q = {a.question_id: a for a in answers}
    results = []
    failed = pending = False
    for rule in quiz.pass_rules:
        value = _metric(rule, questions, by_q)
        ok = None if value is None else _holds(rule, value)
        failed |= ok is False
        pending |= ok is None
        results.append({"rule": _rule_text(rule), "value": value, "passed": ok})
    auto = [q for q in questions if q.qtype != "text"]
    score: dict[str, Any] = {
        "rules": results,
        "auto_correct": sum(1 for q in auto if q.id in by_q and by_q[q.id].correct),
        "auto_total": len(auto),
        "text_answered": sum(1 for q in questions if q.qtype == "text" and q.id in by_q),
    }
    if overtime:
        score["reason"] = f"submitted after the time limit of {quiz.time_limit_s} s"
        failed = True
    attempt.score = score
    status = "failed" if failed else "pending_review" if pending else "passed"
    attempt.status = status
    if status != "pending_review":
        attempt.finished_at = now
        audit(
            s,
            actor_id,
            "quiz.attempt.finish",
            "quiz_attempt",
            attempt.id,
            details={"quiz_id": quiz.id, "user_id": attempt.user_id, "status": status, "score": score},
        )


def grade_answer(db: Database, answer_id: int, grade: int, *, grader_id: int, note: str = "") -> str:
    """A reviewer's 1-5 grade of a text answer; decides the attempt after its last grade.

    Returns:
        The attempt's status afterwards.

    Raises:
        ConfigError: No such text answer, a grade outside 1-5, or the attempt is decided.
    """
    if grade not in (1, 2, 3, 4, 5):
        raise ConfigError(f"grades are 1-5, got {grade}")
    now = utcnow()
    with db.write() as s:
        answer = s.get(QuizAnswer, answer_id)
        if answer is None:
            raise ConfigError(f"no answer with id {answer_id}")
        question = s.get(QuizQuestion, answer.question_id)
        attempt = s.get(QuizAttempt, answer.attempt_id)
        assert question is not None and attempt is not None
        if question.qtype != "text":
            raise ConfigError("only text answers are graded by reviewers")
        if attempt.status != "pending_review":
            raise ConfigError(f"this attempt is already {attempt.status.replace('_', ' ')}")
        old = answer.grade
        answer.grade, answer.grader_id, answer.graded_at, answer.grader_note = grade, grader_id, now, note.strip()
        audit(
            s,
            grader_id,
            "quiz.answer.grade",
            "quiz_answer",
            answer.id,
            details={"attempt_id": attempt.id, "grade": {"from": old, "to": grade}},
        )
        quiz = s.get(Quiz, attempt.quiz_id)
        assert quiz is not None
        answers = list(s.scalars(select(QuizAnswer).where(QuizAnswer.attempt_id == attempt.id)))
        _evaluate(s, quiz, attempt, questions_of(s, quiz.id), answers, now, actor_id=grader_id)
        return attempt.status


@dataclass(frozen=True)
class ReviewEntry:
    """A text answer waiting for a grade (the candidate is shown by pseudonym only)."""

    answer_id: int
    quiz: str
    question: QuizQuestion
    candidate: str
    text: str
    submitted_at: datetime | None


def review_queue(db: Database) -> list[ReviewEntry]:
    """Ungraded text answers of attempts waiting for review, oldest first."""
    with db.read() as s:
        rows = s.execute(
            select(QuizAnswer, QuizQuestion, Quiz.name, User.pseudonym, QuizAttempt.submitted_at)
            .join(QuizQuestion, QuizQuestion.id == QuizAnswer.question_id)
            .join(QuizAttempt, QuizAttempt.id == QuizAnswer.attempt_id)
            .join(Quiz, Quiz.id == QuizAttempt.quiz_id)
            .join(User, User.id == QuizAttempt.user_id)
            .where(QuizAttempt.status == "pending_review", QuizQuestion.qtype == "text", QuizAnswer.grade.is_(None))
            .order_by(QuizAttempt.submitted_at, QuizAnswer.id)
        ).all()
    return [ReviewEntry(a.id, name, q, pseudo, str(a.answer.get("value", "")), at) for a, q, name, pseudo, at in rows]


def quiz_results(db: Database, quiz_ref: str | int | None = None) -> list[dict[str, Any]]:
    """Every attempt (optionally of one quiz): who, when, status and score."""
    with db.read() as s:
        q = (
            select(QuizAttempt, Quiz.name, User.username, User.pseudonym)
            .join(Quiz, Quiz.id == QuizAttempt.quiz_id)
            .join(User, User.id == QuizAttempt.user_id)
            .order_by(Quiz.name, User.username, QuizAttempt.number)
        )
        if quiz_ref is not None:
            q = q.where(QuizAttempt.quiz_id == find_quiz(s, quiz_ref).id)
        rows = s.execute(q).all()
    return [
        {
            "quiz": name,
            "user": username,
            "pseudonym": pseudonym,
            "attempt": a.number,
            "status": a.status,
            "started_at": a.started_at.isoformat(timespec="seconds") + "Z",
            "submitted_at": a.submitted_at.isoformat(timespec="seconds") + "Z" if a.submitted_at else None,
            "finished_at": a.finished_at.isoformat(timespec="seconds") + "Z" if a.finished_at else None,
            "score": a.score,
        }
        for a, name, username, pseudonym in rows
    ]


def list_quizzes(db: Database) -> list[dict[str, Any]]:
    """Every quiz with its question count and attempt counts by status."""
    with db.read() as s:
        quizzes = list(s.scalars(select(Quiz).order_by(Quiz.id)))
        counts = dict(s.execute(select(QuizQuestion.quiz_id, func.count()).group_by(QuizQuestion.quiz_id)).all())
        by_status: dict[int, dict[str, int]] = {}
        for qid, status, n in s.execute(
            select(QuizAttempt.quiz_id, QuizAttempt.status, func.count()).group_by(
                QuizAttempt.quiz_id, QuizAttempt.status
            )
        ).all():
            by_status.setdefault(qid, {})[status] = int(n)
    return [
        {
            "id": q.id,
            "name": q.name,
            "kind": q.kind,
            "title": q.title,
            "example": q.is_example,
            "questions": int(counts.get(q.id, 0)),
            "pass_rules": [_rule_text(r) for r in q.pass_rules],
            "cooldown_s": q.cooldown_s,
            "max_attempts": q.max_attempts,
            "attempts": by_status.get(q.id, {}),
        }
        for q in quizzes
    ]


def rule_texts(quiz: Quiz) -> list[str]:
    """The quiz's pass rules as short text (shown to candidates: thresholds, not answers)."""
    return [_rule_text(r) for r in quiz.pass_rules]
