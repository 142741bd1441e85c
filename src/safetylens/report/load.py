"""Loading finished runs for reports, comparisons and replays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from safetylens.errors import ConfigError
from safetylens.records import BenchmarkResult
from safetylens.runs import RunDir
from safetylens.spec import Manifest


@dataclass(frozen=True)
class LoadedRun:
    """A finished run: its directory, manifest and per-benchmark results.

    Attributes:
        path: The run directory.
        manifest: The manifest in ``results.json`` (the one the numbers were computed with).
        results: Benchmark name -> result.
        label: Short name used for the run's rows in tables and plots.
    """

    path: Path
    manifest: Manifest
    results: dict[str, BenchmarkResult]
    label: str

    @property
    def run_id(self) -> str:
        """The run's id (its directory name)."""
        return self.manifest.run_id


def load_run(path: Path) -> LoadedRun:
    """Load a finished run directory.

    Raises:
        ConfigError: Not a run directory, the run has no ``results.json`` yet, or a file is invalid.
    """
    run = RunDir.open(path)
    data = run.results()
    if data is None:
        raise ConfigError(
            f"{path} has no results.json: the run is not finished",
            hint=f"finish it first: safetylens resume {path}",
        )
    label = data.manifest.spec.label or data.manifest.model.model
    return LoadedRun(path=path, manifest=data.manifest, results=dict(data.results), label=label)


def load_runs(paths: Sequence[Path]) -> list[LoadedRun]:
    """Load several runs and give each a distinct label.

    Runs with the same label that share a benchmark (for example the same model run twice) get
    their run id appended, so their rows can be told apart; runs of one model on different
    benchmarks keep the plain label.

    Raises:
        ConfigError: No run given, or one of them cannot be loaded.
    """
    if not paths:
        raise ConfigError("no run directory given")
    runs = [load_run(p) for p in paths]
    seen: dict[tuple[str, str], int] = {}
    for r in runs:
        for bench in r.results:
            seen[(r.label, bench)] = seen.get((r.label, bench), 0) + 1
    out: list[LoadedRun] = []
    for r in runs:
        if any(seen[(r.label, bench)] > 1 for bench in r.results):
            r = LoadedRun(path=r.path, manifest=r.manifest, results=r.results, label=f"{r.label} [{r.run_id}]")
        out.append(r)
    return out
