"""Files of model responses with people's harm scores, for measuring a harm judge (PyRIT's format).

The layout is PyRIT's scorer-evaluation CSV: leading ``#`` comment lines (``# dataset_version=1.0,
harm_definition=violence.yaml, ...``), then ``objective``, ``assistant_response``, one or more human
score columns (``human_score``, ``human_score_1``, ``human_score_2``, ...: each in [0, 1], 1 = most
harmful), and optionally ``harm_category``. Every row must be usable; anything else is an error
naming the file and line, never a silently dropped row.

:func:`load_calibration` reads the eight reference files (604 responses) through the data registry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from safetylens.datasets.commented_csv import open_commented_csv
from safetylens.errors import DataError

DATASET = "harm-calibration"
CATEGORIES: tuple[str, ...] = (
    "exploits",
    "hate_speech",
    "info_integrity",
    "privacy",
    "representational",
    "self_harm",
    "sexual",
    "violence",
)
"""The categories of the reference files (file stems)."""

METRICS_FILES: dict[str, str] = {c: f"{c}_metrics.jsonl" for c in CATEGORIES} | {
    "info_integrity": "information_integrity_metrics.jsonl"
}

_SCORE_COLUMN = re.compile(r"human_score(_\d+)?")


@dataclass(frozen=True)
class HarmExample:
    """One response with its human harm scores.

    Attributes:
        line: Line of the file the row starts on (1-based, comment lines counted).
        category: The row's harm category (the file's, when it has no column).
        objective: The request.
        response: The model's answer.
        human: Each human's score in [0, 1], in column order (NaN where a person gave none).
    """

    line: int
    category: str
    objective: str
    response: str
    human: tuple[float, ...]

    @property
    def mean_human(self) -> float:
        """Mean of the scores given."""
        given = [h for h in self.human if not math.isnan(h)]
        return sum(given) / len(given)


@dataclass(frozen=True)
class HarmFile:
    """A parsed file: its human score columns and its rows, in file order."""

    path: Path
    raters: tuple[str, ...]
    rows: tuple[HarmExample, ...]


def read_harm_file(path: Path, category: str | None = None) -> HarmFile:
    """Read a PyRIT harm-scored CSV.

    Args:
        path: The file.
        category: Category for rows without a ``harm_category`` column (default: the file's stem).

    Raises:
        DataError: Missing or unreadable file, not UTF-8, missing columns, or a malformed row.
    """
    table = open_commented_csv(path)
    header = table.header
    raters = tuple(c for c in header if _SCORE_COLUMN.fullmatch(c))
    missing = [c for c in ("assistant_response",) if c not in header]
    if missing or not raters:
        raise DataError(
            f"{path}: not a harm-scored file: it needs assistant_response and at least one human_score column "
            f"(header: {', '.join(header) or '(empty)'})"
        )
    default_category = category or path.stem
    rows: list[HarmExample] = []
    for line, row in table.rows():
        where = f"{path}, line {line}"
        if None in row or any(v is None for v in row.values()):
            # A trailing empty field (PyRIT's comment line ends in ",,") is not a ragged row.
            extra = row.get(None)
            if not (isinstance(extra, list) and all(not str(x).strip() for x in extra)) or any(
                v is None for k, v in row.items() if k is not None
            ):
                raise DataError(f"{where}: wrong number of fields (expected {len(header)})")
        rows.append(_row(row, raters, default_category, line, where))
    if not rows:
        raise DataError(f"{path}: no data rows")
    return HarmFile(path, raters, tuple(rows))


def _row(row: dict[Any, Any], raters: tuple[str, ...], category: str, line: int, where: str) -> HarmExample:
    scores: list[float] = []
    for col in raters:
        raw = str(row.get(col) or "").strip()
        if raw == "":
            scores.append(float("nan"))
            continue
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise DataError(f"{where}: {col} {raw!r} is not a harm score in [0, 1]")
        scores.append(value)
    if all(math.isnan(s) for s in scores):
        raise DataError(f"{where}: no human score")
    response = str(row.get("assistant_response") or "")
    if not response.strip():
        raise DataError(f"{where}: the response is empty")
    cat = str(row.get("harm_category") or "").strip() or category
    return HarmExample(line, cat, str(row.get("objective") or ""), response, tuple(scores))


def load_calibration(store: Any, categories: tuple[str, ...] = CATEGORIES) -> list[HarmExample]:
    """The reference human-scored responses (604 over eight categories), category by category.

    Raises:
        DataError: An unknown category, or a missing or malformed file.
    """
    out: list[HarmExample] = []
    for c in categories:
        if c not in CATEGORIES:
            raise DataError(f"no harm calibration file for category {c!r}", hint=f"categories: {', '.join(CATEGORIES)}")
        rows = read_harm_file(store.path(DATASET, f"judge_calibration/harm/{c}.csv"), c).rows
        # The files' own category cells are spelled three ways (violence, SEXUAL_CONTENT,
        # information_integrity); the file is the category.
        out.extend(replace(r, category=c) for r in rows)
    return out
