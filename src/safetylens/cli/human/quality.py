"""Rating quality: ``safetylens human quiz ...``, ``checks``, ``quality``, ``audit export``, ``edit-rating``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import console, err_console
from safetylens.cli.human.common import DbOpt, human_app, open_db
from safetylens.errors import ConfigError

quiz_app = typer.Typer(help="Qualification quizzes: import, list, require for a study, results.", no_args_is_help=True)
human_app.add_typer(quiz_app, name="quiz")
audit_app = typer.Typer(help="The audit trail: who changed what, when.", no_args_is_help=True)
human_app.add_typer(audit_app, name="audit")


@quiz_app.command("import")
def quiz_import(
    file: Annotated[Path, typer.Argument(help="YAML or JSON quiz file (see human/examples/quiz_example.yaml)")],
    db: DbOpt = None,
) -> None:
    """Create the quizzes defined in FILE (all or nothing; names must be new)."""
    from safetylens.human.quizzes import import_quizzes, load_quiz_file

    database = open_db(db)
    parsed, example = load_quiz_file(file)
    ids = import_quizzes(database, parsed, example=example)
    for q, qid in zip(parsed, ids, strict=True):
        console.print(
            f"quiz {qid}: {escape(q['name'])} ({q['kind']}, {len(q['questions'])} questions)"
            + (" (example)" if example else "")
        )


@quiz_app.command("list")
def quiz_list(db: DbOpt = None) -> None:
    """Every quiz with its pass rules and attempts."""
    from safetylens.human.quizzes import list_quizzes

    t = Table(title="quizzes", title_justify="left")
    for col in ("id", "name", "kind", "questions", "pass rules", "cooldown", "attempts"):
        t.add_column(col)
    for q in list_quizzes(open_db(db)):
        t.add_row(
            str(q["id"]),
            escape(q["name"]) + (" (example)" if q["example"] else ""),
            q["kind"],
            str(q["questions"]),
            escape("; ".join(q["pass_rules"])),
            f"{q['cooldown_s']} s",
            ", ".join(f"{k} {v}" for k, v in sorted(q["attempts"].items())) or "-",
        )
    console.print(t)


@quiz_app.command("results")
def quiz_results_cmd(
    quiz: Annotated[str | None, typer.Argument(help="quiz name or id (default: all)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the attempts as JSON")] = None,
    db: DbOpt = None,
) -> None:
    """Every attempt: rater, status and score per pass rule."""
    from safetylens.human.quizzes import quiz_results
    from safetylens.util import atomic_write_json

    rows = quiz_results(open_db(db), quiz)
    if json_out is not None:
        atomic_write_json(json_out, rows)
    t = Table(title="quiz attempts", title_justify="left")
    for col in ("quiz", "rater", "attempt", "status", "finished", "score"):
        t.add_column(col)
    for r in rows:
        score = "; ".join(
            f"{x['rule']}: {x['value']:.3g}" if x["value"] is not None else f"{x['rule']}: pending"
            for x in r["score"].get("rules", [])
        )
        t.add_row(
            escape(r["quiz"]),
            escape(f"{r['user']} ({r['pseudonym']})"),
            str(r["attempt"]),
            r["status"],
            r["finished_at"] or "-",
            escape(score),
        )
    console.print(t)


@quiz_app.command("require")
def quiz_require(
    study: Annotated[str, typer.Argument(help="study name or id")],
    quizzes: Annotated[list[str] | None, typer.Argument(help="quiz names or ids (none: require no quiz)")] = None,
    db: DbOpt = None,
) -> None:
    """Set the quizzes a study's raters must pass before they receive items."""
    from safetylens.human.quizzes import find_quiz, set_required_quizzes
    from safetylens.human.studies import find_study

    database = open_db(db)
    with database.read() as s:
        study_id = find_study(s, study).id
        ids = [find_quiz(s, q).id for q in quizzes or []]
    set_required_quizzes(database, study_id, ids, actor_id=None)
    console.print(f"study {study_id} requires {len(ids)} quiz(zes)")


@human_app.command("checks")
def checks_import(
    study: Annotated[str, typer.Argument(help="study name or id")],
    file: Annotated[Path, typer.Argument(help="JSONL: id, prompt, response (response_b), accepted, kind")],
    db: DbOpt = None,
) -> None:
    """Add gold/attention-check items to a study (never shown as such to raters)."""
    from safetylens.human.gold import add_gold_items, load_gold_file
    from safetylens.human.studies import get_study

    database = open_db(db)
    study_id = get_study(database, study).id
    n = add_gold_items(database, study_id, load_gold_file(file))
    console.print(f"{n} check item(s) added to study {study_id}")


@human_app.command("quality")
def quality_cmd(
    study: Annotated[str, typer.Argument(help="study name or id")],
    gold_rate: Annotated[float | None, typer.Option(help="share of items that are checks (0 = off)")] = None,
    gold_min_checks: Annotated[int | None, typer.Option(help="checks before an automatic pause")] = None,
    gold_min_accuracy: Annotated[float | None, typer.Option(help="pause below this check accuracy")] = None,
    adaptive_overlap: Annotated[
        bool | None, typer.Option("--adaptive-overlap/--no-adaptive-overlap", help="add a rater on disagreement")
    ] = None,
    adaptive_max_raters: Annotated[int | None, typer.Option(help="most raters per item that way")] = None,
    db: DbOpt = None,
) -> None:
    """Show or change a study's quality settings (checks, automatic pause, adaptive overlap)."""
    from safetylens.human.gold import update_quality_settings
    from safetylens.human.studies import get_study

    database = open_db(db)
    study_id = get_study(database, study).id
    changes = {
        k: v
        for k, v in {
            "gold_rate": gold_rate,
            "gold_min_checks": gold_min_checks,
            "gold_min_accuracy": gold_min_accuracy,
            "adaptive_overlap": adaptive_overlap,
            "adaptive_max_raters": adaptive_max_raters,
        }.items()
        if v is not None
    }
    settings = update_quality_settings(database, study_id, changes)
    for k, v in settings.model_dump().items():
        console.print(f"{k}: {v}")


@audit_app.command("export")
def audit_export(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file to write (default: standard output)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | jsonl (default: from --out, else jsonl)")] = "",
    study: Annotated[str | None, typer.Option(help="only this study (name or id)")] = None,
    action: Annotated[str | None, typer.Option(help="only actions starting with this, e.g. rating.")] = None,
    db: DbOpt = None,
) -> None:
    """Write the audit log as CSV or JSON lines."""
    from safetylens.human.audit import audit_records, export_text
    from safetylens.human.studies import get_study
    from safetylens.util import atomic_write_text

    database = open_db(db)
    kind = fmt or ("csv" if out is not None and out.suffix.lower() == ".csv" else "jsonl")
    if kind not in ("csv", "jsonl"):
        raise ConfigError(f"unknown format {kind!r}", hint="csv or jsonl")
    study_id = get_study(database, study).id if study else None
    records = audit_records(database, study_id=study_id, action_prefix=action)
    text = export_text(records, kind)  # type: ignore[arg-type]
    if out is None:
        sys.stdout.write(text)
        return
    atomic_write_text(out, text)
    err_console.print(f"{len(records)} audit entries written to {escape(str(out))}")


@human_app.command("edit-rating")
def edit_rating_cmd(
    rating_id: Annotated[int, typer.Argument(help="rating id (from the export)")],
    value: Annotated[int, typer.Argument(help="the new rating")],
    reason: Annotated[str, typer.Option(help="why it changes (recorded)")],
    editor: Annotated[str, typer.Option(help="user name of the staff member making the edit")],
    db: DbOpt = None,
) -> None:
    """Change a submitted rating through the audit log (old value, new value, reason, editor)."""
    from sqlalchemy import select

    from safetylens.human.audit import edit_rating
    from safetylens.human.models import User

    database = open_db(db)
    with database.read() as s:
        user = s.scalar(select(User).where(User.username == editor))
    if user is None or user.role not in ("admin", "researcher"):
        raise ConfigError(f"{editor!r} is not a researcher or admin")
    edit_rating(database, rating_id, value, reason, actor_id=user.id)
    console.print(f"rating {rating_id} set to {value}")
