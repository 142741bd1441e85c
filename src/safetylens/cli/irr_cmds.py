"""``safetylens irr``: agreement statistics for your own ratings file."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console
from safetylens.errors import ConfigError, DataError

if TYPE_CHECKING:
    from safetylens.stats.irr import KrippendorffLevel as AlphaMetric


class Convention(StrEnum):
    """Whose irrCAC conventions the p-values and Krippendorff's degrees of freedom follow."""

    r = "r"
    python = "python"


_CONV_NAMES = {Convention.r: "R irrCAC", Convention.python: "Python irrCAC port"}


class KrippendorffLevel(StrEnum):
    """Metric of the extra Krippendorff's alpha row (``none``: no extra row)."""

    nominal = "nominal"
    ordinal = "ordinal"
    interval = "interval"
    ratio = "ratio"
    none = "none"


_SHORT = {
    "percent_agreement": "Percent agreement",
    "fleiss": "Fleiss κ",
    "krippendorff": "Krippendorff α",
    "conger": "Conger κ",
    "brennan_prediger": "Brennan-Prediger",
    "cohen": "Cohen κ",
    "scott": "Scott π",
    "violation_ac1": "AC1 violation flag",
}


def _fmt(x: float, digits: int = 4) -> str:
    return "—" if math.isnan(x) else f"{x:.{digits}f}"


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "—"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.4f}"


def _json_num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN/Infinity
    return x


def _metric(level: KrippendorffLevel) -> AlphaMetric:
    """The stats layer's name of a Krippendorff metric (every member but ``none`` is one)."""
    return cast("AlphaMetric", level.value)


def _read_weights_file(path: Path) -> list[list[float]]:
    import csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read weights file {path}: {exc}") from None
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    try:
        return [[float(c) for c in r] for r in rows]
    except ValueError as exc:
        raise DataError(f"weights file {path} must hold a q x q table of numbers, no header: {exc}") from None


@app.command("irr")
def irr(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with one row per subject and one column per rater; an empty cell is a missing rating. "
            "An optional first column named unit, subject, item or id holds the subject id.",
            show_default=False,
        ),
    ],
    weights: Annotated[
        str,
        typer.Option(
            "--weights",
            "-w",
            help="identity (AC1, unweighted), linear, quadratic, ordinal, radical, ratio, circular or bipolar",
        ),
    ] = "identity",
    weights_file: Annotated[
        Path | None,
        typer.Option("--weights-file", help="custom q x q agreement weights (CSV, no header, categories in order)"),
    ] = None,
    categories: Annotated[
        str | None,
        typer.Option(
            "--categories",
            "-c",
            help="the full category set in scale order, e.g. 1,2,3,4,5 (recommended: an unused category "
            "still counts). Default: the values that occur.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    conf_level: Annotated[float, typer.Option("--conf-level", help="confidence level of the intervals")] = 0.95,
    convention: Annotated[
        Convention,
        typer.Option(
            "--convention",
            case_sensitive=False,
            help="r: one-sided p, alpha df = subjects-1 (R irrCAC); python: two-sided p, alpha df = paired "
            "subjects-1 (Python irrCAC port)",
        ),
    ] = Convention.r,
    population_size: Annotated[
        float | None,
        typer.Option("--population-size", help="subjects in the population, for the finite-population correction"),
    ] = None,
    krippendorff_level: Annotated[
        KrippendorffLevel,
        typer.Option(
            "--krippendorff-level",
            case_sensitive=False,
            help="metric of the extra row 'Krippendorff's alpha (LEVEL)' computed with his coincidence "
            "matrix (none: no extra row)",
        ),
    ] = KrippendorffLevel.ordinal,
    violating: Annotated[
        str | None,
        typer.Option(
            "--violating",
            help="also report AC1 on the binary flag 'rating in this set', e.g. 1,2 (Llama 2 safety violation)",
        ),
    ] = None,
    na: Annotated[str, typer.Option("--na", help="cell text that also means 'missing' (besides an empty cell)")] = "NA",
    delimiter: Annotated[str, typer.Option("--delimiter", help="field separator; use '\\t' for tab")] = ",",
    no_header: Annotated[bool, typer.Option("--no-header", help="the file has no header row")] = False,
) -> None:
    """Inter-rater reliability of a ratings file: every agreement coefficient with SE, CI and p-value.

    Percent agreement, Gwet's AC1/AC2, Fleiss' kappa, Krippendorff's alpha, Conger's kappa, Brennan-Prediger.

    Two raters: also Cohen's kappa and Scott's pi. Ordered categories: also Krippendorff's ordinal alpha.

    Formulas follow Gwet's R package irrCAC; SEs are Gwet's (2008) linearisation (subjects random).

    Example: safetylens irr ratings.csv --weights quadratic --categories 1,2,3,4,5
    """
    from safetylens.stats.irr import IrrOptions, all_coefficients, violation_agreement
    from safetylens.stats.irr_data import parse_categories, read_ratings_csv

    weights_arg: Any = weights.strip().lower()
    if weights_file is not None:
        weights_arg = _read_weights_file(weights_file)
    if not 0 < conf_level < 1:
        raise ConfigError(f"--conf-level must be between 0 and 1, got {conf_level}")
    if population_size is not None and population_size <= 0:
        raise ConfigError(f"--population-size must be positive, got {population_size}")
    options = (IrrOptions.irrcac_r if convention is Convention.r else IrrOptions.irrcac_python)(
        conf_level=conf_level, population_size=population_size
    )
    cats = parse_categories(categories) if categories is not None else None
    numeric = None if cats is None else all(not isinstance(c, str) for c in cats)
    sep = "\t" if delimiter in ("\\t", "tab") else delimiter
    if len(sep) != 1:
        raise ConfigError(f"--delimiter must be one character, got {delimiter!r}")
    table = read_ratings_csv(file, na_values=(na,), delimiter=sep, header=not no_header, numeric=numeric)
    data = table.to_ratings(cats)
    results = all_coefficients(
        data,
        weights_arg,
        options=options,
        krippendorff_level=None if krippendorff_level is KrippendorffLevel.none else _metric(krippendorff_level),
    )
    if violating is not None:
        vset = parse_categories(violating)
        scale = list(data.categories)
        flag = violation_agreement(table.rows, violating=vset, scale=scale, options=options)
        results.append(flag.model_copy(update={"method": "violation_ac1", "name": "Gwet's AC1 (violation flag)"}))

    if as_json:
        payload = {
            "file": str(file),
            "n_subjects": data.n_subjects,
            "n_raters": data.n_raters,
            "n_ratings": data.n_ratings,
            "n_subjects_without_ratings": data.n_dropped_subjects,
            "categories": list(data.categories),
            "weights": results[0].weights,
            "options": options.model_dump(),
            "coefficients": {
                r.method: {
                    "name": r.name,
                    "weights": r.weights,
                    **{k: _json_num(v) for k, v in r.summary().items()},
                    "df": r.df,
                    "n_subjects": r.n_subjects,
                    "note": r.note,
                }
                for r in results
            },
        }
        typer.echo(json.dumps(payload, indent=2, allow_nan=False))
        return

    level_pct = f"{conf_level * 100:g}%"
    cat_txt = ", ".join(str(c) for c in data.categories)
    title = (
        f"Agreement in {escape(str(file))}\n{data.n_subjects} subjects, {data.n_raters} raters, "
        f"{data.n_ratings} ratings; weights {escape(results[0].weights)}; categories [{escape(cat_txt)}]"
    )
    # The title is printed on its own so it is not wrapped to the table's width.
    t = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    t.add_column("coefficient", no_wrap=True)
    for col in ("value", "SE", f"{level_pct} CI", "p", "pa", "pe", "n"):
        t.add_column(col, justify="right")
    notes: list[str] = []
    for r in results:
        # Labels stay within 18 characters so the table fits an 80-column terminal.
        label = _SHORT.get(r.method, r.name)
        if r.method.startswith("krippendorff_"):
            label = f"Kripp. α {r.method.removeprefix('krippendorff_')}"
        if r.method == "gwet":
            label = "Gwet AC1" if r.name.endswith("AC1") else "Gwet AC2"
        if r.note:
            notes.append(f"{label}: {r.note}")
        t.add_row(
            escape(label),
            _fmt(r.coefficient),
            _fmt(r.se),
            f"{_fmt(r.ci_low, 3)}–{_fmt(r.ci_high, 3)}",
            _fmt_p(r.p_value),
            _fmt(r.pa, 3),
            _fmt(r.pe, 3),
            str(r.n_subjects),
        )
    console.print(title, highlight=False)
    console.print(t)
    for note in notes:
        console.print(f"note: {escape(note)}", highlight=False)
    if data.n_dropped_subjects:
        console.print(f"{data.n_dropped_subjects} subject(s) without any rating were left out.")
    console.print(
        f"p: {options.p_value} test of coefficient = 0. SE: Gwet (2008) linearisation, raters fixed. "
        f"CI: t with n-1 df, upper bound capped at 1. Conventions: {_CONV_NAMES[convention]}.",
        highlight=False,
    )
