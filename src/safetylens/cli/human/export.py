"""``safetylens human export | export-preferences``: every rating with provenance; TRL preference pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safetylens.cli import console
from safetylens.cli.human.common import DbOpt, build_options, human_app, open_db


@human_app.command("export")
def export_cmd(
    study: Annotated[str, typer.Argument(help="study name or id")],
    out: Annotated[Path, typer.Argument(help="output file (.csv, .jsonl or .parquet)")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv | jsonl | parquet (default: from the extension)")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Write every rating with provenance (rater pseudonym, times, guidelines version, A/B mapping)."""
    from safetylens.human.export import write_export

    database = open_db(db)
    n = write_export(database, study, out, fmt)  # type: ignore[arg-type]
    console.print(f"{n} ratings written to {escape(str(out))}")


@human_app.command("export-preferences")
def export_preferences(
    study: Annotated[str, typer.Argument(help="pairwise study (name or id)")],
    out: Annotated[Path, typer.Argument(help="output .jsonl (a .manifest.json is written beside it)")],
    margin: Annotated[str, typer.Option(help="small | large (Llama 2 Table 27) | none")] = "small",
    rule: Annotated[str, typer.Option(help="median | majority: how three answers become one preference")] = "median",
    keep_ties: Annotated[bool, typer.Option(help="keep items without a preferred side (margin 0)")] = False,
    keep_unsafe_chosen: Annotated[bool, typer.Option(help="keep 'chosen unsafe, rejected safe' pairs")] = False,
    safety_study: Annotated[
        str | None, typer.Option(help="safety study rating the same responses (safety bin)")
    ] = None,
    min_ratings: Annotated[int | None, typer.Option(help="items with fewer ratings are left out (default N)")] = None,
    prompt_format: Annotated[str, typer.Option(help="explicit (prompt column) | implicit")] = "explicit",
    db: DbOpt = None,
) -> None:
    """Write TRL preference pairs (prompt/chosen/rejected, margin, safety bin, provenance) as JSONL."""
    from safetylens.human.preferences import PreferenceOptions, write_preferences

    opts = build_options(
        PreferenceOptions,
        margin=margin,
        rule=rule,
        keep_ties=keep_ties,
        keep_unsafe_chosen=keep_unsafe_chosen,
        safety_study=safety_study,
        min_ratings=min_ratings,
        prompt_format=prompt_format,
    )
    database = open_db(db)
    stats = write_preferences(database, study, out, opts)
    c = stats["counts"]
    console.print(
        f"{c['exported']} preference pairs written to {escape(str(out))} from {c['items']} items "
        f"(dropped: {c['dropped_ties']} ties, {c['dropped_unsafe_chosen']} chosen-unsafe, "
        f"{c['dropped_incomplete']} incomplete); safety bins {escape(str(stats['safety_bins']))}"
    )
