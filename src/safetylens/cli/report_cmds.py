"""``safetylens report | compare | replay``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console, err_console
from safetylens.errors import ConfigError
from safetylens.util import format_interval


def _log(msg: str) -> None:
    err_console.print(escape(msg), highlight=False)


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="finished run directories (one measured row each)")],
    reference: Annotated[str | None, typer.Option("--reference", help="add the paper's published rows: llama2")] = None,
    fmt: Annotated[str, typer.Option("--format", help="comma-separated: html,md,csv,tex")] = "html,md,csv",
    output: Annotated[Path, typer.Option("--output", "-O", help="directory for the report files")] = Path("report"),
    human: Annotated[
        list[Path] | None,
        typer.Option("--human", help="study results JSON (safetylens human results STUDY --json FILE); repeatable"),
    ] = None,
    title: Annotated[str, typer.Option(help="report title")] = "safetylens report",
) -> None:
    """Write a report: the paper's tables with CIs, plots, human evaluation and methodology.

    Examples:
      safetylens report runs/2026* --reference llama2

      safetylens report runs/A runs/B --format html,md,csv,tex --output report/
    """
    from safetylens.report.build import parse_formats, report_from_dirs

    formats = parse_formats(fmt)
    paths = report_from_dirs(
        run_dirs, output, formats=formats, reference=reference, human_files=human or [], title=title
    )
    for p in paths:
        console.print(f"wrote {escape(str(p))}", highlight=False)


def _p(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "–"
    return f"{x:.4f}" if x >= 1e-4 else f"{x:.1e}"


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="baseline run directory (A)")],
    run_b: Annotated[Path, typer.Argument(help="run directory to compare with it (B)")],
    force: Annotated[
        bool, typer.Option("--force", help="compare on the shared samples even if samples or protocol differ")
    ] = False,
    exact: Annotated[
        bool, typer.Option("--exact", help="exact McNemar p-values for binary outcomes (default: mid-p)")
    ] = False,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples per comparison")] = 10_000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the comparison as JSON here")] = None,
    overall_only: Annotated[bool, typer.Option("--overall-only", help="print only the overall rows")] = False,
) -> None:
    """Paired comparison B - A per metric and group: CI (paired bootstrap), p-value, Holm-adjusted p.

    Binary outcomes use McNemar's test (differences in percentage points); other values the paired
    bootstrap. Runs whose samples or protocol differ are refused unless --force.
    """
    from safetylens.report.compare import compare_runs
    from safetylens.util import atomic_write_json

    if resamples < 100:
        raise ConfigError("--resamples must be at least 100")
    comp = compare_runs(
        run_a,
        run_b,
        force=force,
        binary_test="mcnemar-exact" if exact else "mcnemar-midp",
        n_resamples=resamples,
        seed=seed,
    )
    if comp.differences:
        err_console.print("[yellow]compared despite these differences (--force):[/]")
        for d in comp.differences:
            err_console.print(f"  {escape(d)}", highlight=False)
    t = Table(title=f"B - A: {escape(comp.run_b)} minus {escape(comp.run_a)}", title_justify="left")
    for col in ("benchmark", "metric", "group", "n", "A", "B", "B - A", "95% CI", "test", "p", "p (Holm)"):
        t.add_column(col, justify="left" if col in ("benchmark", "metric", "group", "test") else "right")
    for r in comp.rows:
        if overall_only and r.group != "all":
            continue
        res = r.result
        unit = " pp" if res.binary else ""
        group = "all" if r.group == "all" else f"{r.breakdown}:{r.group}"
        t.add_row(
            escape(r.benchmark),
            escape(r.metric),
            escape(group),
            str(res.n),
            f"{res.mean_a:.3f}",
            f"{res.mean_b:.3f}",
            f"{res.diff.value:+.3f}{unit}",
            format_interval(res.diff.ci_low, res.diff.ci_high, 3),
            res.test + (f" ({res.discordant[0]}/{res.discordant[1]})" if res.discordant else ""),
            _p(res.p_value),
            _p(res.p_holm),
        )
    console.print(t)
    for n in comp.notes:
        console.print(f"  note: {escape(n)}", highlight=False)
    console.print(
        "  McNemar counts (b/c): pairs positive only in A / only in B. Holm adjusts the p-values across the groups "
        "of one breakdown.",
        highlight=False,
    )
    if json_out is not None:
        atomic_write_json(json_out, comp.to_json())
        console.print(f"comparison written to {escape(str(json_out))}")


@app.command()
def replay(
    run_dir: Annotated[Path, typer.Argument(help="finished run directory to replay")],
    output: Annotated[
        Path | None, typer.Option("--output", "-O", help="parent directory of the replay (default: beside the run)")
    ] = None,
    run_path: Annotated[
        Path | None, typer.Option("--run-dir", help="exact directory of the replay (must not hold a run)")
    ] = None,
    use_cache: Annotated[
        bool, typer.Option("--use-cache", help="reuse cached answers (default: recompute every answer)")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="replay even if the model identity differs")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the diff as JSON here")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="print every number, not only mismatches")] = False,
) -> None:
    """Re-execute a run from its manifest alone into a new directory and diff every number.

    Greedy and log-likelihood benchmarks must match exactly; sampled ones must fall within the
    original CIs. Exits with status 1 on any mismatch.
    """
    from safetylens.report.replay import replay as do_replay

    res = do_replay(run_dir, output, run_path=run_path, use_cache=use_cache, force=force, log=_log)
    t = Table(title=f"replay of {escape(run_dir.name)}: {len(res.diffs)} numbers", title_justify="left")
    for col in ("benchmark", "number", "original", "replay", "n", "rule", "result"):
        t.add_column(col)
    for d in res.diffs:
        if d.ok and not show_all:
            continue
        t.add_row(
            escape(d.benchmark),
            escape(d.path),
            d.original.fmt(4) if d.original else "–",
            d.replay.fmt(4) if d.replay else "–",
            f"{d.original.n if d.original else '–'} / {d.replay.n if d.replay else '–'}",
            d.rule,
            "[green]ok[/]" if d.ok else f"[red]MISMATCH[/] {escape(d.why)}",
        )
    if t.row_count:
        console.print(t)
    for n in res.notes:
        console.print(f"  note: {escape(n)}", highlight=False)
    console.print(
        f"generations: {res.generations_differing} of {res.generations_compared} differ; "
        f"numbers: {len(res.diffs) - len(res.mismatches)} of {len(res.diffs)} match their rule",
        highlight=False,
    )
    console.print(f"replay: {escape(str(res.replay))}", highlight=False)
    if json_out is not None:
        from safetylens.util import atomic_write_json

        atomic_write_json(
            json_out,
            {
                "original": str(res.original),
                "replay": str(res.replay),
                "ok": res.ok,
                "generations_compared": res.generations_compared,
                "generations_differing": res.generations_differing,
                "diffs": [
                    {
                        "benchmark": d.benchmark,
                        "path": d.path,
                        "rule": d.rule,
                        "ok": d.ok,
                        "why": d.why,
                        "original": json.loads(d.original.model_dump_json()) if d.original else None,
                        "replay": json.loads(d.replay.model_dump_json()) if d.replay else None,
                    }
                    for d in res.diffs
                ],
            },
        )
    if not res.ok:
        err_console.print(f"[bold red]replay mismatch:[/] {len(res.mismatches)} number(s) differ")
        raise typer.Exit(1)
    console.print("[green]replay matches[/]")
