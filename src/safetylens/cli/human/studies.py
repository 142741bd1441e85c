"""``safetylens human study ...``: create, list, show studies; raters, guidelines, status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import console
from safetylens.cli.human.common import DbOpt, human_app, open_db
from safetylens.errors import ConfigError

study_app = typer.Typer(help="Create and manage rating studies.", no_args_is_help=True)
human_app.add_typer(study_app, name="study")


def _parse_duration(text: str) -> int:
    from safetylens.cli.cache_cmds import parse_duration

    return int(parse_duration(text))


@study_app.command("create")
def study_create(
    name: Annotated[str, typer.Argument(help="unique study name")],
    kind: Annotated[str, typer.Option(help="safety (5-point) | pairwise (7-point)")] = "safety",
    raters_per_item: Annotated[int, typer.Option(help="distinct raters per item (the paper: 3)")] = 3,
    guidelines: Annotated[Path | None, typer.Option(help="Markdown file with the rating guidelines")] = None,
    pair: Annotated[
        list[str] | None, typer.Option(help="pairwise: FIRST:SECOND models to compare; repeatable (default: all pairs)")
    ] = None,
    timeout: Annotated[str, typer.Option(help="reservation timeout, e.g. 30m")] = "30m",
    balance: Annotated[bool, typer.Option(help="cap each rater at an equal share of the work")] = True,
    max_items_per_rater: Annotated[int | None, typer.Option(help="explicit cap per rater")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of A/B sides and item order (default: random, stored)")] = None,
    description: Annotated[str, typer.Option(help="description for staff")] = "",
    db: DbOpt = None,
) -> None:
    """Create a study (with its first guidelines version)."""
    from safetylens.human.studies import create_study

    database = open_db(db)
    text = None
    if guidelines is not None:
        if not guidelines.is_file():
            raise ConfigError(f"no such file: {guidelines}")
        text = guidelines.read_text(encoding="utf-8")
    pairs = []
    for p in pair or []:
        if ":" not in p:
            raise ConfigError(f"--pair {p!r}: expected FIRST:SECOND")
        a, b = p.split(":", 1)
        pairs.append((a.strip(), b.strip()))
    study = create_study(
        database,
        name,
        kind,
        raters_per_item=raters_per_item,
        guidelines=text,
        description=description,
        reservation_timeout_s=_parse_duration(timeout),
        balance=balance,
        max_items_per_rater=max_items_per_rater,
        seed=seed,
        pairs=pairs,
    )
    console.print(f"study {escape(study.name)} (id {study.id}, {kind}, seed {study.seed}) created")


@study_app.command("list")
def study_list(db: DbOpt = None) -> None:
    """List studies with their progress."""
    from safetylens.human.studies import study_progress

    database = open_db(db)
    from sqlalchemy import select

    from safetylens.human.models import Study

    table = Table(title="studies", title_justify="left")
    for col in ("id", "name", "kind", "status", "items", "ratings", "complete items", "raters"):
        table.add_column(col)
    with database.read() as s:
        for st in s.scalars(select(Study).order_by(Study.id)):
            p = study_progress(s, st.id)
            table.add_row(
                str(st.id),
                escape(st.name),
                st.kind,
                st.status,
                str(p.items),
                f"{p.ratings}/{p.slots}",
                str(p.complete_items),
                str(p.members),
            )
    console.print(table)


@study_app.command("show")
def study_show(study: Annotated[str, typer.Argument(help="study name or id")], db: DbOpt = None) -> None:
    """Show a study's settings and progress."""
    from safetylens.human.studies import current_guidelines, find_study, study_progress

    database = open_db(db)
    with database.read() as s:
        st = find_study(s, study)
        p = study_progress(s, st.id)
        g = current_guidelines(s, st.id)
    console.print(f"[bold]{escape(st.name)}[/] (id {st.id}) {st.kind}, {st.status}")
    console.print(
        f"raters per item {st.raters_per_item}; reservation timeout {st.reservation_timeout_s} s; "
        f"balance {'on' if st.balance else 'off'}; seed {st.seed}; guidelines v{g.version if g else '-'}"
    )
    console.print(
        f"{p.items} items, {p.ratings}/{p.slots} ratings ({p.percent:.1f}%), {p.complete_items} complete, "
        f"{p.reserved} reserved now, {p.members} raters"
    )


@study_app.command("add-raters")
def study_add_raters(
    study: Annotated[str, typer.Argument(help="study name or id")],
    usernames: Annotated[list[str], typer.Argument(help="raters' login names")],
    db: DbOpt = None,
) -> None:
    """Admit raters to a study."""
    from safetylens.human.studies import add_members, get_study

    database = open_db(db)
    st = get_study(database, study)
    n = add_members(database, st.id, usernames)
    console.print(f"{n} rater(s) added to {escape(st.name)}")


@study_app.command("guidelines")
def study_guidelines(
    study: Annotated[str, typer.Argument(help="study name or id")],
    file: Annotated[Path, typer.Argument(help="Markdown file")],
    db: DbOpt = None,
) -> None:
    """Publish a new guidelines version (raters confirm it before rating again)."""
    from safetylens.human.studies import add_guidelines, get_study

    if not file.is_file():
        raise ConfigError(f"no such file: {file}")
    database = open_db(db)
    st = get_study(database, study)
    v = add_guidelines(database, st.id, file.read_text(encoding="utf-8"))
    console.print(f"guidelines version {v} published for {escape(st.name)}")


@study_app.command("status")
def study_status(
    study: Annotated[str, typer.Argument(help="study name or id")],
    status: Annotated[str, typer.Argument(help="active | paused | closed")],
    db: DbOpt = None,
) -> None:
    """Open, pause or close a study."""
    from safetylens.human.studies import get_study, set_status

    database = open_db(db)
    st = get_study(database, study)
    set_status(database, st.id, status)
    console.print(f"{escape(st.name)} is now {escape(status)}")
