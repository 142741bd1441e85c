"""The Llama 2 paper's BOLD results: mean VADER sentiment per subgroup (Tables 46-50).

Source: Touvron et al. 2023, Appendix A.4.8, Tables 46 (race), 47 (gender), 48 (religious
ideology), 49 (political ideology) and 50 (profession), as transcribed in protocol.md §5.3 from
three independent copies of the paper (T1, T2, C1) and Code Llama Table 25.

Cells whose transcription could not be settled are marked ``†`` in protocol.md; here they carry
their alternative reading in :attr:`ReferenceRow.alternatives`. The Falcon 40B profession row is
printed with 19 numbers for 18 columns; its last five cells are left unknown (``None``) and the
competing readings are kept in :data:`FALCON_40B_PROFESSION_READINGS`.
"""

# ruff: noqa: E501
from __future__ import annotations

from dataclasses import dataclass, field

from safetylens.tables import TableRow

TABLE_NUMBERS: dict[str, int] = {
    "race": 46,
    "gender": 47,
    "religious_ideology": 48,
    "political_ideology": 49,
    "profession": 50,
}
"""BOLD domain -> table number in the Llama 2 paper (also the paper's order of the tables)."""

DOMAINS: tuple[str, ...] = tuple(TABLE_NUMBERS)
"""The five BOLD domains, in the paper's order."""

DOMAIN_TITLES: dict[str, str] = {
    "race": "Race",
    "gender": "Gender",
    "religious_ideology": "Religious ideology",
    "political_ideology": "Political ideology",
    "profession": "Profession",
}

COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "race": (
        ("Asian_Americans", "Asian Americans"),
        ("African_Americans", "African Americans"),
        ("European_Americans", "European Americans"),
        ("Hispanic_and_Latino_Americans", "Hispanic and Latino Americans"),
    ),
    "gender": (
        ("American_actors", "American actors"),
        ("American_actresses", "American actresses"),
    ),
    "religious_ideology": (
        ("judaism", "Judaism"),
        ("christianity", "Christianity"),
        ("islam", "Islam"),
        ("buddhism", "Buddhism"),
        ("sikhism", "Sikhism"),
    ),
    "political_ideology": (
        ("left-wing", "Left-wing"),
        ("right-wing", "Right-wing"),
        ("communism", "Communism"),
        ("socialism", "Socialism"),
        ("democracy", "Democracy"),
        ("liberalism", "Liberalism"),
        ("populism", "Populism"),
        ("conservatism", "Conservatism"),
        ("nationalism", "Nationalism"),
        ("anarchism", "Anarchism"),
        ("capitalism", "Capitalism"),
        ("fascism", "Fascism"),
    ),
    "profession": (
        ("metalworking_occupations", "Metal-working"),
        ("sewing_occupations", "Sewing"),
        ("healthcare_occupations", "Healthcare"),
        ("computer_occupations", "Computer"),
        ("film_and_television_occupations", "Film & television"),
        ("artistic_occupations", "Artistic"),
        ("scientific_occupations", "Scientific"),
        ("entertainer_occupations", "Entertainer"),
        ("dance_occupations", "Dance"),
        ("nursing_specialties", "Nursing specialties"),
        ("writing_occupations", "Writing"),
        ("professional_driver_types", "Professional driver types"),
        ("engineering_branches", "Engineering branches"),
        ("mental_health_occupations", "Mental health"),
        ("theatre_personnel", "Theatre personnel"),
        ("corporate_titles", "Corporate titles"),
        ("industrial_occupations", "Industrial"),
        ("railway_industry_occupations", "Railway industry"),
    ),
}
"""Per domain, the paper's columns in the paper's order: (BOLD subgroup key, the paper's label)."""

EXCLUDED_SUBGROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "religious_ideology": (("hinduism", "Hinduism"), ("atheism", "Atheism")),
}
"""Subgroups the paper drops as under-represented (12 and 29 prompts) [P A.4.7 footnote]."""

FALCON_40B_PROFESSION_READINGS: dict[str, tuple[float, ...]] = {
    "printed_tail_T1_C1": (0.21, 0.40, 0.44, 0.57, 0.39, 0.29),
    "T2_last_five": (0.40, 0.44, 0.57, 0.30, 0.29),
}
"""The competing readings of the Falcon 40B row's last cells in Table 50 (after Engineering 0.25).

Two independent copies (T1, C1) print six numbers for the five columns Mental health, Theatre
personnel, Corporate titles, Industrial and Railway industry (19 numbers for 18 columns, probably a
typo in the paper); T2 gives five. None can be assigned to columns reliably, so those five cells
are ``None`` in the reference row.
"""

_FALCON_40B_NOTE = (
    "Table 50 prints 19 numbers for 18 columns in this row ('... 0.05, 0.25, 0.21, 0.40, 0.44, 0.57, 0.39, 0.29' "
    "in two copies; '0.40, 0.44, 0.57, 0.30, 0.29' for the last five in a third): Mental health, Theatre "
    "personnel, Corporate titles, Industrial and Railway industry cannot be assigned reliably and are left empty"
)

# Rows as printed: model, size, the cells in column order ("X†Y": printed X, alternative reading Y;
# "?": unknown), and whether the row agrees with Code Llama Table 25 (the ✓ of protocol.md, Table 50 only).
# fmt: off
_ROWS: dict[int, tuple[tuple[str, str, str] | tuple[str, str, str, bool], ...]] = {
    46: (
        ("MPT", "7B", "0.38 0.34 0.25 0.39"),
        ("MPT", "30B", "0.38 0.28 0.23 0.33"),
        ("Falcon", "7B", "0.36 0.29 0.26 0.47"),
        ("Falcon", "40B", "0.36 0.32 0.29 0.48"),
        ("Llama 1", "7B", "0.41 0.32 0.28 0.46"),
        ("Llama 1", "13B", "0.40 0.32 0.26 0.45"),
        ("Llama 1", "33B", "0.39 0.32 0.26 0.46"),
        ("Llama 1", "65B", "0.41 0.34 0.27 0.44"),
        ("Llama 2", "7B", "0.38 0.33 0.27 0.43"),
        ("Llama 2", "13B", "0.42 0.31 0.28 0.45"),
        ("Llama 2", "34B", "0.40 0.34 0.28 0.42"),
        ("Llama 2", "70B", "0.42 0.34 0.28 0.52"),
        ("ChatGPT", "–", "0.18 0.16 0.15 0.19"),
        ("MPT-instruct", "7B", "0.38 0.32 0.29 0.32"),
        ("Falcon-instruct", "7B", "0.40 0.34 0.30 0.36"),
        ("Llama 2-Chat", "7B", "0.55 0.43 0.40 0.49"),
        ("Llama 2-Chat", "13B", "0.51 0.40 0.38 0.49"),
        ("Llama 2-Chat", "34B", "0.46 0.40 0.35 0.39"),
        ("Llama 2-Chat", "70B", "0.51 0.43 0.40 0.49"),
    ),
    47: (
        ("MPT", "7B", "0.30 0.43"),
        ("MPT", "30B", "0.29 0.41"),
        ("Falcon", "7B", "0.21 0.33"),
        ("Falcon", "40B", "0.29 0.37"),
        ("Llama 1", "7B", "0.31 0.46"),
        ("Llama 1", "13B", "0.29 0.43"),
        ("Llama 1", "33B", "0.26 0.44"),
        ("Llama 1", "65B", "0.30 0.44"),
        ("Llama 2", "7B", "0.29 0.42"),
        ("Llama 2", "13B", "0.32 0.44"),
        ("Llama 2", "34B", "0.25 0.45"),
        ("Llama 2", "70B", "0.28 0.44"),
        ("ChatGPT", "–", "0.55 0.65"),
        ("MPT-instruct", "7B", "0.31 0.38"),
        ("Falcon-instruct", "7B", "0.32 0.36"),
        ("Llama 2-Chat", "7B", "0.48 0.56"),
        ("Llama 2-Chat", "13B", "0.46 0.53"),
        ("Llama 2-Chat", "34B", "0.44 0.47"),
        ("Llama 2-Chat", "70B", "0.44 0.49"),
    ),
    48: (
        ("MPT", "7B", "0.39 0.38 0.31 0.27 0.07"),
        ("MPT", "30B", "0.33 0.28 0.20 0.30 0.19"),
        ("Falcon", "7B", "0.25 0.35 0.20 0.25 0.22"),
        ("Falcon", "40B", "0.26 0.28 0.26 0.31 0.19"),
        ("Llama 1", "7B", "0.37 0.30 0.24 0.38 0.17"),
        ("Llama 1", "13B", "0.36 0.26 0.30 0.37 0.13"),
        ("Llama 1", "33B", "0.35 0.27 0.29 0.20 0.18"),
        ("Llama 1", "65B", "0.37 0.27 0.20 0.30 0.19"),
        ("Llama 2", "7B", "0.34 0.28 0.30 0.24 0.16"),
        ("Llama 2", "13B", "0.29 0.33 0.35 0.33 0.19"),
        ("Llama 2", "34B", "0.31 0.24 0.32 0.34 0.28"),
        ("Llama 2", "70B", "0.42 0.29 0.34 0.37 0.20"),
        ("ChatGPT", "–", "0.19 0.16 0.21 0.17 0.17"),
        ("MPT-instruct", "7B", "0.35 0.29 0.33 0.41 0.14"),
        ("Falcon-instruct", "7B", "0.34 0.26 0.30 0.33 0.29"),
        ("Llama 2-Chat", "7B", "0.55 0.50 0.48 0.45 0.62"),
        ("Llama 2-Chat", "13B", "0.40 0.50 0.71 0.40 0.62"),
        ("Llama 2-Chat", "34B", "0.44 0.54 0.63 0.53 0.53"),
        ("Llama 2-Chat", "70B", "0.47 0.52 0.50 0.55 0.50"),
    ),
    49: (
        ("MPT", "7B", "0.20 0.31 0.20 0.33 0.31 0.59 0.19 0.52 0.26 0.10 0.35 -0.15"),
        ("MPT", "30B", "0.19 0.29 0.12 0.31 0.26 0.59 0.40 0.61 0.25 0.24 0.30 -0.17"),
        ("Falcon", "7B", "0.05 0.18 0.16 0.28 0.28 0.40 0.18 0.51 0.23 0.21 0.27 0.11"),
        ("Falcon", "40B", "0.24 0.18 0.29 0.25 0.30 0.51 0.10 0.50 0.25 0.19 0.28 -0.13"),
        ("Llama 1", "7B", "0.16 0.22 0.17 0.35 0.30 0.35 0.15 0.37 0.18 0.17 0.20 -0.23"),
        ("Llama 1", "13B", "0.18 0.09 0.26 0.29 0.26 0.53 0.10†0.18 0.49 0.20 0.16 0.15 -0.21"),
        ("Llama 1", "33B", "0.22 0.18 0.26 0.27 0.28 0.50 0.06 0.55 0.26 0.09 0.29 -0.26"),
        ("Llama 1", "65B", "0.11 0.20 0.27 0.35 0.31 0.52 0.21 0.59 0.25 0.19 0.33 -0.25"),
        ("Llama 2", "7B", "0.15 0.30 0.12 0.35 0.25 0.43 0.18 0.38 0.16 0.12 0.29 -0.13"),
        ("Llama 2", "13B", "0.14 0.35 0.23 0.29 0.23 0.57 0.20 0.52 0.22 0.12 0.29 -0.17"),
        ("Llama 2", "34B", "0.12 0.16 0.18 0.36 0.35 0.52 0.10 0.54 0.28 0.11 0.30 -0.19"),
        ("Llama 2", "70B", "0.16 0.21 0.17 0.35 0.30 0.60 0.18 0.67 0.26 0.12 0.30 -0.10"),
        ("ChatGPT", "–", "0.15 0.22 0.05 0.24 0.31 0.35 0.09 0.42 0.19 0.09 0.23 0.06"),
        ("MPT-instruct", "7B", "0.13 0.29 0.12 0.34 0.35 0.53 0.28 0.56 0.27 0.02 0.32 -0.12"),
        ("Falcon-instruct", "7B", "0.11 0.21 0.21 0.28 0.34 0.23 0.31 0.45 0.23 0.22 0.29 -0.27"),
        ("Llama 2-Chat", "7B", "0.28 0.51 0.29 0.44 0.59 0.75 0.28 0.75 0.55 0.26 0.50 -0.19"),
        ("Llama 2-Chat", "13B", "0.35 0.49 0.45 0.49 0.49 0.72 0.30 0.67 0.54 0.36 0.50 0.16"),
        ("Llama 2-Chat", "34B", "0.30 0.51 0.36 0.48 0.56 0.76 0.28 0.75 0.53 0.34 0.54 0.02"),
        ("Llama 2-Chat", "70B", "0.34 0.56 0.28 0.56 0.64 0.78 0.27 0.76 0.55 0.34 0.57 -0.01"),
    ),
    50: (
        ("MPT", "7B", "0.24 0.28 0.38 0.53 0.35 0.36 0.23 0.33 0.33 0.53 0.32 0.13 0.22 0.29 0.43 0.59 0.36 0.38", True),
        ("MPT", "30B", "0.23 0.18 0.34 0.48 0.37 0.30 0.24 0.31 0.31 0.45 0.32 0.17 0.21 0.29 0.38 0.46 0.29 0.24"),
        ("Falcon", "7B", "0.22 0.23 0.35 0.42 0.35 0.32 0.22 0.30 0.26 0.46 0.31 0.23 0.20 0.32 0.37 0.52 0.19 0.26", True),
        ("Falcon", "40B", "0.24 0.27 0.30 0.44 0.41 0.36 0.25 0.32 0.31 0.47 0.29 0.05 0.25 ? ? ? ? ?"),
        ("Llama 1", "7B", "0.27 0.26 0.34 0.54 0.36 0.39 0.26 0.28 0.33 0.45 0.33 0.17 0.24 0.31 0.44 0.57 0.39 0.35"),
        ("Llama 1", "13B", "0.24 0.24 0.31 0.52 0.37 0.37 0.23†0.25 0.28 0.31 0.50 0.27 0.10 0.24 0.27 0.41†0.43 0.55 0.34 0.25"),
        ("Llama 1", "33B", "0.23 0.26 0.34 0.50 0.36 0.35 0.24 0.33 0.34†0.31 0.49 0.31 0.12 0.23 0.30 0.41†0.43 0.60 0.28†0.26 0.27"),
        ("Llama 1", "65B", "0.25 0.26 0.34 0.46 0.36 0.40 0.25 0.32 0.32 0.48 0.31 0.11 0.25 0.30 0.43†0.42 0.60 0.39 0.34"),
        ("Llama 2", "7B", "0.28 0.25 0.29 0.50 0.36 0.37 0.21 0.34 0.32 0.50 0.28 0.19 0.26 0.32 0.44 0.51 0.30 0.25", True),
        ("Llama 2", "13B", "0.24 0.25 0.35 0.50 0.41 0.36 0.24 0.39 0.35 0.48 0.31 0.18 0.27 0.34 0.46 0.66 0.35 0.28", True),
        ("Llama 2", "34B", "0.27 0.24 0.33 0.56 0.41 0.36 0.26 0.32 0.36 0.53 0.33 0.07 0.26 0.30 0.45 0.56 0.26 0.35", True),
        ("Llama 2", "70B", "0.31 0.29 0.35 0.51 0.41 0.45 0.27 0.34 0.40 0.52 0.36 0.12 0.28†0.23 0.31†0.33 0.45†0.43 0.65 0.33 0.20"),
        ("ChatGPT", "–", "0.65 0.62 0.64 0.84 0.77 0.75 0.53 0.71 0.73 0.75 0.73 0.54 0.55 0.69 0.71 0.82 0.57 0.57"),
        ("MPT-instruct", "7B", "0.22 0.19 0.28 0.44 0.27 0.26 0.19 0.28 0.30 0.46 0.24 0.05 0.20 0.39 0.33 0.48 0.20 0.19", True),
        ("Falcon-instruct", "7B", "0.36 0.31 0.48 0.62 0.48 0.45 0.31 0.47 0.40 0.57 0.43 0.19 0.30 0.56 0.47 0.63 0.49 0.48", True),
        ("Llama 2-Chat", "7B", "0.44 0.42 0.45 0.71 0.54 0.54 0.33 0.54 0.53 0.55 0.62 0.29 0.36 0.58 0.53 0.61 0.36 0.37", True),
        ("Llama 2-Chat", "13B", "0.37 0.37 0.41 0.52 0.44 0.45 0.29 0.46 0.49 0.50 0.48 0.29 0.31 0.58 0.41 0.58 0.33 0.40", True),
        ("Llama 2-Chat", "34B", "0.40 0.37 0.43 0.59 0.54 0.49 0.32 0.48 0.50 0.58 0.53 0.25 0.34 0.60 0.50 0.63 0.44 0.40", True),
        ("Llama 2-Chat", "70B", "0.47 0.43 0.49 0.67 0.60 0.55 0.38†0.36 0.54 0.56 0.61 0.58 0.28†0.26 0.39 0.67 0.56 0.70 0.43 0.47"),
    ),
}
# fmt: on

# Transcription notes that settle a disagreement (kept for the record) or flag a cell.
_ROW_NOTES: dict[tuple[int, str, str], str] = {
    (49, "Llama 2-Chat", "70B"): "Communism: one transcription reads 0.26; two others read 0.28 (kept)",
    (50, "Llama 2-Chat", "70B"): "Sewing: one transcription reads 0.45; two others read 0.43 (kept)",
    (50, "MPT-instruct", "7B"): "Nursing specialties: Code Llama Table 25 gives 0.545; all three Llama 2 copies "
    "give 0.46 (kept)",
    (50, "Llama 2", "34B"): "Entertainer: Code Llama Table 25 gives 0.332; the Llama 2 paper prints 0.32 (kept)",
    (50, "Falcon", "40B"): _FALCON_40B_NOTE,
}


@dataclass(frozen=True)
class ReferenceRow:
    """One model's row of Tables 46-50.

    Attributes:
        table: Table number in the Llama 2 paper (46-50).
        domain: BOLD domain.
        model: Model family as printed (``"Llama 2-Chat"``, ``"ChatGPT"``, ...).
        size: Size as printed (``"7B"``; ``"–"`` for ChatGPT).
        values: Subgroup key -> mean sentiment as printed; None where the cell is unknown.
        alternatives: Subgroup key -> the alternative reading of a ``†`` cell (uncertain transcription).
        cross_checked: The row agrees with Code Llama Table 25 to rounding (Table 50 only; see notes).
        note: Transcription notes.
    """

    table: int
    domain: str
    model: str
    size: str
    values: dict[str, float | None]
    alternatives: dict[str, float] = field(default_factory=dict)
    cross_checked: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        """``"Llama 2-Chat 70B"``; ``"ChatGPT"`` without a size."""
        return self.model if self.size in ("", "–") else f"{self.model} {self.size}"


def _parse_cell(text: str) -> tuple[float | None, float | None]:
    if text == "?":
        return None, None
    if "†" in text:
        value, alt = text.split("†")
        return float(value), float(alt)
    return float(text), None


def _build() -> dict[str, list[ReferenceRow]]:
    out: dict[str, list[ReferenceRow]] = {}
    for domain, table in TABLE_NUMBERS.items():
        keys = [k for k, _ in COLUMNS[domain]]
        rows: list[ReferenceRow] = []
        for raw in _ROWS[table]:
            model, size, cells = raw[0], raw[1], raw[2]
            checked = bool(raw[3]) if len(raw) > 3 else False
            parts = cells.split()
            if len(parts) != len(keys):
                raise AssertionError(f"Table {table} {model} {size}: {len(parts)} cells for {len(keys)} columns")
            values: dict[str, float | None] = {}
            alternatives: dict[str, float] = {}
            for key, part in zip(keys, parts, strict=True):
                value, alt = _parse_cell(part)
                values[key] = value
                if alt is not None:
                    alternatives[key] = alt
            rows.append(
                ReferenceRow(
                    table=table,
                    domain=domain,
                    model=model,
                    size=size,
                    values=values,
                    alternatives=alternatives,
                    cross_checked=checked,
                    note=_ROW_NOTES.get((table, model, size), ""),
                )
            )
        out[domain] = rows
    return out


_REFERENCE = _build()


def reference_rows(domain: str) -> list[ReferenceRow]:
    """The paper's rows of one domain's table, in the paper's row order.

    Raises:
        KeyError: Unknown domain.
    """
    return list(_REFERENCE[domain])


def reference_table_rows(domain: str) -> list[TableRow]:
    """The paper's rows of one domain as ``TableRow(kind="reference")`` for side-by-side display.

    Labels end in ``(paper)``, as every benchmark's reference rows do.

    Cells with an uncertain transcription keep the printed value; the row's note lists them with
    their alternative readings (``†``). Unknown cells are None.
    """
    # Imported here: safetylens.benchmarks imports this module while it registers BOLD.
    labels = dict(COLUMNS[domain])
    out: list[TableRow] = []
    for row in _REFERENCE[domain]:
        notes = [f"Llama 2 paper Table {row.table}"]
        if row.alternatives:
            notes.append(
                "uncertain transcription (†): "
                + "; ".join(f"{labels[k]} {row.values[k]:.2f} or {alt:.2f}" for k, alt in row.alternatives.items())
            )
        if row.cross_checked:
            notes.append("agrees with Code Llama Table 25")
        if row.note:
            notes.append(row.note)
        cells: dict[str, float | str | None] = dict(row.values)
        uncertain = {
            k: f"transcriptions disagree: {row.values[k]:.2f} or {alt:.2f}" for k, alt in row.alternatives.items()
        }
        out.append(
            TableRow(
                label=f"{row.label} (paper)",
                cells=dict(cells),
                kind="reference",
                note=". ".join(notes),
                uncertain=uncertain,
            )
        )
    return out
