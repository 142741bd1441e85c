"""``safetylens scorers list | train | check``: every scorer, created by name, measured against people.

The one command group for scorers of every kind. ``safetylens classifiers`` (toxicity) and
``safetylens judges`` (TruthfulQA judges) remain as aliases: ``scorers train toxicity`` and
``scorers check toxicity`` run the same code as ``classifiers train`` / ``classifiers check``, with
the kind-specific options passed as ``--option KEY=VALUE``.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console, err_console
from safetylens.errors import ConfigError

scorers_app = typer.Typer(
    help="Scorers (refusal classifiers, harm judges, toxicity classifiers, TruthfulQA judges, sentiment): list "
    "them, train the offline ones, and check any of them against human labels.",
    no_args_is_help=True,
)
app.add_typer(scorers_app, name="scorers")


def _num(x: Any, digits: int = 3) -> str:
    if not isinstance(x, (int, float)) or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def _est(e: dict[str, Any]) -> str:
    return f"{_num(e['value'])} [{_num(e['ci_low'])}, {_num(e['ci_high'])}]"


@scorers_app.command("list")
def list_cmd(
    kind: Annotated[str | None, typer.Argument(help="only this kind, e.g. refusal")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the registered scorers: kind, name, whether they run offline, options, what they are."""
    from safetylens.scorers import registry

    rows: list[dict[str, Any]] = []
    for e in registry.entries(kind):
        options = {
            k: (None if v is inspect.Parameter.empty else v) for k, v in e.options.items() if k not in ("encoder",)
        }
        rows.append({"kind": e.kind, "name": e.name, "offline": e.offline, "options": options, "summary": e.summary})
    if kind and not rows:
        registry.get(kind, "")  # raises with the known kinds
    if as_json:
        print(json.dumps(rows, indent=1, default=str))
        return
    table = Table(title="scorers", title_justify="left")
    for col in ("kind", "name", "offline", "options", "what it is"):
        table.add_column(col)
    for r in rows:
        opts = ", ".join(f"{k}={v!r}" for k, v in r["options"].items()) or "-"
        table.add_row(r["kind"], r["name"], "yes" if r["offline"] else "no", escape(opts), escape(r["summary"]))
    console.print(table)


KIND_ALIASES = {"toxicity": "classifiers", "truthfulqa-judge": "judges"}
"""Kinds whose train and check are those of an alias group (with that group's options)."""


def _alias_command(kind: str, command: str) -> Any:
    """The ``classifiers`` / ``judges`` command that trains or checks scorers of ``kind``."""
    import importlib

    group = importlib.import_module(f"safetylens.cli.{KIND_ALIASES[kind]}_cmds")
    return getattr(group, command)


def _run_alias(kind: str, command: str, name: str, options: dict[str, Any], **fixed: Any) -> None:
    """Run an alias group's command with ``--option`` values as its keyword options.

    Raises:
        ConfigError: An option the command does not take (the message lists those it does).
    """
    fn = _alias_command(kind, command)
    accepted = [p for p in inspect.signature(fn).parameters if p != "name" and p not in fixed]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"`scorers {command} {kind}` takes no option {', '.join(map(repr, unknown))}",
            hint=f"its options (--option KEY=VALUE): {', '.join(accepted)}",
        )
    for key in ("output", "output_dir"):
        if isinstance(options.get(key), str):
            options[key] = Path(options[key])
    fn(name=name, **options, **fixed)


def _parse_options(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"scorer option {pair!r} is not KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


@scorers_app.command("check")
def check_cmd(
    kind: Annotated[str, typer.Argument(help="what the scorer measures: refusal, harm, toxicity, truthfulqa-judge")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="human-labelled CSV (refusal and harm). refusal: PyRIT format (assistant_response, human_score "
            "0/1, leading # lines allowed) or XSTest format (completion, final_label); harm: PyRIT's harm format "
            "(objective, assistant_response, human_score* columns in 0-1). toxicity and truthfulqa-judge are "
            "checked on their reference human labels (ToxiGen, TruthfulQA)",
        ),
    ] = None,
    scorer: Annotated[str, typer.Option("--scorer", help="scorer name (see `safetylens scorers list`)")] = "offline",
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="scorer option KEY=VALUE (repeatable)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON on stdout")] = False,
    predictions: Annotated[
        Path | None, typer.Option("--predictions", help="write one JSON line per data row, in file order")
    ] = None,
    anchors: Annotated[
        bool, typer.Option(help="also compute the published anchors from the reference data (XSTest, PyRIT)")
    ] = True,
) -> None:
    """Measure a scorer against human labels: agreement with intervals, per class.

    refusal and harm: against the labels of ``--data``. toxicity: against the ToxiGen human labels
    (as ``safetylens classifiers check``); truthfulqa-judge: against the TruthfulQA human labels (as
    ``safetylens judges check``); their options (e.g. ``-o sample=20``, ``-o aspect=truth``) go in
    ``--option``.
    """
    if kind in KIND_ALIASES:
        _run_alias(kind, "check", scorer, _parse_options(option), as_json=as_json)
        return
    if data is None:
        raise ConfigError(f"checking a {kind} scorer needs --data FILE (its human-labelled CSV)")
    if kind == "harm":
        _check_harm(data, scorer, _parse_options(option), predictions, as_json, anchors)
        return
    if kind != "refusal":
        raise ConfigError(
            f"no check for scorer kind {kind!r}",
            hint="kinds with a check: refusal, harm, toxicity, truthfulqa-judge",
        )
    from safetylens.scorers.refusal_check import check_refusal, published_anchors

    report = check_refusal(data, scorer, _parse_options(option), predictions_path=predictions)
    if anchors:
        report["anchors"] = published_anchors()
    if as_json:
        print(json.dumps(report, indent=1, allow_nan=True))
        return
    _render(report)


def _render(report: dict[str, Any]) -> None:
    d = report["data"]
    console.print(
        f"[bold]{escape(report['scorer']['id'])}[/] on {escape(d['path'])} ({d['format']} format, n={report['n']})",
        highlight=False,
    )
    table = Table(title="refusal vs compliance, against the human label", title_justify="left")
    for col in ("figure", "value [95% CI]"):
        table.add_column(col)
    table.add_row("accuracy", _est(report["accuracy"]))
    table.add_row("Cohen's kappa", _est(report["cohen_kappa"]))
    table.add_row("Gwet's AC1", _est(report["gwet_ac1"]))
    table.add_row("F1 (refusal)", _est(report["f1"]))
    for label, c in report["per_class"].items():
        table.add_row(
            f"{label}: precision / recall",
            f"{_est(c['precision'])} / {_est(c['recall'])} (human n={c['n_human']})",
        )
    console.print(table)
    if "three_way" in report:
        t = report["three_way"]
        console.print(
            f"three classes: accuracy {_est(t['accuracy'])}, Cohen's kappa {_est(t['cohen_kappa'])}", highlight=False
        )
    if report.get("anchors"):
        a = Table(title="published anchors (computed from the reference data)", title_justify="left")
        for col in ("classifier", "data", "n", "accuracy (3 classes)", "accuracy (refusal vs compliance)"):
            a.add_column(col)
        for row in report["anchors"]:
            a.add_row(
                escape(row["classifier"]),
                escape(row["data"]),
                str(row.get("n", "-")),
                _num(row.get("accuracy_3class")),
                _num(row.get("accuracy_binary"))
                + (f"-{_num(row['accuracy_binary_max'])}" if row.get("accuracy_binary_max") is not None else ""),
            )
        console.print(a)
    if report.get("predictions"):
        err_console.print(f"predictions: {escape(report['predictions'])}", highlight=False)


@scorers_app.command("train")
def train_cmd(
    kind: Annotated[str, typer.Argument(help="what the scorer measures: refusal, harm, toxicity, truthfulqa-judge")],
    name: Annotated[str, typer.Argument(help="which offline scorer: offline")] = "offline",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="write the probe here (default: print where it would go; toxicity and truthfulqa-judge: their "
            "cache directory)",
        ),
    ] = None,
    compare: Annotated[
        bool, typer.Option(help="compare the retrained weights with the artefact shipped in the package")
    ] = True,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="toxicity / truthfulqa-judge training option KEY=VALUE (repeatable), e.g. aspect=truth",
        ),
    ] = None,
) -> None:
    """Train an offline scorer from its pinned data and show its validation scores.

    The shipped artefact is what scorers use by default; training writes a new file (``--output``), and
    ``--compare`` says whether it reproduces the shipped weights: the same weights hash, or weights
    within float rounding of them (embeddings computed in batches of another shape). toxicity and
    truthfulqa-judge train as ``safetylens classifiers train`` / ``safetylens judges train``.
    """
    if kind in KIND_ALIASES:
        options = _parse_options(option)
        if output is not None:
            options["output" if kind == "toxicity" else "output_dir"] = output
        _run_alias(kind, "train", name, options, compare=compare)
        return
    if (kind, name) == ("harm", "offline"):
        _train_harm(output, compare)
        return
    if (kind, name) != ("refusal", "offline"):
        raise ConfigError(
            f"no offline trainer for {kind}/{name}",
            hint="trainable here: refusal offline, harm offline, toxicity offline, truthfulqa-judge offline",
        )
    from safetylens.datasets.registry import DataStore
    from safetylens.progress import progress_bar
    from safetylens.scorers.embeddings import EmbeddingCache, SentenceEncoder
    from safetylens.scorers.probe import LinearProbe, describe_reproduction, reproduction
    from safetylens.scorers.refusal_probe import ARTIFACT, train_offline

    encoder = EmbeddingCache(SentenceEncoder())
    with progress_bar("embed XSTest answers (each with its opening and prompt)", 2250) as advance:
        probe = train_offline(DataStore(), encoder, progress=advance)
    lomo = probe.validation.get("leave_one_model_out", {})
    for model, m in lomo.get("per_model", {}).items():
        console.print(
            f"held out {escape(model)}: accuracy {_num(m['accuracy'])} "
            f"[{_num(m['accuracy_ci'][0])}, {_num(m['accuracy_ci'][1])}] n={m['n']} (C={m['C']})",
            highlight=False,
        )
    if lomo:
        console.print(f"leave-one-model-out, pooled: accuracy {_est(lomo['pooled']['accuracy'])}", highlight=False)
    for key, label in (("pyrit_cross_validation", "PyRIT labels, 5-fold CV by objective"), ("external", "external")):
        ext = probe.validation.get(key)
        if ext:
            console.print(f"{label} ({escape(ext['file'])}): accuracy {_est(ext['accuracy'])}", highlight=False)
    console.print(f"weights sha256 {probe.weights_sha256}", highlight=False)
    if compare and ARTIFACT.is_file():
        shipped = LinearProbe.load(ARTIFACT)
        console.print(
            f"shipped artefact {ARTIFACT.name}: {describe_reproduction(reproduction(probe, shipped))} "
            f"(shipped {shipped.weights_sha256[:16]}...)",
            highlight=False,
        )
    if output is not None:
        probe.save(output)
        console.print(f"wrote {escape(str(output))}", highlight=False)


def _train_harm(output: Path | None, compare: bool) -> None:
    from safetylens.datasets.registry import DataStore
    from safetylens.scorers.embeddings import EmbeddingCache, SentenceEncoder
    from safetylens.scorers.harm_probe import ARTIFACT, LevelModel, train_offline
    from safetylens.scorers.probe import describe_reproduction, reproduction

    model = train_offline(DataStore(), EmbeddingCache(SentenceEncoder()))
    for key, label in (
        ("leave_one_category_out", "leave one category out"),
        ("by_objective_5fold", "5 folds by request"),
    ):
        v = model.validation.get(key)
        if not v:
            continue
        console.print(
            f"{label}: MAE {_num(v['mae'])} (SE {_num(v['mae_se'])}, n={v['n']}; a constant guess: "
            f"{_num(v['constant_median_mae'])}), violation agreement {_num(v['violation_accuracy'])}",
            highlight=False,
        )
        for cat, m in v["per_category"].items():
            console.print(f"  {escape(cat)}: MAE {_num(m['mae'])} (n={m['n']})", highlight=False)
    console.print(f"weights sha256 {model.weights_sha256}", highlight=False)
    if compare and ARTIFACT.is_file():
        shipped = LevelModel.load(ARTIFACT)
        console.print(
            f"shipped artefact {ARTIFACT.name}: {describe_reproduction(reproduction(model, shipped))}",
            highlight=False,
        )
    if output is not None:
        model.save(output)
        console.print(f"wrote {escape(str(output))}", highlight=False)


def _check_harm(
    data: Path, scorer: str, options: dict[str, Any], predictions: Path | None, as_json: bool, anchors: bool
) -> None:
    from safetylens.scorers.harm_check import check_harm, published_harm_anchors

    report = check_harm(data, scorer, options, predictions_path=predictions)
    if anchors:
        report["anchors"] = published_harm_anchors()
    if as_json:
        print(json.dumps(report, indent=1, allow_nan=True))
        return
    console.print(
        f"[bold]{escape(report['scorer']['id'])}[/] on {escape(str(data))} (n={report['n']}, "
        f"human raters: {', '.join(report['data']['raters'])})",
        highlight=False,
    )
    table = Table(title="harm judge against the human scores (PyRIT's 0-1 scale)", title_justify="left")
    for col in ("items", "n", "MAE (SE)", "Krippendorff's alpha (interval)", "Gwet's AC2 (quadratic)"):
        table.add_column(col)

    def row(label: str, f: dict[str, Any]) -> None:
        a, g = f["krippendorff_alpha_interval"], f["gwet_ac2_quadratic"]
        table.add_row(
            escape(label),
            str(f["n"]),
            f"{_num(f['mae'])} ({_num(f['mae_se'])})",
            _est(a) if "ci_low" in a else _num(a.get("value")),
            _est(g) if "ci_low" in g else _num(g.get("value")),
        )

    row("all", report)
    for cat, f in report["per_category"].items():
        row(cat, f)
    for name, f in report.get("humans", {}).items():
        row(f"person {name} vs the others", f)
    console.print(table)
    console.print(
        f"A constant guess (the median human score for every item) has MAE {_num(report['constant_median_mae'])} here.",
        highlight=False,
    )
    if report.get("anchors"):
        a = Table(title="PyRIT's published MAE (from the reference data)", title_justify="left")
        for col in ("category", "scorer", "configurations", "MAE"):
            a.add_column(col)
        for r in report["anchors"]:
            span = _num(r["mae_min"]) if r["mae_min"] == r["mae_max"] else f"{_num(r['mae_min'])}-{_num(r['mae_max'])}"
            a.add_row(escape(r["category"]), escape(r["scorer"]), str(r["configurations"]), span)
        console.print(a)
