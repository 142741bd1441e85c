"""``safetylens classifiers list | train | check``: toxicity classifiers and their measured validity.

An alias of ``safetylens scorers ... toxicity``: ``scorers train toxicity`` and ``scorers check
toxicity`` run these commands.
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

classifiers_app = typer.Typer(
    help="Toxicity classifiers (ToxiGen RoBERTa, HateBERT, the offline probe): list them, train the offline "
    "one, and check any of them against the ToxiGen human labels.",
    no_args_is_help=True,
)
app.add_typer(classifiers_app, name="classifiers")


def _log(msg: str) -> None:
    err_console.print(escape(msg), highlight=False)


def _num(x: Any, digits: int = 3) -> str:
    if not isinstance(x, (int, float)) or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def _ci(m: dict[str, Any], key: str) -> str:
    ci = m.get(f"{key}_ci")
    if not ci or len(ci) != 2:
        return ""
    return f"[{_num(ci[0])}, {_num(ci[1])}]"


def _agreement_table(title: str, agreement: dict[str, Any]) -> Table:
    from safetylens.reference.toxigen import GROUP_LABELS

    table = Table(title=title, title_justify="left")
    for col in (
        "group",
        "n",
        "human % hate",
        "predicted % toxic",
        "accuracy",
        "95% CI",
        "AUC",
        "95% CI",
        "F1",
        "kappa",
    ):
        table.add_column(col, justify="left" if col == "group" else "right")
    rows = [("all", agreement["overall"])] + [
        (GROUP_LABELS.get(g, g), m) for g, m in agreement.get("groups", {}).items()
    ]
    for label, m in rows:
        table.add_row(
            escape(label),
            str(m.get("n", "")),
            _num(m.get("human_hate_pct"), 1),
            _num(m.get("predicted_toxic_pct"), 1),
            _num(m.get("accuracy")),
            _ci(m, "accuracy"),
            _num(m.get("auc")),
            _ci(m, "auc"),
            _num(m.get("f1")),
            _num(m.get("kappa")),
        )
    return table


@classifiers_app.command("list")
def list_classifiers() -> None:
    """List the toxicity classifiers: where each comes from, whether it loads here, its measured validity."""
    from safetylens.scorers.probe import LinearProbe
    from safetylens.scorers.toxicity import CLASSIFIERS, classifier_status, offline_probe_file

    table = Table()
    for col in ("classifier", "paper's?", "status", "validity on ToxiGen human labels", "description"):
        table.add_column(col)
    for name, info in CLASSIFIERS.items():
        ok, where = classifier_status(name)
        validity = "not measured here (safetylens classifiers check NAME)"
        if info.kind == "probe" and ok:
            try:
                v = LinearProbe.load(offline_probe_file() or Path("-")).validation.get("toxigen_human", {})
                o = v.get("overall", {})
                validity = (
                    f"AUC {_num(o.get('auc'))}, F1 {_num(o.get('f1'))}, accuracy {_num(o.get('accuracy'))} "
                    f"(n={o.get('n')}, threshold {_num(o.get('threshold'))})"
                )
            except Exception as exc:  # a broken file is reported, not fatal for the listing
                validity = f"[red]unreadable: {escape(str(exc))}[/]"
        table.add_row(
            escape(name),
            "yes" if info.paper else "no",
            ("[green]available[/] " if ok else "[yellow]unavailable[/] ") + escape(where),
            validity,
            escape(info.description),
        )
    console.print(table)


@classifiers_app.command("train")
def train(
    name: Annotated[str, typer.Argument(help="classifier to train (only 'offline' is trained here)")] = "offline",
    max_per_file: Annotated[
        int, typer.Option(help="training cap per source file and label (0 = no cap); bounds embedding time")
    ] = 3000,
    seed: Annotated[int, typer.Option(help="seed of the caps, the held-out split and the solver")] = 0,
    c: Annotated[float | None, typer.Option(help="inverse regularisation (default: chosen on held-out data)")] = None,
    prompt_weight: Annotated[
        float | None,
        typer.Option(
            help="weight of a ToxiGen prompt sentence vs an ImplicitHate one (default: chosen on held-out data)"
        ),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="decision threshold (default: Youden's J on held-out training data)")
    ] = None,
    validation_sample: Annotated[
        int | None, typer.Option(help="validate on K ToxiGen sentences per group (default: all 6,514)")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="probe file (default: artifacts/classifiers/)")] = None,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="do nothing when the probe file already exists (make demo uses it)")
    ] = False,
    compare: Annotated[
        bool, typer.Option(help="compare the weights with the probe shipped in the package (same recipe, same data)")
    ] = True,
) -> None:
    """Train the offline toxicity probe and validate it on the ToxiGen human labels it never saw.

    Training data: SafeNLP ImplicitHate and the sentences of the original ToxiGen prompt files,
    with every sentence equal or nearly equal to a SafeNLP toxiGen.json sentence removed.
    """
    from safetylens.datasets.registry import DataStore
    from safetylens.progress import progress_bar
    from safetylens.scorers.probe import LinearProbe, describe_reproduction, reproduction
    from safetylens.scorers.toxicity import CLASSIFIERS, SHIPPED_PROBE, offline_probe_path, train_offline

    if name not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier {name!r}", hint=f"known: {', '.join(CLASSIFIERS)}")
    if CLASSIFIERS[name].kind != "probe":
        raise ConfigError(
            f"{name} is a published checkpoint, not trained here",
            hint="only 'offline' is trained by safetylens; check the others with `safetylens classifiers check`",
        )
    target = output or offline_probe_path()
    if if_missing and target.is_file():
        console.print(f"{escape(str(target))} exists; not retraining (drop --if-missing to retrain)")
        return
    if if_missing and output is None and SHIPPED_PROBE.is_file():
        console.print(
            f"the package ships the probe ({escape(str(SHIPPED_PROBE))}); not retraining (drop --if-missing to "
            "retrain it here)"
        )
        return
    probe = train_offline(
        DataStore(),
        max_per_file=max_per_file or None,
        seed=seed,
        c=c,
        prompt_weight=prompt_weight,
        threshold=threshold,
        validation_sample=validation_sample,
        out_path=output,
        log=_log,
        progress=lambda d, t: progress_bar(d, t),
    )
    held = probe.validation["held_out"]["prompt_sentences_unseen_groups"]
    console.print(
        f"[bold]{escape(probe.id)}[/] weights sha256 {probe.weights_sha256[:16]}; prompt weight "
        f"{probe.training.get('prompt_weight')}, C={probe.training.get('C')}, threshold {probe.threshold:.3f}; "
        f"held-out prompt sentences of unseen groups: AUC {_num(held.get('auc'))} {_ci(held, 'auc')}, "
        f"accuracy {_num(held.get('accuracy'))} (n={held.get('n')})"
    )
    removed = probe.training.get("removed", {})
    console.print(
        "removed from training: " + escape(", ".join(f"{k} {v}" for k, v in sorted(removed.items())) or "nothing")
    )
    console.print(_agreement_table("Validation on the ToxiGen human labels", probe.validation["toxigen_human"]))
    if compare and SHIPPED_PROBE.is_file():
        rep = reproduction(probe, LinearProbe.load(SHIPPED_PROBE))
        console.print(f"shipped probe {SHIPPED_PROBE.name}: {describe_reproduction(rep)}", highlight=False)
    console.print("note: this probe is not the paper's classifier (tomh/toxigen_roberta).")


@classifiers_app.command("check")
def check(
    name: Annotated[str, typer.Argument(help="toxigen-roberta | toxigen-hatebert | offline")],
    model: Annotated[str | None, typer.Option(help="hub id or local directory (transformers classifiers)")] = None,
    tokenizer: Annotated[str | None, typer.Option(help="tokenizer hub id or directory")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="decide p(toxic) >= T (default: the classifier's rule)")
    ] = None,
    sample: Annotated[int | None, typer.Option(help="K sentences per group (default: all 6,514)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the sample and the bootstrap")] = 0,
    batch_size: Annotated[int, typer.Option(help="texts per forward pass")] = 32,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
) -> None:
    """Measure a classifier against the ToxiGen human labels (accuracy, AUC, F1, kappa, with CIs; per group).

    For the offline probe these sentences are held out from training. The public ToxiGen
    classifiers were trained on ToxiGen annotations, so for them this is agreement, not a held-out test.
    """
    from safetylens.datasets.registry import DataStore
    from safetylens.progress import progress_bar
    from safetylens.scorers import registry
    from safetylens.scorers.toxicity import KIND, ToxicityClassifier, check_classifier, check_items

    clf: ToxicityClassifier = registry.create(
        KIND, name, model=model, tokenizer=tokenizer, threshold=threshold, batch_size=batch_size, device=device
    )
    items = check_items(DataStore(), sample, seed)
    n = len(items)
    with progress_bar(f"classify ({name})", n) as advance:
        agreement = check_classifier(clf, items, seed=seed, progress=advance)
    rec = clf.record
    if as_json:
        console.print_json(json.dumps({"classifier": rec.model_dump(mode="json"), "n": n, **agreement}))
        return
    sha = escape((rec.weights_sha256 or "-")[:16])
    console.print(
        f"[bold]{escape(rec.id)}[/] ({escape(rec.version)}), weights sha256 {sha}, "
        f"decision {escape(clf.decision_rule)} at {clf.threshold:.3f}, n={n}"
    )
    console.print(_agreement_table("Agreement with the ToxiGen human labels", agreement))
    if name != "offline":
        console.print(
            "note: the ToxiGen classifiers were trained on ToxiGen annotations; this is agreement, not a held-out test."
        )
