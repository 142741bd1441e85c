"""Paired comparison of two runs (``safetylens compare RUN_A RUN_B``).

For every benchmark both runs have, every metric the benchmark reports per sample
(:meth:`~safetylens.benchmarks.base.Benchmark.sample_outcomes`), overall and per group: the
paired difference ``B - A`` on the shared samples with a paired-bootstrap CI and a p-value
(McNemar for binary outcomes, paired bootstrap otherwise), Holm-corrected across the groups of one
breakdown.

Comparing is only meaningful when both runs asked the same questions the same way. The runs are
refused, with every difference listed, when their samples or protocol differ (benchmark version,
options, decoding, prompt format and templates, data files, scorers); ``force=True`` compares
anyway, on the shared samples. The models may of course differ: that is the point.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetylens.benchmarks.base import BenchmarkContext, SampleOutcome, get
from safetylens.datasets.registry import DataStore
from safetylens.errors import ConfigError
from safetylens.models.base import Decoding
from safetylens.records import GenerationRecord, RecordLike, SampleScore, as_records
from safetylens.runs import RunDir
from safetylens.spec import Manifest, ResolvedBenchmark
from safetylens.stats.paired import BinaryTest, PairedDifference, holm, paired_difference

OVERALL = "all"


@dataclass(frozen=True)
class ComparisonRow:
    """One metric on one group: the paired difference B - A."""

    benchmark: str
    metric: str
    breakdown: str
    group: str
    result: PairedDifference

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "benchmark": self.benchmark,
            "metric": self.metric,
            "breakdown": self.breakdown,
            "group": self.group,
            **self.result.model_dump(mode="json"),
        }


@dataclass
class Comparison:
    """The result of comparing two runs."""

    run_a: str
    run_b: str
    rows: list[ComparisonRow] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    forced: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "direction": "B - A",
            "forced": self.forced,
            "differences": self.differences,
            "notes": self.notes,
            "rows": [r.to_json() for r in self.rows],
        }


def _short(value: Any, n: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


def _dict_diff(prefix: str, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append(f"{prefix}.{k}: only in B ({_short(b[k])})")
        elif k not in b:
            out.append(f"{prefix}.{k}: only in A ({_short(a[k])})")
        elif a[k] != b[k]:
            out.append(f"{prefix}.{k}: {_short(a[k])} in A, {_short(b[k])} in B")
    return out


def protocol_differences(a: Manifest, b: Manifest) -> list[str]:
    """Every difference between two runs' protocols, for the benchmarks both have."""
    out: list[str] = []
    bb = {x.name: x for x in b.benchmarks}
    for x in a.benchmarks:
        y = bb.get(x.name)
        if y is None:
            continue
        n = x.name
        if x.version != y.version:
            out.append(f"{n}: benchmark version {x.version} in A, {y.version} in B")
        out += _dict_diff(f"{n}.options", x.options, y.options)
        out += _dict_diff(f"{n}.decoding", x.decoding, y.decoding)
        if x.chat != y.chat:
            out.append(f"{n}: prompt format {'chat' if x.chat else 'plain'} in A, {'chat' if y.chat else 'plain'} in B")
        for name in sorted(set(x.prompt_templates) | set(y.prompt_templates)):
            if x.prompt_templates.get(name) != y.prompt_templates.get(name):
                out.append(f"{n}: prompt template {name!r} differs")
        da = {d.id: d for d in a.datasets if d.id in x.datasets}
        db = {d.id: d for d in b.datasets if d.id in y.datasets}
        for ds in sorted(set(da) | set(db)):
            if ds not in da or ds not in db:
                out.append(f"{n}: data set {ds} used only in {'A' if ds in da else 'B'}")
            elif da[ds].files != db[ds].files:
                changed = sorted(
                    p for p in set(da[ds].files) | set(db[ds].files) if da[ds].files.get(p) != db[ds].files.get(p)
                )
                out.append(f"{n}: data set {ds} files differ ({', '.join(changed)})")
    sa = {s.id: s for s in a.scorers}
    sb = {s.id: s for s in b.scorers}
    for sid in sorted(set(sa) | set(sb)):
        if sid not in sa or sid not in sb:
            out.append(f"scorer {sid} used only in {'A' if sid in sa else 'B'}")
        elif (sa[sid].version, sa[sid].weights_sha256) != (sb[sid].version, sb[sid].weights_sha256):
            out.append(
                f"scorer {sid}: version {sa[sid].version} / weights {(sa[sid].weights_sha256 or '-')[:12]} in A, "
                f"{sb[sid].version} / {(sb[sid].weights_sha256 or '-')[:12]} in B"
            )
    return out


def _context(run: RunDir, manifest: Manifest, resolved: ResolvedBenchmark) -> BenchmarkContext:
    bench = get(resolved.name)
    return BenchmarkContext(
        options=bench.parse_options(resolved.options),
        decoding=Decoding.model_validate({**resolved.decoding, "stop": tuple(resolved.decoding.get("stop", ()))}),
        chat=resolved.chat,
        limit=manifest.spec.limit,
        data=DataStore(),
        run_dir=run.path,
        seed=manifest.spec.decoding.seed,
    )


def _records(run: RunDir, name: str) -> tuple[list[GenerationRecord], list[SampleScore]]:
    records = [r for r in run.records() if r.benchmark == name]
    scores = [s for s in run.scores() if s.benchmark == name]
    return records, scores


def _prompt_key(rec: GenerationRecord) -> str:
    return json.dumps([rec.prompt, rec.contexts, rec.meta], sort_keys=True, ensure_ascii=False)


def sample_differences(name: str, ra: Sequence[RecordLike], rb: Sequence[RecordLike]) -> list[str]:
    """How the samples of one benchmark differ between two runs (ids, then prompts of shared ids)."""
    a = {r.id: r for r in as_records(ra, name)}
    b = {r.id: r for r in as_records(rb, name)}
    out = []
    only_a = sorted(i for i in a if i not in b)
    only_b = sorted(i for i in b if i not in a)
    if only_a:
        out.append(f"{name}: {len(only_a)} sample(s) only in A (first: {only_a[0]})")
    if only_b:
        out.append(f"{name}: {len(only_b)} sample(s) only in B (first: {only_b[0]})")
    changed = sorted(i for i in a if i in b and _prompt_key(a[i]) != _prompt_key(b[i]))
    if changed:
        out.append(
            f"{name}: {len(changed)} shared sample id(s) have different prompts or metadata (first: {changed[0]})"
        )
    return out


def compare_runs(
    path_a: Path,
    path_b: Path,
    *,
    force: bool = False,
    binary_test: BinaryTest = "mcnemar-midp",
    n_resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare run B with run A on their shared samples.

    Args:
        path_a: Run directory A (the baseline).
        path_b: Run directory B.
        force: Compare even when samples or protocol differ (on the shared samples).
        binary_test: McNemar variant for binary outcomes.
        n_resamples: Bootstrap resamples per comparison.
        level: Confidence level.
        seed: Bootstrap seed (each row uses ``seed`` + its index, so results are reproducible).

    Raises:
        ConfigError: No shared benchmark, a run is unfinished, or (without ``force``) the runs differ.
    """
    run_a, run_b = RunDir.open(path_a), RunDir.open(path_b)
    for r in (run_a, run_b):
        if not r.results_path.exists():
            raise ConfigError(f"{r.path} is not finished (no results.json)", hint=f"safetylens resume {r.path}")
    ma, mb = run_a.manifest(), run_b.manifest()
    comp = Comparison(run_a=ma.run_id, run_b=mb.run_id, forced=force)
    if run_a.path.resolve() == run_b.path.resolve():
        comp.notes.append("A and B are the same run directory: every difference is zero by construction")
    names_b = {x.name for x in mb.benchmarks}
    shared = [x for x in ma.benchmarks if x.name in names_b]
    for x in ma.benchmarks:
        if x.name not in names_b:
            comp.notes.append(f"{x.name}: only in A, not compared")
    for name in sorted(names_b - {x.name for x in ma.benchmarks}):
        comp.notes.append(f"{name}: only in B, not compared")
    if not shared:
        raise ConfigError(
            "the runs have no benchmark in common",
            hint=f"A has {', '.join(x.name for x in ma.benchmarks)}; B has {', '.join(sorted(names_b))}",
        )
    diffs = protocol_differences(ma, mb)
    data: dict[str, tuple[list[SampleOutcome], list[SampleOutcome]]] = {}
    for x in shared:
        y = next(b for b in mb.benchmarks if b.name == x.name)
        ra, sa = _records(run_a, x.name)
        rb, sb = _records(run_b, x.name)
        diffs += sample_differences(x.name, ra, rb)
        bench = get(x.name)
        oa = bench.sample_outcomes(_context(run_a, ma, x), ra, sa)
        ob = bench.sample_outcomes(_context(run_b, mb, y), rb, sb)
        if oa is None or ob is None:
            comp.notes.append(f"{x.name}: the benchmark does not report per-sample outcomes; no paired comparison")
            continue
        data[x.name] = (oa, ob)
    comp.differences = diffs
    if diffs and not force:
        raise ConfigError(
            "the runs differ in samples or protocol, so a paired comparison would not be like for like:\n  "
            + "\n  ".join(diffs),
            hint="compare anyway on the shared samples with --force",
        )
    k = 0
    for name, (oa, ob) in data.items():
        a_by = {o.id: o for o in oa}
        b_by = {o.id: o for o in ob}
        ids = [i for i in a_by if i in b_by]
        metrics = list(dict.fromkeys(m for i in ids for m in a_by[i].values if m in b_by[i].values))
        breakdowns: dict[str, list[str]] = {}
        for i in ids:
            for g in a_by[i].groups:
                bname, _, gname = g.partition(":")
                lst = breakdowns.setdefault(bname, [])
                if gname not in lst:
                    lst.append(gname)
        for metric in metrics:
            usable = [i for i in ids if metric in a_by[i].values and metric in b_by[i].values]
            pairs_all = ([a_by[i].values[metric] for i in usable], [b_by[i].values[metric] for i in usable])
            res = paired_difference(
                *pairs_all, binary_test=binary_test, n_resamples=n_resamples, level=level, seed=seed + k
            )
            k += 1
            comp.rows.append(
                ComparisonRow(name, metric, OVERALL, OVERALL, res.model_copy(update={"p_holm": res.p_value}))
            )
            for bname, groups in breakdowns.items():
                family: list[ComparisonRow] = []
                for gname in groups:
                    tag = f"{bname}:{gname}"
                    sel = [i for i in usable if tag in a_by[i].groups]
                    res = paired_difference(
                        [a_by[i].values[metric] for i in sel],
                        [b_by[i].values[metric] for i in sel],
                        binary=pairs_all_binary(pairs_all),
                        binary_test=binary_test,
                        n_resamples=n_resamples,
                        level=level,
                        seed=seed + k,
                    )
                    k += 1
                    family.append(ComparisonRow(name, metric, bname, gname, res))
                adjusted = holm([r.result.p_value for r in family])
                comp.rows += [
                    ComparisonRow(
                        r.benchmark, r.metric, r.breakdown, r.group, r.result.model_copy(update={"p_holm": p})
                    )
                    for r, p in zip(family, adjusted, strict=True)
                ]
    return comp


def pairs_all_binary(pairs: tuple[list[float | bool], list[float | bool]]) -> bool:
    """Whether every value of both runs is 0/1 (so groups use McNemar like the overall row)."""
    return bool(pairs[0]) and all(float(v) in (0.0, 1.0) for v in (*pairs[0], *pairs[1]))
