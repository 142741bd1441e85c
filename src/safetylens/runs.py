"""Run directories and the run pipeline: generate, then score, then aggregate.

A run lives in ``<output>/<UTC timestamp>-<spec hash[:8]>/``:

- ``manifest.json``: written before the first model call (:class:`~safetylens.spec.Manifest`);
- ``generations.jsonl``: one :class:`~safetylens.records.GenerationRecord` per finished sample,
  appended and fsynced as samples finish;
- ``scores.jsonl``: one :class:`~safetylens.records.SampleScore` per sample, the scoring pass over
  saved generations (re-runnable without regenerating);
- ``results.json``: :class:`~safetylens.records.RunResults`, the manifest followed by every
  benchmark's metrics with confidence intervals.

Killing a run at any moment and resuming it (``safetylens resume RUN_DIR``) gives the same
results as an uninterrupted run: samples already in ``generations.jsonl`` are kept, answers
committed to the request cache are reused, and batches are planned identically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from safetylens import paths
from safetylens.benchmarks.base import Benchmark, BenchmarkContext, Sample, get
from safetylens.cache import CachedModel, RequestCache
from safetylens.datasets.registry import DataStore
from safetylens.errors import ConfigError, SafetylensError
from safetylens.models.base import Decoding, ModelBackend, Prompt, prompt_to_json
from safetylens.progress import progress_bar
from safetylens.records import (
    BenchmarkResult,
    ContinuationLoglikelihood,
    GenerationRecord,
    RunResults,
    SampleScore,
    as_scores,
)
from safetylens.spec import (
    DatasetRecord,
    Manifest,
    ResolvedBenchmark,
    RunSpec,
    ScorerRecord,
    hardware_info,
    software_info,
    utc_now,
)
from safetylens.util import JsonlWriter, atomic_write_json, read_jsonl

MANIFEST = "manifest.json"
GENERATIONS = "generations.jsonl"
SCORES = "scores.jsonl"
RESULTS = "results.json"

Log = Callable[[str], None]


class RunDir:
    """A run directory and its files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def manifest_path(self) -> Path:
        """``manifest.json``."""
        return self.path / MANIFEST

    @property
    def generations_path(self) -> Path:
        """``generations.jsonl``."""
        return self.path / GENERATIONS

    @property
    def scores_path(self) -> Path:
        """``scores.jsonl``."""
        return self.path / SCORES

    @property
    def results_path(self) -> Path:
        """``results.json``."""
        return self.path / RESULTS

    @classmethod
    def create(cls, spec: RunSpec) -> RunDir:
        """Make a fresh directory ``<output>/<timestamp>-<hash8>`` (suffixed if it exists)."""
        base = Path(spec.output_dir)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        name = f"{stamp}-{spec.spec_hash()[:8]}"
        path = base / name
        n = 1
        while path.exists():
            n += 1
            path = base / f"{name}-{n}"
        path.mkdir(parents=True)
        return cls(path)

    @classmethod
    def create_at(cls, path: Path) -> RunDir:
        """Use ``path`` as a new run directory (created if needed; it must not hold a run yet).

        Raises:
            ConfigError: ``path`` already holds a run (resume it instead) or is not a directory.
        """
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{path} exists and is not a directory")
        if (path / MANIFEST).exists():
            raise ConfigError(
                f"{path} already holds a run; continue it with `safetylens resume {path}` or choose another directory"
            )
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        """Open an existing run directory.

        Raises:
            ConfigError: The directory or its manifest is missing.
        """
        if not path.is_dir():
            raise ConfigError(f"not a run directory: {path}")
        if not (path / MANIFEST).is_file():
            raise ConfigError(f"{path} has no {MANIFEST}: not a safetylens run directory")
        return cls(path)

    def manifest(self) -> Manifest:
        """Load and validate ``manifest.json``.

        Raises:
            ConfigError: The manifest is not valid.
        """
        import json

        try:
            return Manifest.model_validate(json.loads(self.manifest_path.read_text(encoding="utf-8")))
        except (ValueError, ValidationError) as exc:
            raise ConfigError(f"{self.manifest_path}: invalid manifest: {exc}") from exc

    def records(self, repair: bool = False) -> list[GenerationRecord]:
        """The saved generation records (``repair`` drops a line cut short by a crash).

        Raises:
            DataError: A line is not a valid record (or was written by a newer safetylens).
        """
        return [GenerationRecord.from_json(obj) for obj in read_jsonl(self.generations_path, repair=repair)]

    def scores(self) -> list[SampleScore]:
        """The saved score records.

        Raises:
            DataError: A line is not a valid score (or was written by a newer safetylens).
        """
        return [SampleScore.from_json(obj) for obj in read_jsonl(self.scores_path)]

    def results(self) -> RunResults | None:
        """``results.json`` if present.

        Raises:
            ConfigError: The file is not valid results (or was written by a newer safetylens).
        """
        import json

        if not self.results_path.exists():
            return None
        try:
            return RunResults.from_json(json.loads(self.results_path.read_text(encoding="utf-8")))
        except (ValueError, SafetylensError) as exc:
            raise ConfigError(f"{self.results_path}: invalid results file: {exc}") from exc


@dataclass
class Prepared:
    """A benchmark ready to run: instance, context, samples and their manifest entry."""

    bench: Benchmark
    ctx: BenchmarkContext
    samples: list[Sample]
    resolved: ResolvedBenchmark
    scorers: list[ScorerRecord] = field(default_factory=list)


def _effective_decoding(spec: RunSpec, bench: Benchmark, options: Any) -> Decoding:
    max_new = spec.decoding.max_new_tokens or getattr(options, "max_new_tokens", None) or bench.default_max_new_tokens
    temperature = getattr(options, "temperature", None)
    top_p = getattr(options, "top_p", None)
    return Decoding(
        temperature=spec.decoding.temperature if temperature is None else temperature,
        top_p=spec.decoding.top_p if top_p is None else top_p,
        max_new_tokens=max_new,
        seed=spec.decoding.seed,
        stop=(),
    )


def _is_chat(spec: RunSpec, backend: ModelBackend) -> bool:
    if spec.model.chat == "yes":
        return True
    if spec.model.chat == "no":
        return False
    return backend.is_chat


def prepare(
    spec: RunSpec,
    *,
    chat: bool,
    render: Callable[[Prompt], str | None],
    run_dir: Path,
    data: DataStore | None = None,
    log: Log | None = None,
) -> tuple[list[Prepared], list[DatasetRecord]]:
    """Resolve options, verify data, build samples and resolve scorers for every benchmark.

    Everything that can fail (unknown option, missing data, missing classifier) fails here, before
    any model call.
    """
    if not spec.benchmarks:
        raise ConfigError("no benchmark selected", hint="pass --benchmark NAME (see `safetylens benchmarks`)")
    data = data or DataStore()
    prepared: list[Prepared] = []
    datasets: dict[str, DatasetRecord] = {}
    for bspec in spec.benchmarks:
        bench = get(bspec.name)
        try:
            options = bench.parse_options(bspec.options)
        except ValidationError as exc:
            lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
            raise ConfigError(
                f"invalid options for benchmark {bench.name}:\n" + "\n".join(lines),
                hint=f"see `safetylens benchmarks {bench.name}` for its options",
            ) from exc
        ids = bench.datasets(options)
        for ds in ids:
            if ds not in datasets:
                datasets[ds] = data.verify(ds)
        decoding = _effective_decoding(spec, bench, options)
        ctx = BenchmarkContext(
            options=options,
            decoding=decoding,
            chat=chat,
            limit=spec.limit,
            data=data,
            run_dir=run_dir,
            seed=spec.decoding.seed,
            render=render,
            progress=lambda d, t: progress_bar(d, t),
        )
        samples = bench.build(ctx)
        ids_seen = [s.id for s in samples]
        if len(ids_seen) != len(set(ids_seen)):
            raise RuntimeError(f"benchmark {bench.name} produced duplicate sample ids")
        scorers = bench.scorers(ctx)
        resolved = ResolvedBenchmark(
            name=bench.name,
            version=bench.version,
            options=options.model_dump(mode="json"),
            decoding=decoding.model_dump(mode="json"),
            chat=chat,
            prompt_templates=bench.prompt_templates(options, chat),
            open_choices=options.open_choices(),
            datasets=tuple(ids),
            n_samples=len(samples),
        )
        prepared.append(Prepared(bench, ctx, samples, resolved, scorers))
        if log:
            log(f"{bench.name}: {len(samples)} samples")
    return prepared, list(datasets.values())


def build_manifest(
    run_id: str, spec: RunSpec, backend: ModelBackend, prepared: Sequence[Prepared], datasets: Sequence[DatasetRecord]
) -> Manifest:
    """Assemble the manifest of a run about to start."""
    scorers: dict[str, ScorerRecord] = {}
    for p in prepared:
        for s in p.scorers:
            scorers[s.id] = s
    return Manifest(
        run_id=run_id,
        created=utc_now(),
        spec=spec,
        model=backend.identity,
        benchmarks=tuple(p.resolved for p in prepared),
        datasets=tuple(datasets),
        scorers=tuple(scorers.values()),
        software=software_info(),
        hardware=hardware_info(),
    )


def _sample_fields(bench: str, sample: Sample) -> dict[str, Any]:
    fields: dict[str, Any] = {"benchmark": bench, "id": sample.id, "meta": sample.meta}
    if sample.generation is not None:
        fields["prompt"] = prompt_to_json(sample.generation.prompt)
        fields["decoding"] = sample.generation.decoding.model_dump(mode="json")
    return fields


def generate(prepared: Sequence[Prepared], model: CachedModel, run: RunDir, log: Log | None = None) -> None:
    """Run every sample through the model, appending finished samples to ``generations.jsonl``."""
    existing = run.records(repair=True)
    done = {(r.benchmark, r.id) for r in existing}
    with JsonlWriter(run.generations_path) as writer:
        for p in prepared:
            name = p.bench.name
            todo = [s for s in p.samples if (name, s.id) not in done]
            if not todo:
                continue
            if log:
                log(f"{name}: {len(p.samples) - len(todo)} samples already done, {len(todo)} to go")
            gen = [s for s in todo if s.generation is not None]
            if gen:
                reqs = [s.generation for s in gen if s.generation is not None]
                with progress_bar(f"{name} generate", len(reqs)) as advance:
                    for idx, res in model.generate(reqs, progress=advance):
                        rec = GenerationRecord(
                            **_sample_fields(name, gen[idx]),
                            output=res.text,
                            finish_reason=res.finish_reason,
                            rendered_prompt=res.rendered_prompt,
                            prompt_tokens=res.prompt_tokens,
                            completion_tokens=res.completion_tokens,
                        )
                        writer.write(rec.to_json())
            ll = [s for s in todo if s.loglikelihood]
            if ll:
                flat = [(si, j) for si, s in enumerate(ll) for j in range(len(s.loglikelihood))]
                reqs_ll = [ll[si].loglikelihood[j] for si, j in flat]
                partial: dict[int, dict[int, dict[str, Any]]] = {}
                with progress_bar(f"{name} loglikelihood", len(reqs_ll)) as advance:
                    for idx, lres in model.loglikelihood(reqs_ll, progress=advance):
                        si, j = flat[idx]
                        partial.setdefault(si, {})[j] = lres.to_json()
                        sample = ll[si]
                        if len(partial[si]) == len(sample.loglikelihood):
                            contexts = list(dict.fromkeys(r.context for r in sample.loglikelihood))
                            rec = GenerationRecord(
                                **_sample_fields(name, sample),
                                contexts=contexts,
                                loglikelihood=[
                                    ContinuationLoglikelihood(
                                        context_index=contexts.index(r.context),
                                        continuation=r.continuation,
                                        **partial[si][k],
                                    )
                                    for k, r in enumerate(sample.loglikelihood)
                                ],
                            )
                            writer.write(rec.to_json())
                            del partial[si]


def score_and_aggregate(
    prepared: Sequence[Prepared], run: RunDir, manifest: Manifest, timing: dict[str, Any] | None = None
) -> dict[str, BenchmarkResult]:
    """Score saved generations, aggregate, and write ``scores.jsonl`` and ``results.json``."""
    records = run.records()
    by_bench: dict[str, list[GenerationRecord]] = {}
    for r in records:
        by_bench.setdefault(r.benchmark, []).append(r)
    all_scores: list[SampleScore] = []
    results: dict[str, BenchmarkResult] = {}
    for p in prepared:
        name = p.bench.name
        order = {s.id: i for i, s in enumerate(p.samples)}
        recs = sorted((r for r in by_bench.get(name, []) if r.id in order), key=lambda r: order[r.id])
        if len(recs) != len(p.samples):
            raise SafetylensError(
                f"{name}: {len(p.samples) - len(recs)} samples have no generation yet",
                hint=f"finish the run first: safetylens resume {run.path}",
            )
        # A score the benchmark did not attribute is its own (third-party benchmarks may return dicts).
        scores = as_scores(p.bench.score(p.ctx, recs), name)
        all_scores.extend(scores)
        results[name] = p.bench.aggregate(p.ctx, recs, scores)
    import json

    from safetylens.util import atomic_write_text

    atomic_write_text(run.scores_path, "".join(json.dumps(s.to_json(), ensure_ascii=False) + "\n" for s in all_scores))
    atomic_write_json(run.results_path, RunResults(manifest=manifest, results=results, timing=timing or {}).to_json())
    return results


def open_cache(spec: RunSpec) -> RequestCache | None:
    """The request cache, or None with ``use_cache=False``."""
    return RequestCache(paths.request_cache_path()) if spec.use_cache else None


def execute(
    spec: RunSpec,
    backend: ModelBackend,
    run: RunDir,
    *,
    resume: bool = False,
    data: DataStore | None = None,
    log: Log | None = None,
) -> dict[str, BenchmarkResult]:
    """Prepare, write or check the manifest, generate, score and aggregate.

    Args:
        spec: What to run.
        backend: The model backend (already loaded).
        run: The run directory.
        resume: Continue a run whose manifest exists; refuses if the model, data or options differ.
        data: Data store (default: the standard roots).
        log: Line logger for status messages.
    """
    t0 = time.monotonic()
    prepared, datasets = prepare(
        spec, chat=_is_chat(spec, backend), render=backend.render, run_dir=run.path, data=data, log=log
    )
    manifest = build_manifest(run.path.name, spec, backend, prepared, datasets)
    if resume:
        old = run.manifest()
        _check_resumable(old, manifest)
        manifest = old.with_scorers(manifest.scorers)
    atomic_write_json(run.manifest_path, manifest.model_dump(mode="json"))
    model = CachedModel(backend, open_cache(spec))
    t1 = time.monotonic()
    generate(prepared, model, run, log)
    t2 = time.monotonic()
    timing = {
        "prepare_s": round(t1 - t0, 3),
        "generate_s": round(t2 - t1, 3),
        "cache": {
            "cached": model.counters.cached,
            "computed": model.counters.computed,
            "batches": model.counters.batches,
        },
    }
    results = score_and_aggregate(prepared, run, manifest, timing)
    timing["score_s"] = round(time.monotonic() - t2, 3)
    if log:
        log(f"cache: {model.counters.cached} answers reused, {model.counters.computed} computed")
    return results


# Prompt-template entries that only say where a file was read from; the file's sha256 (its own
# entry) is what identifies it, so a run moved to another checkout or machine still resumes.
_PROVENANCE_ONLY = frozenset({"category_mapping_files"})


def _resume_identity(bench: ResolvedBenchmark) -> dict[str, Any]:
    dumped = bench.model_dump(exclude={"open_choices"})
    dumped["prompt_templates"] = {k: v for k, v in dumped["prompt_templates"].items() if k not in _PROVENANCE_ONLY}
    return dumped


def _check_resumable(old: Manifest, new: Manifest) -> None:
    problems: list[str] = []
    if old.model.fingerprint() != new.model.fingerprint():
        problems.append(f"model identity changed: {old.model.fingerprint()} -> {new.model.fingerprint()}")
    if {d.id: d.files for d in old.datasets} != {d.id: d.files for d in new.datasets}:
        problems.append("data set files differ")
    if [_resume_identity(b) for b in old.benchmarks] != [_resume_identity(b) for b in new.benchmarks]:
        problems.append("benchmark options, decoding or samples differ")
    if problems:
        raise ConfigError("cannot resume: " + "; ".join(problems), hint="start a new run instead (safetylens run ...)")


def rescore(
    run: RunDir, overrides: dict[str, dict[str, Any]], *, data: DataStore | None = None, log: Log | None = None
) -> dict[str, BenchmarkResult]:
    """Score a finished run again, optionally with other scoring options, without regenerating.

    Only options declared with :func:`~safetylens.benchmarks.base.scoring_option` may change. The
    previous ``manifest.json`` and ``results.json`` are kept under ``history/``.

    Args:
        run: The run directory.
        overrides: Benchmark name -> scoring options to change.
        data: Data store.
        log: Line logger.

    Raises:
        ConfigError: An override names an unknown benchmark or a generation option.
    """
    old = run.manifest()
    names = {b.name for b in old.benchmarks}
    benches = []
    for b in old.spec.benchmarks:
        opts = dict(b.options)
        change = overrides.get(b.name, {})
        allowed = get(b.name).Options.scoring_fields()
        bad = sorted(set(change) - allowed)
        if bad:
            raise ConfigError(
                f"{b.name}: {', '.join(bad)} changes generations, not only scoring; start a new run instead",
                hint=f"scoring options of {b.name}: {', '.join(sorted(allowed)) or 'none'}",
            )
        opts.update(change)
        benches.append(b.model_copy(update={"options": opts}))
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"benchmark(s) not in this run: {', '.join(unknown)}", hint=f"run has: {', '.join(names)}")
    spec = old.spec.model_copy(update={"benchmarks": tuple(benches)})
    chat = {b.name: b.chat for b in old.benchmarks}
    prepared, _ = prepare(
        spec, chat=all(chat.values()) if chat else False, render=lambda p: None, run_dir=run.path, data=data, log=log
    )
    for p in prepared:
        before = next(b for b in old.benchmarks if b.name == p.bench.name)
        if p.resolved.n_samples != before.n_samples or p.resolved.decoding != before.decoding:
            raise ConfigError(f"{p.bench.name}: samples or decoding differ from the run's; cannot re-score")
    scorers: dict[str, ScorerRecord] = {s.id: s for p in prepared for s in p.scorers}
    manifest = old.model_copy(
        update={
            "spec": spec,
            "benchmarks": tuple(
                p.resolved.model_copy(update={"chat": before_chat})
                for p, before_chat in zip(prepared, [chat[p.bench.name] for p in prepared], strict=True)
            ),
            "scorers": tuple(scorers.values()),
        }
    )
    history = run.path / "history"
    history.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for path in (run.manifest_path, run.results_path):
        if path.exists():
            (history / f"{path.stem}-{stamp}{path.suffix}").write_bytes(path.read_bytes())
    atomic_write_json(run.manifest_path, manifest.model_dump(mode="json"))
    return score_and_aggregate(prepared, run, manifest, {"rescored": utc_now()})
