"""``safetylens audit CORPUS...``: the pretraining-corpus audit, with an optional redacted copy.

Personal information, pronouns, identity terms, toxicity and languages, as the Llama 2 paper
describes its pretraining data (protocol.md §4); see :mod:`safetylens.audit`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console, err_console
from safetylens.errors import ConfigError

if TYPE_CHECKING:
    from safetylens.audit.result import AuditResult
    from safetylens.stats.ci import Estimate


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def _pct(est: Estimate | None, digits: int = 2) -> str:
    if est is None:
        return "n/a"
    if est.method == "exact":
        return f"{est.value:.{digits}f}"
    return est.fmt(digits)


@app.command(
    "audit",
    epilog="Examples:\n\n"
    "  safetylens audit data/*.jsonl --sample 0.1 --out audits/web\n\n"
    "  safetylens audit shards/ --classifier toxigen-hatebert --redact clean/\n\n"
    "  safetylens audit corpus.parquet --text-field content --engine dask --scheduler tcp://host:8786",
)
def audit(
    corpus: Annotated[
        list[Path], typer.Argument(help="JSONL(.gz) / Parquet files, or directories (also of .txt files)")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="output directory (default audits/audit-TIME)")
    ] = None,
    sample: Annotated[float, typer.Option(help="fraction of documents analysed (1.0 = all: exact counts)")] = 1.0,
    seed: Annotated[int, typer.Option(help="sampling seed (documents are chosen by a hash of seed and key)")] = 0,
    classifier: Annotated[
        str | None,
        typer.Option(
            help="toxicity classifier: a name (e.g. toxigen-hatebert, offline) or probe:PATH; enables toxicity"
        ),
    ] = None,
    toxicity_sample: Annotated[
        float, typer.Option(help="fraction of the corpus scored for toxicity (the paper: 0.1)")
    ] = 0.1,
    toxicity_threshold: Annotated[float, typer.Option(help="document score counted as toxic (the paper: 0.5)")] = 0.5,
    toxicity_all_languages: Annotated[
        bool,
        typer.Option("--toxicity-all-languages", help="score every language (default: English only, as the paper)"),
    ] = False,
    language_threshold: Annotated[
        float, typer.Option(help="fastText probability below which a document is 'unknown'")
    ] = 0.5,
    redact: Annotated[
        Path | None, typer.Option(help="write a redacted copy of the whole corpus here (typed placeholders)")
    ] = None,
    text_field: Annotated[
        str, typer.Option(help="JSON field / Parquet column with the text (dotted path allowed)")
    ] = "text",
    id_field: Annotated[
        str | None, typer.Option(help="field whose value identifies a document (default: file + offset)")
    ] = None,
    on_error: Annotated[str, typer.Option(help="invalid records: fail | skip (skipped ones are counted)")] = "fail",
    workers: Annotated[int | None, typer.Option(help="worker processes (default: all cores)")] = None,
    engine: Annotated[str, typer.Option(help="local (process pool) | dask")] = "local",
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address (default: a local cluster)")] = None,
    skip: Annotated[
        list[str] | None, typer.Option(help="analyses to skip: pii, pronouns, identity, language (comma or repeat)")
    ] = None,
    pii_types: Annotated[list[str] | None, typer.Option(help="PII types to detect (default: all)")] = None,
    identity_axes: Annotated[
        str, typer.Option(help="paper (the five of Table 9b) | all | a comma list of HolisticBias axes")
    ] = "paper",
    holistic_version: Annotated[str, typer.Option(help="HolisticBias descriptors: v1.0 | v1.1")] = "v1.1",
    drop_terms: Annotated[
        str, typer.Option(help="identity terms dropped (the paper: straight,white,black; '' keeps all)")
    ] = "straight,white,black",
    shard_mb: Annotated[float, typer.Option(help="target shard size in MiB (the unit of parallel work)")] = 32.0,
) -> None:
    """Audit a pretraining corpus the way the Llama 2 paper describes its data (protocol.md §4).

    Writes audit.json, the paper-layout tables (Markdown + CSV), SVG plots and index.html.
    """
    from safetylens.audit import pii
    from safetylens.audit.aggregate import build_record
    from safetylens.audit.analyse import ANALYSES, AuditSettings
    from safetylens.audit.lexical import PAPER_AXES
    from safetylens.audit.outputs import write_outputs
    from safetylens.audit.readers import ReaderOptions
    from safetylens.audit.result import AuditResult
    from safetylens.audit.runner import run_audit
    from safetylens.progress import progress_bar

    if on_error not in ("fail", "skip"):
        raise ConfigError(f"--on-error must be fail or skip, got {on_error!r}")
    if engine not in ("local", "dask"):
        raise ConfigError(f"--engine must be local or dask, got {engine!r}")
    skipped = _split(skip)
    unknown = [s for s in skipped if s not in ANALYSES or s == "toxicity"]
    if unknown:
        raise ConfigError(
            f"--skip: unknown analyses {', '.join(unknown)}",
            hint="skip any of pii, pronouns, identity, language (toxicity runs only with --classifier)",
        )
    analyses = tuple(a for a in ANALYSES if a not in skipped and (a != "toxicity" or classifier is not None))
    axes: tuple[str, ...] | None
    if identity_axes == "paper":
        axes = PAPER_AXES
    elif identity_axes == "all":
        axes = ("all",)
    else:
        axes = tuple(_split([identity_axes]))
    if out is None:
        out = Path("audits") / time.strftime("audit-%Y%m%d-%H%M%S")
    settings = AuditSettings(
        sample=sample,
        seed=seed,
        toxicity_sample=toxicity_sample,
        analyses=analyses,
        pii_types=tuple(_split(pii_types)) or pii.PII_TYPES,
        reader=ReaderOptions(text_field=text_field, id_field=id_field, on_error=on_error),  # type: ignore[arg-type]
        language_threshold=language_threshold,
        toxicity_threshold=toxicity_threshold,
        toxicity_english_only=not toxicity_all_languages,
        shard_bytes=max(4096, int(shard_mb * 1024 * 1024)),
        redact_dir=str(redact) if redact is not None else None,
    )
    # The progress total (input bytes) is known once the shards are planned.
    state: dict[str, Any] = {}

    def on_plan(sources: list[Any], shards: list[Any]) -> None:
        total = sum(s.nbytes for s in shards)
        err_console.print(
            f"auditing {len(sources)} files ({total / 1e6:.1f} MB) in {len(shards)} shards", highlight=False
        )
        state["cm"] = progress_bar("audit (input bytes)", max(1, total), console=err_console)
        state["bar"] = state["cm"].__enter__()

    def advance(n: int) -> None:
        if "bar" in state:
            state["bar"](n)

    try:
        outcome = run_audit(
            list(corpus),
            settings,
            classifier=classifier,
            workers=workers,
            engine=engine,  # type: ignore[arg-type]
            dask_scheduler=scheduler,
            holistic_version=holistic_version,
            identity_axes=axes,
            drop_terms=tuple(_split([drop_terms])),
            progress=advance,
            on_plan=on_plan,
        )
    finally:
        if "cm" in state:
            state["cm"].__exit__(None, None, None)
    rec = AuditResult.from_record(build_record(outcome))
    write_outputs(rec, out)
    _print_summary(rec)
    console.print(
        f"\n[bold]written:[/] {escape(str(out))}/ (audit.json, tables.md, *.csv, *.svg, index.html)", highlight=False
    )
    if rec.redaction is not None:
        console.print(f"[bold]redacted copy:[/] {escape(str(redact))}/", highlight=False)


def _print_summary(rec: AuditResult) -> None:
    c, run = rec.corpus, rec.run
    console.print(
        f"{c.documents:,} documents, {c.documents_sampled:,} analysed"
        + (f", {c.invalid_documents:,} invalid skipped" if c.invalid_documents else "")
        + f"; {run.seconds:.1f} s ({run.documents_per_second:,.0f} documents/s, {run.engine}, "
        f"{run.workers} workers)",
        highlight=False,
    )
    note = "exact (all documents)" if c.exact else "95% Wilson intervals"
    if rec.pii:
        t = Table(title=f"personal information, % of documents ({note})", title_justify="left", box=box.SIMPLE_HEAD)
        t.add_column("type")
        t.add_column("% doc", justify="right")
        t.add_column("occurrences", justify="right")
        for name, v in rec.pii.types.items():
            t.add_row(escape(name), _pct(v.documents, 3), f"{v.spans:,}")
        t.add_row("any", _pct(rec.pii.any, 3), "")
        console.print(t)
    if rec.pronouns:
        ref = rec.reference.table_9a
        t = Table(title="pronouns, % of documents (Table 9a)", title_justify="left", box=box.SIMPLE_HEAD)
        t.add_column("pronouns")
        t.add_column("% doc", justify="right")
        t.add_column("paper", justify="right")
        for r, row in rec.pronouns.rows.items():
            t.add_row(escape(row.label), _pct(row.documents), f"{ref[r]:.2f}")
        console.print(t)
    if rec.identity:
        t = Table(title="identity terms (Table 9b)", title_justify="left", box=box.SIMPLE_HEAD)
        t.add_column("axis")
        t.add_column("% doc", justify="right")
        t.add_column("top terms (% of the axis' documents)")
        for ax in rec.identity.axes:
            top = ", ".join(f"{x.term} {x.share.value:.1f}" for x in ax.terms[:5] if x.share)
            t.add_row(escape(ax.label), _pct(ax.documents), escape(top))
        console.print(t)
    tox = rec.toxicity
    if tox:
        console.print(
            f"toxicity ({escape(str((tox.classifier or {}).get('id')))}, {tox.documents_scored:,} documents "
            f"scored): mean {_pct(tox.mean, 4)}; >= {tox.threshold}: {_pct(tox.at_or_above_threshold, 3)}% "
            f"(paper: about {rec.reference.toxicity.share_at_or_above_threshold}%)",
            highlight=False,
        )
    if rec.language:
        langs = rec.language.languages[:10]
        console.print(
            "languages (Table 10): " + ", ".join(f"{escape(x.code)} {_pct(x.share)}" for x in langs),
            highlight=False,
        )
