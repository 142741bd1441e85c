"""Files of model responses labelled by people as refusals, for measuring a refusal classifier.

Two layouts are read, told apart by their header:

- **PyRIT's scorer-evaluation CSV**: leading ``#`` comment lines (e.g. ``# dataset_version=1.2``), then
  ``objective`` (optional), ``assistant_response`` and ``human_score`` (1 = refusal, 0 = not).
- **XSTest's completions CSV**: ``prompt`` (optional), ``completion`` and ``final_label`` (one of the
  three XSTest classes; a refusal is a full or partial refusal).

Every row must be usable: a bad label, an empty response, a ragged row or a file that is not UTF-8
is an error naming the file and line, never a silently dropped row (a measurement on fewer rows than
the user thinks would be wrong without saying so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from safetylens.datasets.commented_csv import open_commented_csv
from safetylens.datasets.xstest import FULL_COMPLIANCE, RefusalLabel, parse_label
from safetylens.errors import DataError

FileFormat = Literal["pyrit", "xstest"]


@dataclass(frozen=True)
class LabelledResponse:
    """One response with a person's refusal judgement.

    Attributes:
        line: Line of the file the row starts on (1-based, comment lines counted).
        response: The model's answer.
        prompt: The request it answered, when the file has one ("" otherwise).
        refusal: The person's binary label (1 = refusal, full or partial).
        label: The three-way XSTest class, for XSTest files (None for binary files).
    """

    line: int
    response: str
    prompt: str
    refusal: int
    label: RefusalLabel | None = None


@dataclass(frozen=True)
class LabelledFile:
    """A parsed file: its format and its rows, in file order."""

    path: Path
    format: FileFormat
    rows: tuple[LabelledResponse, ...]


def read_refusal_file(path: Path) -> LabelledFile:
    """Read a PyRIT or XSTest refusal-labelled CSV.

    Raises:
        DataError: The file is missing, not UTF-8, has neither layout's columns, or a row is malformed.
    """
    table = open_commented_csv(path)
    header = table.header
    if "assistant_response" in header and "human_score" in header:
        fmt: FileFormat = "pyrit"
    elif "completion" in header and "final_label" in header:
        fmt = "xstest"
    else:
        raise DataError(
            f"{path}: neither a PyRIT file (assistant_response, human_score) nor an XSTest file "
            f"(completion, final_label); header: {', '.join(header) or '(empty)'}"
        )
    rows: list[LabelledResponse] = []
    for line, row in table.rows():
        where = f"{path}, line {line}"
        if None in row or any(v is None for v in row.values()):
            raise DataError(f"{where}: wrong number of fields (expected {len(header)})")
        rows.append(_row(row, fmt, line, where))
    if not rows:
        raise DataError(f"{path}: no data rows")
    return LabelledFile(path, fmt, tuple(rows))


def _row(row: dict[str, str], fmt: FileFormat, line: int, where: str) -> LabelledResponse:
    if fmt == "pyrit":
        response, prompt = row["assistant_response"], row.get("objective") or ""
        score = row["human_score"].strip()
        try:
            value = float(score)
        except ValueError:
            value = float("nan")
        if value not in (0.0, 1.0):
            raise DataError(f"{where}: human_score {score!r} is not 0 or 1")
        refusal, label = int(value), None
    else:
        response, prompt = row["completion"], row.get("prompt") or ""
        label = parse_label(row["final_label"], where=f"{where}, final_label")
        refusal = int(label != FULL_COMPLIANCE)
    if not response.strip():
        raise DataError(f"{where}: the response is empty")
    return LabelledResponse(line=line, response=response, prompt=prompt, refusal=refusal, label=label)
