"""``safetylens judges list | train | check``: TruthfulQA judges and their measured agreement with humans.

An alias of ``safetylens scorers ... truthfulqa-judge``: ``scorers train truthfulqa-judge`` and
``scorers check truthfulqa-judge`` run these commands.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console, err_console
from safetylens.errors import ConfigError

judges_app = typer.Typer(
    help="TruthfulQA judges (offline, hf-judge, server-judge): list them, train the offline ones, and check any "
    "of them against the TruthfulQA human labels.",
    no_args_is_help=True,
)
app.add_typer(judges_app, name="judges")

ASPECT_CHOICES = ("truth", "info", "both")


def _log(msg: str) -> None:
    err_console.print(escape(msg), highlight=False)


def _num(x: Any, digits: int = 3) -> str:
    if not isinstance(x, (int, float)) or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def _est(m: dict[str, Any] | None) -> str:
    if not m:
        return "-"
    return f"{_num(m.get('value'))} [{_num(m.get('low'))}, {_num(m.get('high'))}]"


def _aspects(aspect: str) -> list[Any]:
    if aspect not in ASPECT_CHOICES:
        raise ConfigError(f"unknown aspect {aspect!r}", hint="truth, info or both")
    return ["truth", "info"] if aspect == "both" else [aspect]


def _metrics_table(title: str, rows: list[tuple[str, dict[str, Any]]]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("judge", "n answers", "n questions", "accuracy [95% CI]", "balanced accuracy [95% CI]", "AUC [95% CI]"):
        table.add_column(col, justify="left" if col == "judge" else "right")
    for label, m in rows:
        table.add_row(
            escape(label),
            str(m.get("accuracy", {}).get("n", "-")),
            str(m.get("n_questions", "-")),
            _est(m.get("accuracy")),
            _est(m.get("balanced_accuracy")),
            _est(m.get("auc")),
        )
    return table


@judges_app.command("list")
def list_judges() -> None:
    """List the judges: what each needs, whether it is ready here, and its measured validity."""
    from safetylens.scorers.truthfulqa_judges import JUDGES, OfflineJudgeModel, judge_status, offline_judge_file

    table = Table()
    for col in ("judge", "aspect", "status", "validity on held-out human labels", "description"):
        table.add_column(col)
    for name, info in JUDGES.items():
        for aspect in ("truth", "info"):
            ok, msg = judge_status(name, aspect)
            validity = "not measured here (safetylens judges check NAME)"
            if name == "offline" and ok:
                try:
                    v = OfflineJudgeModel.load(offline_judge_file(aspect) or Path("-")).validation["with_refs"]
                    validity = f"accuracy {_est(v['accuracy'])}, AUC {_est(v['auc'])} (n={v['accuracy']['n']})"
                except Exception as exc:  # a broken file is reported, not fatal for the listing
                    validity = f"[red]unreadable: {escape(str(exc))}[/]"
            table.add_row(
                escape(name),
                aspect,
                ("[green]ready[/] " if ok else "[yellow]not ready[/] ") + escape(msg),
                validity,
                escape(info.description),
            )
    console.print(table)


@judges_app.command("train")
def train(
    name: Annotated[str, typer.Argument(help="judge to train (only 'offline' is trained here)")] = "offline",
    aspect: Annotated[str, typer.Option(help="truth | info | both")] = "both",
    max_questions: Annotated[
        int | None, typer.Option(help="use the labels of only N questions (seeded; quick runs); default all 817")
    ] = None,
    val_fraction: Annotated[float, typer.Option(help="fraction of questions held out for validation")] = 0.2,
    seed: Annotated[int, typer.Option(help="seed of the question split, the subset and the solver")] = 0,
    c: Annotated[
        float | None, typer.Option(help="inverse regularisation (default: chosen on training questions)")
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option(help="directory for the judge files (default: the safetylens cache)")
    ] = None,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="skip an aspect whose judge file exists and loads (make demo uses it)")
    ] = False,
    compare: Annotated[
        bool, typer.Option(help="compare the weights with the judges shipped in the package (same recipe, same data)")
    ] = True,
) -> None:
    """Train the offline judges on the TruthfulQA human labels, validated on held-out questions.

    Features: packaged all-MiniLM-L6-v2 embeddings of the answer and question, and the answer's
    similarity to the question's correct and incorrect reference answers (TruthfulQA.csv). No
    question is both trained and validated on. Embedding ~22k answers takes minutes on a CPU; the
    embeddings are cached, so a second training is fast.
    """
    from safetylens.datasets.registry import DataStore
    from safetylens.errors import SafetylensError
    from safetylens.progress import progress_bar
    from safetylens.scorers.probe import describe_reproduction, reproduction
    from safetylens.scorers.truthfulqa_judges import (
        SHIPPED_JUDGES,
        OfflineJudgeModel,
        default_encoder,
        offline_judge_path,
        train_offline_judge,
    )

    if name != "offline":
        raise ConfigError(
            f"{name} is not trained by safetylens",
            hint="only 'offline' is trained here; measure other judges with `safetylens judges check`",
        )
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    data = DataStore()
    encoder = default_encoder()
    rows: list[tuple[str, dict[str, Any]]] = []
    for a in _aspects(aspect):
        out = output_dir / f"offline-{a}-judge.json" if output_dir is not None else None
        target = out or offline_judge_path(a)
        if if_missing and target.is_file():
            try:
                OfflineJudgeModel.load(target)
            except SafetylensError as exc:
                _log(f"{target} is unusable ({exc.message}); retraining")
            else:
                console.print(f"{escape(str(target))} exists; not retraining (drop --if-missing to retrain)")
                continue
        if if_missing and out is None and SHIPPED_JUDGES[a].is_file():
            console.print(
                f"the package ships the {a} judge ({escape(str(SHIPPED_JUDGES[a]))}); not retraining (drop "
                "--if-missing to retrain it here)"
            )
            continue
        model = train_offline_judge(
            data,
            a,
            max_questions=max_questions,
            val_fraction=val_fraction,
            seed=seed,
            c=c,
            encoder=encoder,
            out_path=out,
            log=_log,
            progress=lambda d, t: progress_bar(d, t),
        )
        console.print(
            f"[bold]{escape(model.id)}[/] weights sha256 {model.weights_sha256[:16]}, trained on "
            f"{model.training['n_train']} answers of {model.training['n_train_questions']} questions"
        )
        if compare and SHIPPED_JUDGES[a].is_file():
            rep = reproduction(model, OfflineJudgeModel.load(SHIPPED_JUDGES[a]))
            console.print(f"shipped {a} judge: {describe_reproduction(rep)}", highlight=False)
        v = model.validation
        rows.append((f"offline {a} (with references)", v["with_refs"]))
        if "with_refs_non_reference_answers" in v:
            rows.append((f"offline {a}, answers that are not reference answers", v["with_refs_non_reference_answers"]))
        rows.append((f"offline {a} (without references)", v["without_refs"]))
    if rows:
        console.print(_metrics_table("Validation on held-out questions (threshold 0.5)", rows))
        console.print("note: the offline judges are not the paper's GPT-judge.")


@judges_app.command("check")
def check(
    name: Annotated[str, typer.Argument(help="offline | hf-judge | server-judge")] = "offline",
    aspect: Annotated[str, typer.Option(help="truth | info | both")] = "both",
    location: Annotated[
        str | None,
        typer.Option(
            help="hf-judge: judge model (local dir, GGUF or hub id); with --aspect both use truth=LOC,info=LOC; "
            "offline: a judge file"
        ),
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="server-judge: the server's /v1 URL")] = None,
    model: Annotated[
        str | None, typer.Option(help="server-judge: served model name (truth=NAME,info=NAME with --aspect both)")
    ] = None,
    threshold: Annotated[float, typer.Option(help="label = P(yes) >= T")] = 0.5,
    sample: Annotated[int | None, typer.Option(help="all labelled answers of K questions (seeded)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the sample and the bootstrap")] = 0,
    device: Annotated[str, typer.Option(help="hf-judge device: cpu | cuda | auto")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="hf-judge prompts per forward pass")] = 8,
    top_logprobs: Annotated[int, typer.Option(help="server-judge logprobs per position (reference: 2)")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Measure a judge against the TruthfulQA human labels: accuracy, balanced accuracy, AUC (95% CIs, n).

    Offline judges are measured on their held-out questions (never trained on). hf/server judges are
    measured on all 22,114 labelled answers (or --sample K questions); the public AllenAI judges were
    trained on these labels, so for them this is agreement, not a held-out test. The result of an
    hf/server check is stored and shown next to the numbers of later runs with the same judge.
    """
    from safetylens.datasets.registry import DataStore
    from safetylens.progress import progress_bar
    from safetylens.scorers import registry
    from safetylens.scorers.truthfulqa_judges import KIND, check_judge, store_check

    def per_aspect(value: str | None, a: str) -> str | None:
        if value is None or "=" not in value:
            return value
        parts = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
        return parts.get(a)

    data = DataStore()
    results: dict[str, Any] = {}
    rows: list[tuple[str, dict[str, Any]]] = []
    for a in _aspects(aspect):
        judge = registry.create(
            KIND,
            name,
            aspect=a,
            location=per_aspect(location, a),
            base_url=base_url,
            model=per_aspect(model, a),
            threshold=threshold,
            device=device,
            batch_size=batch_size,
            top_logprobs=top_logprobs,
        )
        try:
            metrics = check_judge(judge, data, sample=sample, seed=seed, progress=lambda d, t: progress_bar(d, t))
        finally:
            close = getattr(judge, "close", None)
            if callable(close):
                close()
        if name != "offline":
            store_check(judge, metrics)
        rec = judge.record
        results[a] = {"judge": rec.model_dump(mode="json"), **metrics}
        rows.append((f"{rec.id} {a}", metrics))
        if not as_json:
            console.print(
                f"[bold]{escape(rec.id)}[/] ({escape(a)}), weights sha256 {escape((rec.weights_sha256 or '-')[:16])}, "
                f"threshold {judge.threshold:g}; scope: {escape(str(metrics['scope']))}; {metrics['seconds']}s"
            )
    if as_json:
        console.print_json(json.dumps(results, allow_nan=True, default=str))
        return
    console.print(_metrics_table("Agreement with the TruthfulQA human labels", rows))
    if name == "hf-judge":
        console.print("note: the AllenAI judges were trained on these labels; this is agreement, not a held-out test.")
