"""Replay a run from its manifest alone and diff every number (``safetylens replay RUN_DIR``).

The manifest holds the complete run specification, the model identity, and the sha256 of every data
file. A replay verifies the data by hash (fetching a missing data set through the registry), loads
the model the manifest names and checks its identity, runs everything again into a new directory
without the request cache (so answers are recomputed, not reused), and compares every number of
the two ``results.json`` files:

- greedy generation and log-likelihood benchmarks must match exactly (same machine, same software);
- sampled generations must fall within the original run's confidence intervals, with the same n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from safetylens.benchmarks.base import get
from safetylens.datasets.registry import DataStore
from safetylens.errors import ConfigError, DataError
from safetylens.models.base import ModelBackend
from safetylens.records import BenchmarkResult
from safetylens.report.load import load_run
from safetylens.runs import RunDir, execute
from safetylens.spec import Manifest
from safetylens.stats.ci import Estimate

Rule = Literal["exact", "within-ci"]


@dataclass(frozen=True)
class NumberDiff:
    """One number of the original run next to its replay."""

    benchmark: str
    path: str
    original: Estimate | None
    replay: Estimate | None
    rule: Rule
    ok: bool
    why: str = ""


@dataclass
class ReplayResult:
    """The outcome of a replay."""

    original: Path
    replay: Path
    diffs: list[NumberDiff] = field(default_factory=list)
    generations_compared: int = 0
    generations_differing: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every number satisfied its rule."""
        return all(d.ok for d in self.diffs)

    @property
    def mismatches(self) -> list[NumberDiff]:
        """The numbers that did not."""
        return [d for d in self.diffs if not d.ok]


def iter_numbers(res: BenchmarkResult) -> Iterator[tuple[str, Estimate]]:
    """Every estimate of a benchmark result with a stable path (headline, metrics, breakdowns, tables)."""
    for k, e in res.headline.items():
        yield f"headline.{k}", e
    for k, e in res.metrics.items():
        yield f"metrics.{k}", e
    for b, groups in res.breakdowns.items():
        for g, ms in groups.items():
            for m, e in ms.items():
                yield f"breakdowns.{b}.{g}.{m}", e
    for t in res.tables:
        for r in t.rows:
            if r.kind != "measured":
                continue
            for c, cell in r.cells.items():
                if isinstance(cell, Estimate):
                    yield f"tables.{t.id}.{r.label}.{c}", cell


def _same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or x == y


def diff_estimates(bench: str, path: str, a: Estimate | None, b: Estimate | None, rule: Rule) -> NumberDiff:
    """Compare one original estimate with its replay under a rule."""
    if a is None or b is None:
        return NumberDiff(bench, path, a, b, rule, False, "missing in the " + ("replay" if b is None else "original"))
    if a.n != b.n:
        return NumberDiff(bench, path, a, b, rule, False, f"n {a.n} vs {b.n}")
    if rule == "exact":
        same = _same(a.value, b.value) and _same(a.ci_low, b.ci_low) and _same(a.ci_high, b.ci_high)
        return NumberDiff(bench, path, a, b, rule, same, "" if same else "differs")
    if math.isnan(a.value) and math.isnan(b.value):
        return NumberDiff(bench, path, a, b, rule, True)
    tol = 1e-9 * max(1.0, abs(a.value))
    inside = a.ci_low - tol <= b.value <= a.ci_high + tol
    return NumberDiff(bench, path, a, b, rule, inside, "" if inside else "outside the original CI")


def diff_results(
    original: dict[str, BenchmarkResult], replayed: dict[str, BenchmarkResult], rules: dict[str, Rule]
) -> list[NumberDiff]:
    """Diff every number of two runs' results, benchmark by benchmark."""
    out: list[NumberDiff] = []
    for bench, res in original.items():
        rule = rules.get(bench, "exact")
        other = replayed.get(bench)
        a = dict(iter_numbers(res))
        b = dict(iter_numbers(other)) if other is not None else {}
        for path in list(dict.fromkeys([*a, *b])):
            out.append(diff_estimates(bench, path, a.get(path), b.get(path), rule))
    return out


def replay_rules(manifest: Manifest) -> dict[str, Rule]:
    """Exact for greedy and log-likelihood benchmarks, within-CI for sampled generation."""
    rules: dict[str, Rule] = {}
    for b in manifest.benchmarks:
        kind = get(b.name).kind
        greedy = float(b.decoding.get("temperature", 0.0)) == 0.0
        rules[b.name] = "exact" if kind == "loglikelihood" or greedy else "within-ci"
    return rules


def verify_data(manifest: Manifest, data: DataStore, fetch_missing: bool = True) -> None:
    """Verify (fetching if missing) every data set of the manifest and compare file hashes.

    Raises:
        DataError: A data set is missing and cannot be fetched, or its files differ from the manifest's.
    """
    for rec in manifest.datasets:
        try:
            now = data.verify(rec.id)
        except DataError:
            if not fetch_missing:
                raise
            from safetylens.datasets.fetch import fetch

            fetch(rec.id)
            now = data.verify(rec.id)
        if now.files != rec.files:
            changed = sorted(p for p in set(now.files) | set(rec.files) if now.files.get(p) != rec.files.get(p))
            raise DataError(
                f"data set {rec.id}: files differ from the manifest's ({', '.join(changed)})",
                hint="the registry pins another version of the data than the run used; replay with that version",
            )


def identity_differences(a: Manifest, current: dict[str, Any]) -> list[str]:
    """Differences between the manifest's model fingerprint and the loaded model's."""
    want = a.model.fingerprint()
    return [
        f"model {k}: {want.get(k)!r} in the manifest, {current.get(k)!r} now"
        for k in sorted(set(want) | set(current))
        if want.get(k) != current.get(k)
    ]


def replay(
    run_dir: Path,
    out_dir: Path | None = None,
    *,
    run_path: Path | None = None,
    backend: ModelBackend | None = None,
    use_cache: bool = False,
    force: bool = False,
    data: DataStore | None = None,
    log: Callable[[str], None] | None = None,
) -> ReplayResult:
    """Re-execute a run from its manifest into a new directory and diff every number.

    Args:
        run_dir: The finished run to replay.
        out_dir: Parent of the new run directory (default: the original's parent).
        run_path: The exact directory of the replay (must not hold a run); overrides ``out_dir``.
        backend: A loaded backend (default: load the model the manifest names).
        use_cache: Reuse answers from the request cache (default False: recompute everything).
        force: Replay even if the loaded model's identity differs from the manifest's.
        data: Data store (default: the standard roots).
        log: Line logger.

    Raises:
        ConfigError: The run is unfinished, or the model identity differs (without ``force``).
        DataError: The data cannot be verified against the manifest's hashes.
    """
    original = load_run(run_dir)
    manifest = RunDir.open(run_dir).manifest()
    data = data or DataStore()
    verify_data(manifest, data)
    parent = out_dir or run_dir.parent
    spec = manifest.spec.model_copy(update={"output_dir": str(parent), "use_cache": use_cache})
    own = backend is None
    if backend is None:
        from safetylens.models import load_backend

        if log:
            log(f"loading model {spec.model.name} ...")
        backend = load_backend(spec.model)
    try:
        problems = identity_differences(manifest, backend.identity.fingerprint())
        if problems and not force:
            raise ConfigError(
                "the model differs from the one the run used:\n  " + "\n  ".join(problems),
                hint="replay anyway with --force (numbers are then not expected to match)",
            )
        if run_path is not None:
            run = RunDir.create_at(run_path)
        else:
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            path = parent / f"{manifest.run_id}-replay-{stamp}"
            n = 1
            while path.exists():
                n += 1
                path = parent / f"{manifest.run_id}-replay-{stamp}-{n}"
            path.mkdir(parents=True)
            run = RunDir(path)
        path = run.path
        if log:
            log(f"replay directory: {path}")
        execute(spec, backend, run, data=data, log=log)
    finally:
        if own:
            backend.close()
    replayed = load_run(path)
    result = ReplayResult(original=run_dir, replay=path)
    if problems:
        result.notes += problems
    result.diffs = diff_results(original.results, replayed.results, replay_rules(manifest))
    old = {(r.benchmark, r.id): r.output for r in RunDir(run_dir).records() if r.is_generation}
    new = {(r.benchmark, r.id): r.output for r in run.records() if r.is_generation}
    shared = [k for k in old if k in new]
    result.generations_compared = len(shared)
    result.generations_differing = sum(1 for k in shared if old[k] != new[k])
    return result
