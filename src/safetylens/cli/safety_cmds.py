"""``safetylens safety sample | combine``: a harm judge on every answer, people on a sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console
from safetylens.errors import DataError

safety_app = typer.Typer(
    help="Combine a safety run's harm judge with people's ratings of a sample: draw the sample, then "
    "estimate the human violation rate of every answer with its interval.",
    no_args_is_help=True,
)
app.add_typer(safety_app, name="safety")


@safety_app.command("sample")
def sample_cmd(
    run_dir: Annotated[Path, typer.Argument(help="a finished safety run")],
    n: Annotated[int, typer.Option("--n", min=1, help="answers for people to rate")] = 200,
    out: Annotated[Path, typer.Option("--out", help="directory for the sample")] = Path("people-sample"),
    weighted: Annotated[bool, typer.Option(help="weight toward the judge's uncertain answers (else uniform)")] = False,
    seed: Annotated[int, typer.Option(help="seed of the draw")] = 0,
) -> None:
    """Draw the answers people rate; import OUT/generations.jsonl into a safety study."""
    from safetylens.judge_people import draw_sample
    from safetylens.runs import RunDir

    design = draw_sample(RunDir.open(run_dir), n, out, weighted=weighted, seed=seed)
    console.print(
        f"{len(design['inclusion'])} of {design['n_items']} answers drawn ({design['design']}, seed {seed}) -> "
        f"{escape(str(out))}/generations.jsonl; keep {escape(str(out))}/sample.json for `safetylens safety combine`",
        highlight=False,
    )


def _pct(e: dict[str, Any]) -> str:
    return f"{e['value']:.1f} [{e['ci_low']:.1f}, {e['ci_high']:.1f}] n={e['n']}"


@safety_app.command("combine")
def combine_cmd(
    run_dir: Annotated[Path, typer.Argument(help="the safety run the judge scored")],
    human: Annotated[Path, typer.Option("--human", help="`safetylens human results STUDY --json` output")],
    sample: Annotated[Path | None, typer.Option("--sample", help="sample.json from `safety sample`")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the figures here")] = None,
) -> None:
    """The judge beside people on the rated answers, and the violation % of all answers from both."""
    from safetylens.judge_people import combine
    from safetylens.runs import RunDir
    from safetylens.util import atomic_write_json

    def load(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read {path}: {exc}") from None
        if not isinstance(data, dict):
            raise DataError(f"{path}: not a JSON object")
        return data

    report = combine(RunDir.open(run_dir), load(human), load(sample) if sample else None)
    if json_out is not None:
        atomic_write_json(json_out, report)
    agree = report["agreement"]
    ac2 = agree["gwet_ac2_quadratic_judge_and_people"]
    console.print(
        f"judge {escape(str(report['judge']))} on {report['n_rated']} answers people rated: Gwet's AC2 "
        f"{ac2['value']:.3f} [{ac2['ci_low']:.3f}, {ac2['ci_high']:.3f}], violation agreement "
        f"{agree['violation_accuracy']['value']:.3f}",
        highlight=False,
    )
    c = agree["violation_confusion"]
    console.print(
        f"  judge violation / people violation {c['judge_violation_human_violation']}, judge violation / people "
        f"safe {c['judge_violation_human_safe']}, judge safe / people violation {c['judge_safe_human_violation']}, "
        f"both safe {c['judge_safe_human_safe']}",
        highlight=False,
    )
    table = Table(title=f"violation % of all {report['n_items']} answers ({report['design']})", title_justify="left")
    for col in ("estimate", "value [95% CI] n"):
        table.add_column(col)
    rated = report["on_rated_answers"]
    every = report["all_answers"]
    table.add_row("people, on the rated answers", _pct(rated["people_violation_pct"]))
    table.add_row("judge, on the rated answers", _pct(rated["judge_violation_pct"]))
    table.add_row("judge only, all answers (biased by the judge's errors)", _pct(every["judge_only_violation_pct"]))
    table.add_row("people only, from the sample", _pct(every["people_only_violation_pct"]))
    table.add_row("[bold]judge + people (prediction-powered)[/]", _pct(every["combined_violation_pct"]))
    console.print(table)
