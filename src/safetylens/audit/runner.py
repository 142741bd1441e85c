"""Run an audit: plan shards, run them in-process, on a local process pool or on Dask, merge, finish.

Memory stays constant in the size of the corpus: each worker streams one shard at a time, at most
``2 x workers`` shards are in flight, and only integer counts come back. Results do not depend on
the number of workers or on the engine (see :mod:`safetylens.audit.analyse`).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetylens import errors as _errors
from safetylens.audit.analyse import (
    _CONTEXTS,
    AuditJob,
    AuditSettings,
    ClassifierSource,
    Engine,
    Partial,
    ShardResult,
    _Context,
    process_shard,
    resolve_classifier,
    single_thread_torch,
)
from safetylens.audit.language import LanguageIdentifier
from safetylens.audit.lexical import PAPER_AXES, PAPER_DROPPED_TERMS, IdentityLexicon, load_lexicon
from safetylens.audit.readers import Shard, Source, collect_sources, plan_shards
from safetylens.errors import ConfigError, DataError, SafetylensError

HOLISTIC_BIAS_ID = "holistic-bias"


@dataclass
class RunInfo:
    """How an audit ran (not part of its numbers)."""

    engine: Engine
    workers: int
    seconds: float
    shards: int
    documents_per_second: float
    bytes_read: int
    dask_scheduler: str | None = None
    cpu_seconds: float = 0.0


@dataclass
class AuditOutcome:
    """Merged counts plus everything needed to describe them.

    Attributes:
        partial: The merged counts.
        job: The job (settings and analysers).
        sources: Input files.
        skipped_files: Files skipped inside input directories.
        classifier_record: The toxicity classifier's manifest record.
        language_identity: The language identifier's identity.
        run: How it ran.
        redacted_files: Files of the redacted copy (relative to the redaction directory).
    """

    partial: Partial
    job: AuditJob
    sources: list[Source]
    skipped_files: list[str]
    classifier_record: dict[str, Any] | None
    language_identity: dict[str, Any] | None
    run: RunInfo
    redacted_files: list[str] = field(default_factory=list)


def load_identity_lexicon(
    version: str = "v1.1", axes: tuple[str, ...] | None = None, drop: tuple[str, ...] = PAPER_DROPPED_TERMS
) -> IdentityLexicon:
    """The HolisticBias lexicon from the verified data store.

    Args:
        version: ``v1.0`` or ``v1.1`` (descriptor file version).
        axes: Axes (default: the paper's five; ``("all",)`` for every axis in the file).
        drop: Terms to drop.

    Raises:
        ConfigError: Unknown version.
        DataError: The data file is missing or fails its checksum.
    """
    from safetylens.datasets.registry import DataStore, get_dataset

    if version not in ("v1.0", "v1.1"):
        raise ConfigError(f"unknown HolisticBias version {version!r}", hint="use v1.0 or v1.1")
    name = f"holistic_bias/descriptors-{version}.json"
    store = DataStore()
    path = store.path(HOLISTIC_BIAS_ID, name)
    info = get_dataset(HOLISTIC_BIAS_ID)
    source = {
        "dataset": HOLISTIC_BIAS_ID,
        "file": name,
        "version": version,
        "sha256": info.file(name).sha256,
        "repo": info.repo,
        "commit": info.commit,
    }
    return load_lexicon(path, axes=axes if axes is not None else PAPER_AXES, drop=drop, source=source)


def _prepare_redact_dir(out: Path, sources: list[Source]) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"redaction output {out} exists and is not empty", hint="choose a new directory")
    resolved = out.resolve()
    for src in sources:
        if Path(src.path).resolve() == resolved:
            raise ConfigError(f"redaction output {out} is an input file")
    out.mkdir(parents=True, exist_ok=True)


def _raise(result: ShardResult) -> None:
    assert result.error is not None
    name, message, hint = result.error
    cls = getattr(_errors, name, SafetylensError)
    if not (isinstance(cls, type) and issubclass(cls, SafetylensError)):
        cls = SafetylensError
    raise cls(message, hint)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Worker start method: never plain fork (forking a process with torch/BLAS threads can deadlock).

    ``forkserver`` (POSIX) forks workers from a clean server process that has already imported
    the analysers, so each worker starts in milliseconds; elsewhere ``spawn``.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["safetylens.audit.analyse"])
        return ctx
    return multiprocessing.get_context("spawn")


def _iter_local(job: AuditJob, shards: list[Shard], workers: int, preloaded: Any) -> Iterator[ShardResult]:
    if workers <= 1:
        # In-process: one core. Reuse the classifier loaded for validation, on one torch thread
        # as in every worker, so the numbers match the parallel engines exactly.
        _CONTEXTS.clear()
        _CONTEXTS[job.token] = _Context(job, classifier=preloaded)
        previous = single_thread_torch() if preloaded is not None else None
        try:
            for shard in shards:
                yield process_shard(job, shard)
        finally:
            _CONTEXTS.clear()
            if previous is not None:
                import torch

                torch.set_num_threads(previous)
        return
    ctx = _pool_context()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: set[Future[ShardResult]] = set()
        queue = iter(shards)
        try:
            for shard in queue:
                pending.add(pool.submit(process_shard, job, shard))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def assemble_redaction(out: Path, shards: list[Shard]) -> list[str]:
    """Join the redacted parts of each file into ``out/<rel>`` and remove the parts.

    Returns:
        The files written (relative paths), text files included.
    """
    parts_dir = out / ".parts"
    written: list[str] = []
    by_file: dict[str, list[Shard]] = {}
    for shard in shards:
        if shard.format == "text":
            written.extend(s.rel for s in shard.sources)
            continue
        by_file.setdefault(shard.sources[0].rel, []).append(shard)
    for rel, group in by_file.items():
        group.sort(key=lambda s: s.part)
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        if group[0].format == "parquet":
            import pyarrow.parquet as pq

            writer = None
            for shard in group:
                pf = pq.ParquetFile(str(parts_dir / f"{shard.index:08d}.part"))
                if writer is None:
                    writer = pq.ParquetWriter(str(tmp), pf.schema_arrow)
                for i in range(pf.metadata.num_row_groups):
                    writer.write_table(pf.read_row_group(i))
            assert writer is not None
            writer.close()
        else:
            with open(tmp, "wb") as dst:
                for shard in group:
                    with open(parts_dir / f"{shard.index:08d}.part", "rb") as src:
                        shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, target)
        written.append(rel)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return sorted(written)


def run_audit(
    inputs: list[Path],
    settings: AuditSettings,
    *,
    classifier: ClassifierSource | None = None,
    workers: int | None = None,
    engine: Engine = "local",
    dask_scheduler: str | None = None,
    dask_client: Any = None,
    lexicon: IdentityLexicon | None = None,
    holistic_version: str = "v1.1",
    identity_axes: tuple[str, ...] | None = None,
    drop_terms: tuple[str, ...] = PAPER_DROPPED_TERMS,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[list[Source], list[Shard]], None] | None = None,
) -> AuditOutcome:
    """Audit a corpus.

    Args:
        inputs: Files and directories (see :mod:`safetylens.audit.readers`).
        settings: What to compute.
        classifier: Toxicity classifier source (needed when ``toxicity`` is among the analyses).
        workers: Processes (local engine) or Dask workers of a local cluster; default: all cores.
        engine: ``local`` (streaming, process pool) or ``dask`` (see :mod:`safetylens.audit.distributed`).
        dask_scheduler: Address of a running Dask scheduler (default: start a local cluster).
        dask_client: An existing ``distributed.Client`` to use.
        lexicon: A prebuilt identity lexicon (default: HolisticBias from the data store).
        holistic_version: Descriptor file version when the lexicon is loaded here.
        identity_axes: Axes (default: the paper's five; ``("all",)``: every axis).
        drop_terms: Identity terms dropped.
        progress: Called with input bytes done after each shard.
        on_plan: Called once with the sources and shards before work starts.

    Raises:
        SafetylensError: Bad input or options, missing data or models (raised before any work
            where possible).
    """
    settings.validate()
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    sources, skipped = collect_sources(inputs)
    shards = plan_shards(sources, settings.shard_bytes)
    if on_plan is not None:
        on_plan(sources, shards)
    if settings.redact_dir is not None:
        _prepare_redact_dir(Path(settings.redact_dir), sources)
    if "identity" in settings.analyses and lexicon is None:
        lexicon = load_identity_lexicon(holistic_version, identity_axes, drop_terms)
    language = LanguageIdentifier(settings.language_threshold) if "language" in settings.analyses else None
    language_identity = None
    if language is not None:
        language.predict("warm up")  # fail early when the model cannot load
        language_identity = language.identity
    preloaded = None
    classifier_record = None
    if "toxicity" in settings.analyses:
        if classifier is None:
            raise ConfigError("the toxicity analysis needs a classifier", hint="pass --classifier NAME (or probe:PATH)")
        preloaded = resolve_classifier(classifier)
        classifier_record = preloaded.record.model_dump(mode="json")
    job = AuditJob(
        settings=settings,
        lexicon=lexicon if "identity" in settings.analyses else None,
        language=language,
        classifier=classifier if "toxicity" in settings.analyses else None,
    )
    t0 = time.perf_counter()
    total = Partial(tox_hist=[0] * settings.toxicity_bins)
    results: Iterator[ShardResult]
    scheduler_address = None
    if engine == "dask":
        from safetylens.audit.distributed import run_dask

        results, scheduler_address = run_dask(
            job, shards, client=dask_client, address=dask_scheduler, n_workers=workers
        )
    elif engine == "local":
        results = _iter_local(job, shards, workers, preloaded)
    else:
        raise ConfigError(f"unknown engine {engine!r}", hint="use local or dask")
    errors: list[ShardResult] = []
    done_bytes = 0
    cpu_seconds = 0.0
    try:
        for res in results:
            if res.error is not None:
                errors.append(res)
                continue
            total.merge(res.partial)
            cpu_seconds += res.cpu_seconds
            rec = res.classifier_record
            if (
                rec is not None
                and classifier_record is not None
                and rec.get("weights_sha256") != classifier_record.get("weights_sha256")
            ):
                raise DataError("workers loaded a different toxicity classifier than the coordinator")
            done_bytes += res.nbytes
            if progress is not None:
                progress(res.nbytes)
    except BaseException:
        if settings.redact_dir is not None:
            shutil.rmtree(Path(settings.redact_dir) / ".parts", ignore_errors=True)
        raise
    if errors:
        if settings.redact_dir is not None:
            shutil.rmtree(Path(settings.redact_dir) / ".parts", ignore_errors=True)
        _raise(min(errors, key=lambda r: r.index))
    redacted: list[str] = []
    if settings.redact_dir is not None:
        redacted = assemble_redaction(Path(settings.redact_dir), shards)
    seconds = time.perf_counter() - t0
    run = RunInfo(
        engine=engine,
        workers=workers,
        seconds=seconds,
        shards=len(shards),
        documents_per_second=total.documents_read / seconds if seconds > 0 else float("nan"),
        bytes_read=done_bytes,
        dask_scheduler=scheduler_address,
        cpu_seconds=cpu_seconds,
    )
    return AuditOutcome(
        partial=total,
        job=job,
        sources=sources,
        skipped_files=skipped,
        classifier_record=classifier_record,
        language_identity=language_identity,
        run=run,
        redacted_files=redacted,
    )
