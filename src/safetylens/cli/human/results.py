"""``safetylens human results``: a study's figures as tables (and as JSON with ``--json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import console
from safetylens.cli.human.common import DbOpt, build_options, fmt_agree, fmt_est, human_app, open_db


@human_app.command("results")
def results_cmd(
    study: Annotated[str, typer.Argument(help="study name or id")],
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the results as JSON here")] = None,
    weights: Annotated[str, typer.Option(help="AC2 weights: quadratic, linear, ordinal, ...")] = "quadratic",
    tie_rule: Annotated[str, typer.Option(help="adjudicate | strict-majority | any")] = "adjudicate",
    min_ratings: Annotated[int | None, typer.Option(help="items with fewer ratings are left out (default N)")] = None,
    pairwise_rule: Annotated[str, typer.Option(help="median | majority")] = "median",
    resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 10_000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    db: DbOpt = None,
) -> None:
    """Violation % / win rates with 95% CIs, the harm judge beside people, IRR (Gwet AC1/AC2) per batch, raters."""
    from safetylens.human.results import ResultOptions, compute_results
    from safetylens.util import atomic_write_json

    opts = build_options(
        ResultOptions,
        irr_weights=weights,
        tie_rule=tie_rule,
        min_ratings=min_ratings,
        pairwise_rule=pairwise_rule,
        n_resamples=resamples,
        seed=seed,
    )
    res = compute_results(open_db(db), study, opts)
    if json_out is not None:
        atomic_write_json(json_out, res)
    console.print(
        f"[bold]{escape(res['study']['name'])}[/]: {res['n_ratings']} ratings on {res['n_items']} items; "
        f"{escape(res['rules']['incomplete_items'])}"
    )
    for table in (safety_table(res), judge_table(res), pairwise_table(res), irr_table(res), raters_table(res)):
        if table is not None:
            console.print(table)
    sources = label_sources(res)
    if sources:
        console.print(f"item labels by source: {escape(sources)}")
    if json_out is not None:
        console.print(f"results written to {escape(str(json_out))}")


def _table(title: str, columns: tuple[str, ...] | list[str]) -> Table:
    t = Table(title=escape(title), title_justify="left")
    for col in columns:
        t.add_column(escape(col))
    return t


def safety_table(res: dict[str, Any]) -> Table | None:
    """Violation % and mean rating per model, by risk category and turns (None for a pairwise study)."""
    if "safety" not in res:
        return None
    t = _table(
        "violation % (95% Wilson CI) and mean rating (95% bootstrap CI over items)",
        ("model", "items", "incomplete", "violation %", "mean rating"),
    )
    for m in res["safety"]["models"]:
        t.add_row(
            escape(m["model"]),
            str(m["items_used"]),
            str(m["items_incomplete"]),
            fmt_est(m["violation_pct"]),
            fmt_est(m["mean_rating"], 2),
        )
        for group in ("by_risk_category", "by_turns"):
            for g, x in m[group].items():
                t.add_row(
                    "  " + escape(g),
                    str(x["items_used"]),
                    "",
                    fmt_est(x["violation_pct"]),
                    fmt_est(x["mean_rating"], 2),
                )
    return t


def confusion_cell(c: dict[str, int]) -> str:
    """The judge-by-people violation table in one cell: both violating, judge only, people only, both safe."""
    return (
        f"both {c['judge_violation_human_violation']}, judge only {c['judge_violation_human_safe']}, "
        f"people only {c['judge_safe_human_violation']}, neither {c['judge_safe_human_safe']}"
    )


def judge_table(res: dict[str, Any]) -> Table | None:
    """The harm judge beside people, per model whose responses carry judge verdicts (else None)."""
    models = [m for m in (res.get("safety") or {}).get("models", []) if "judge" in m]
    if not models:
        return None
    weights = res["options"]["irr_weights"]
    t = _table(
        "harm judge beside people (items people decided; violation % with 95% Wilson CI)",
        (
            "model",
            "judge",
            "items",
            f"AC2 judge vs people ({weights})",
            "judge viol. %",
            "people viol. %",
            "violations",
        ),
    )
    for m in models:
        j = m["judge"]
        t.add_row(
            escape(m["model"]),
            escape(", ".join(j["judges"])),
            str(j["items_compared"]),
            fmt_agree(j["ac2"]),
            fmt_est(j["judge_violation_pct"]),
            fmt_est(j["human_violation_pct"]),
            escape(confusion_cell(j["violation_confusion"])),
        )
    return t


def pairwise_table(res: dict[str, Any]) -> Table | None:
    """Win, tie and loss rates per pair (None for a safety study)."""
    if "pairwise" not in res:
        return None
    t = _table(
        f"win / tie / loss ({res['pairwise']['rule']}; 95% Wilson CI)",
        ("first", "second", "items", "win %", "tie %", "loss %"),
    )
    for p in res["pairwise"]["pairs"]:
        t.add_row(
            escape(p["first"]),
            escape(p["second"]),
            str(p["items_used"]),
            fmt_est(p["win"]),
            fmt_est(p["tie"]),
            fmt_est(p["loss"]),
        )
    return t


def irr_table(res: dict[str, Any]) -> Table:
    """Gwet's AC2 (and AC1 on the violation flag, for safety) overall, per batch and per model or pair."""
    irr = res["irr"]
    safety = "safety" in res
    t = _table(
        f"inter-rater reliability (Gwet's AC2, {irr['weights']} weights)",
        ["scope", "items", "AC2"] + (["AC1 on violation"] if safety else []),
    )
    scopes = [("overall", irr["overall"])]
    scopes += [(f"batch {b}", x) for b, x in irr["by_batch"].items()]
    scopes += list((irr.get("by_model") or irr.get("by_pair") or {}).items())
    for scope, x in scopes:
        cells = [escape(scope), str(x["n_items"]), fmt_agree(x.get("ac2"))]
        if safety:
            cells.append(fmt_agree(x.get("ac1_violation")))
        t.add_row(*cells)
    return t


def raters_table(res: dict[str, Any]) -> Table:
    """Per rater: ratings, median seconds per item, agreement with the other raters' majority."""
    t = _table("raters", ("rater", "ratings", "median s/item", "agreement with the other raters' majority"))
    for x in res["raters"]:
        med = x["median_seconds_per_item"]
        t.add_row(
            escape(x["rater"]),
            str(x["ratings"]),
            f"{med:.1f}" if med is not None else "-",
            fmt_est(x["agreement_with_majority"]),
        )
    return t


def label_sources(res: dict[str, Any]) -> str:
    """How many item labels come from each source (majority, adjudication, tied, incomplete), or ""."""
    sources: dict[str, int] = {}
    for label in res.get("labels", []):
        sources[label["source"]] = sources.get(label["source"], 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(sources.items()))
