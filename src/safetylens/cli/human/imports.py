"""``safetylens human import | generate``: bring prompts and responses into a study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from safetylens.cli import console
from safetylens.cli.human.common import DbOpt, human_app, open_db
from safetylens.errors import ConfigError


@human_app.command("import")
def import_cmd(
    study: Annotated[str, typer.Argument(help="study name or id")],
    files: Annotated[list[Path], typer.Argument(help="generations.jsonl, .jsonl or .csv file(s)")],
    fmt: Annotated[str, typer.Option("--format", help="auto | generations | jsonl | csv")] = "auto",
    model: Annotated[str | None, typer.Option(help="model name when the file does not say")] = None,
    batch: Annotated[str | None, typer.Option(help="batch name (IRR is reported per batch)")] = None,
    id_field: Annotated[str | None, typer.Option(help="column with the prompt id")] = None,
    prompt_field: Annotated[str | None, typer.Option(help="column with the prompt")] = None,
    response_field: Annotated[str | None, typer.Option(help="column with the response")] = None,
    category_field: Annotated[str | None, typer.Option(help="column with the risk category (e.g. type)")] = None,
    default_category: Annotated[str | None, typer.Option(help="risk category for rows without one")] = None,
    prompts_only: Annotated[
        bool,
        typer.Option(
            "--prompts-only", help="import prompts without responses (then `human generate`); no record may have one"
        ),
    ] = False,
    db: DbOpt = None,
) -> None:
    """Import prompts and responses: all files in one transaction (all or nothing); re-importing is harmless.

    Every record needs a response unless --prompts-only is given.
    """
    from safetylens.human.importing import FieldMap, import_files

    if fmt not in ("auto", "generations", "jsonl", "csv"):
        raise ConfigError(f"--format {fmt!r}: use auto, generations, jsonl or csv")
    from safetylens.human.studies import get_study

    database = open_db(db)
    get_study(database, study)  # an unknown study is reported before any file is read
    fields = FieldMap(id=id_field, prompt=prompt_field, response=response_field, category=category_field)
    summaries = import_files(
        database,
        study,
        files,
        fmt=fmt,  # type: ignore[arg-type]
        model=model,
        batch=batch,
        fields=fields,
        default_category=default_category,
        prompts_only=prompts_only,
    )
    for f, summary in zip(files, summaries, strict=True):
        verdicts = f"; {summary.judge_verdicts} harm judge verdicts kept" if summary.judge_verdicts else ""
        console.print(
            f"{escape(str(f))}: {summary.records} records, {summary.prompts_added} new prompts, "
            f"{summary.responses_added} new responses ({summary.responses_unchanged} already there), "
            f"{summary.items_added} new items; models {escape(', '.join(sorted(summary.models)) or '-')}{verdicts}"
        )


@human_app.command("generate")
def generate(
    study: Annotated[str, typer.Argument(help="study name or id")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="builtin | local dir | file.gguf | hub id | served model")
    ] = "builtin",
    backend: Annotated[str | None, typer.Option(help="hf | openai | llamacpp")] = None,
    base_url: Annotated[list[str] | None, typer.Option("--base-url", help="OpenAI-compatible server URL")] = None,
    name: Annotated[str | None, typer.Option(help="model name stored with the responses")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="generation length")] = 256,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.1,
    top_p: Annotated[float, typer.Option(help="nucleus sampling")] = 0.9,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    limit: Annotated[int | None, typer.Option(help="at most this many prompts")] = None,
    batch: Annotated[str | None, typer.Option(help="batch of the new items")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for in-process backends")] = None,
    db: DbOpt = None,
) -> None:
    """Generate responses for the study's prompts with a model, through the request cache."""
    from safetylens.human.importing import generate_responses
    from safetylens.models import load_backend
    from safetylens.models.base import Decoding
    from safetylens.spec import ModelSpec

    database = open_db(db)
    spec_args: dict[str, Any] = {"name": model, "base_urls": tuple(base_url or ())}
    if backend:
        spec_args["backend"] = backend
    if threads:
        spec_args["threads"] = threads
    be = load_backend(ModelSpec(**spec_args))
    try:
        summary = generate_responses(
            database,
            study,
            be,
            decoding=Decoding(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed),
            model_name=name,
            batch=batch,
            limit=limit,
        )
    finally:
        be.close()
    console.print(f"{summary.responses_added} responses generated, {summary.items_added} new items")
