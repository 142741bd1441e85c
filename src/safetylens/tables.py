"""Results in the layout of a paper's table: rows of cells, measured or published.

Benchmarks describe their results as :class:`PaperTable` objects; the report merges them across runs,
and the reference modules (the paper's published rows) build :class:`TableRow` objects. Both sit here,
below benchmarks and reference, so neither has to import the other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from safetylens.stats.ci import Estimate


class TableRow(BaseModel):
    """A row of a paper-layout table."""

    model_config = ConfigDict(frozen=True)

    label: str
    cells: dict[str, Estimate | float | str | None]
    kind: Literal["measured", "reference"] = "measured"
    note: str = ""
    uncertain: dict[str, str] = Field(
        default_factory=dict, description="column -> why this cell's transcription of the paper is uncertain"
    )


class PaperTable(BaseModel):
    """A table in the layout of one of the paper's tables."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="e.g. 'llama2-table45'")
    title: str
    columns: list[str] = Field(description="column keys, in the paper's order")
    column_labels: dict[str, str] = Field(default_factory=dict)
    rows: list[TableRow] = Field(default_factory=list)
    digits: int = 2
    note: str = ""
    reference_source: str = Field(
        "the Llama 2 paper", description="whose published numbers the reference rows are, for the row separator"
    )
