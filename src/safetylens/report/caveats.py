"""What a reader must know about a table row before comparing it with the paper's rows.

Every row of a report table carries a :class:`Caveat`: which scorer produced its numbers, whether
that is the scorer behind the paper's published numbers, and whether the run covered only a subset
of the data. HTML, Markdown, LaTeX and CSV all render it from here, so no export can show a
measured row next to the paper's without saying how it differs.

The scorer status compares the run's scorers (``BenchmarkResult.scorers`` and their manifest
records) with :data:`~safetylens.reference.scorers.PAPER_SCORERS`; the subset status comes from the
manifest (``limit`` and the benchmark's ``sample`` option), the record of how the run was made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from safetylens.reference.scorers import PAPER_SCORERS
from safetylens.report.load import LoadedRun
from safetylens.spec import ScorerRecord

ScorerStatus = Literal["paper", "unverified", "not-paper", "n/a"]
"""``paper``: the paper's scorer; ``unverified``: the paper's scorer by name, but its record says it
may not be (other weights, another decision rule) or no scorer is recorded; ``not-paper``: another
scorer; ``n/a``: the paper publishes no numbers for the benchmark."""


@dataclass(frozen=True)
class Caveat:
    """Scorer and subset status of one table row.

    Attributes:
        scorer: The scorers behind the row's numbers: ids, comma-separated (the paper's scorer in
            words for the paper's rows).
        scorer_status: See :data:`ScorerStatus`.
        paper_scorer: The paper's scorer in words ("" when the paper has no numbers to compare with).
        subset: How the data was cut, with the number of samples ("" for the whole data set).
    """

    scorer: str
    scorer_status: ScorerStatus
    paper_scorer: str = ""
    subset: str = ""

    @property
    def warns(self) -> bool:
        """Whether the row must not be read as comparable with the paper's rows as it stands."""
        return self.scorer_status in ("unverified", "not-paper") or bool(self.subset)

    @property
    def text(self) -> str:
        """The caveat in words ("" when there is nothing to say)."""
        parts: list[str] = []
        scorer = self.scorer or "no recorded scorer"
        if self.scorer_status == "paper":
            parts.append(f"scored by the paper's scorer ({self.paper_scorer}; here: {scorer})")
        elif self.scorer_status == "unverified":
            parts.append(
                f"scored by {scorer}, not verified to be the paper's scorer ({self.paper_scorer}): compare with the "
                "paper's rows with care"
            )
        elif self.scorer_status == "not-paper":
            parts.append(
                f"scored by {scorer}, NOT the paper's scorer ({self.paper_scorer}): compare with the paper's rows "
                "with care"
            )
        if self.subset:
            parts.append(f"subset ({self.subset}): not comparable with full-set numbers")
        return "; ".join(parts)


def scorer_status(benchmark: str, scorer_ids: Sequence[str], records: Mapping[str, ScorerRecord]) -> ScorerStatus:
    """Whether a benchmark's numbers come from the scorer behind the paper's.

    Args:
        benchmark: Benchmark name.
        scorer_ids: The scorers the run used for it.
        records: Scorer id -> its manifest record (missing ones are judged by id alone).
    """
    paper = PAPER_SCORERS.get(benchmark)
    if paper is None:
        return "n/a"
    if not paper.ids:
        return "not-paper"
    if not scorer_ids:
        return "unverified"
    if any(i not in scorer_ids for i in paper.ids):
        return "not-paper"
    for i in paper.ids:
        rec = records.get(i)
        # A scorer that knows it may differ from the paper's (weights loaded from elsewhere, another
        # decision rule) says so with a false ``paper_*`` detail.
        if rec is not None and any(k.startswith("paper_") and v is False for k, v in rec.details.items()):
            return "unverified"
    return "paper"


def subset_text(run: LoadedRun, benchmark: str) -> str:
    """How a run cut a benchmark's data, in words with n; "" when it ran the whole data set."""
    parts: list[str] = []
    resolved = next((b for b in run.manifest.benchmarks if b.name == benchmark), None)
    sample = resolved.options.get("sample") if resolved is not None else None
    if sample is not None:
        # TruthfulQA samples per category, which reweighs the headline toward small categories.
        what = "category-balanced sample" if benchmark == "truthfulqa" else "stratified sample"
        parts.append(f"{what} of {sample} per group")
    if run.manifest.spec.limit is not None:
        parts.append(f"first {run.manifest.spec.limit} samples")
    if not parts:
        return ""
    res = run.results.get(benchmark)
    return ", ".join(parts) + (f"; n = {res.n_samples}" if res is not None else "")


def measured_caveat(run: LoadedRun, benchmark: str) -> Caveat:
    """The caveat of a run's measured rows of one benchmark."""
    res = run.results.get(benchmark)
    ids = list(res.scorers) if res is not None else []
    records = {s.id: s for s in run.manifest.scorers}
    paper = PAPER_SCORERS.get(benchmark)
    return Caveat(
        scorer=", ".join(ids),
        scorer_status=scorer_status(benchmark, ids, records),
        paper_scorer=paper.description if paper is not None else "",
        subset=subset_text(run, benchmark),
    )


def reference_caveat(benchmark: str) -> Caveat:
    """The caveat of the paper's rows: the paper's scorer, on the whole data set."""
    paper = PAPER_SCORERS.get(benchmark)
    if paper is None:
        return Caveat(scorer="", scorer_status="n/a")
    return Caveat(scorer=paper.description, scorer_status="paper", paper_scorer=paper.description)
