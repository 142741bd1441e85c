"""Pretraining-corpus audit: personal information, pronouns, identity terms, toxicity and languages.

The Llama 2 paper describes its pretraining data with pronoun frequencies (Table 9a), HolisticBias
identity terms by axis (Table 9b), document toxicity from a line-averaged classifier on a 10%
sample (Fig 13) and language shares (Table 10) (protocol.md §4). This package produces the same
analysis for any corpus, plus personal-information rates and a redacted copy, streaming with
constant memory on every core, or on a Dask cluster with identical numbers.

Use from Python::

    from safetylens.audit import AuditResult, AuditSettings, run_audit, build_record, write_outputs

    outcome = run_audit([Path("corpus/")], AuditSettings(sample=0.1))
    record = build_record(outcome)            # the audit.json document (a dict)
    result = AuditResult.from_record(record)  # the same, typed: result.pronouns.rows["she"].documents
    write_outputs(result, Path("audits/x"))   # audit.json, tables, SVG plots, index.html

or ``safetylens audit CORPUS... [--sample 0.1] [--seed S] [--classifier NAME] [--redact OUT]``.

Modules: :mod:`~safetylens.audit.readers` (JSONL/Parquet/text, shards), :mod:`~.pii` (detectors,
redaction), :mod:`~.lexical` (pronouns, HolisticBias), :mod:`~.language` (fastText lid.176),
:mod:`~.analyse` (per-document analysers, sampling, the shard worker), :mod:`~.runner` (engines),
:mod:`~.distributed` (Dask), :mod:`~.aggregate` (``audit.json``), :mod:`~.result` (its typed models),
:mod:`~.outputs` (tables, plots, HTML).

``audit.json`` (schema ``safetylens.audit/1``)
----------------------------------------------

:class:`~safetylens.audit.result.AuditResult` is this schema as frozen pydantic models, with
``schema_version``; every reader goes through it. Stable keys; new keys may be added within a
schema version, never renamed or removed. An
*estimate* is ``{"value", "ci_low", "ci_high", "n", "level", "method", "unit", "extra"}`` as
:class:`safetylens.stats.ci.Estimate` serialises it, in percent for proportions; ``method`` is
``"wilson"`` (95% Wilson interval from a sample), ``"exact"`` (all documents: interval = value) or
``"normal (CLT)"`` (mean toxicity); an estimate over zero documents is ``null``. A section whose
analysis did not run is ``null``.

- ``schema``, ``digest`` (sha256 of everything except ``created``, ``run``, ``software``,
  ``hardware``, input paths and the redaction directory: equal digests = equal numbers and
  definitions), ``created``.
- ``settings``: ``sample``, ``seed``, ``toxicity_sample``, ``analyses``, ``pii_types``,
  ``text_field``, ``id_field``, ``on_error``, ``language_threshold``, ``toxicity_threshold``,
  ``toxicity_english_only``, ``toxicity_bins``, ``toxicity_batch_docs``, ``shard_bytes``, ``redact``.
- ``open_choices``: list of ``{name, value, default, reference, description}``: the choices the
  paper leaves open and the values used.
- ``inputs``: ``files`` (``path``, ``rel``, ``format``, ``bytes``), ``skipped_files``.
- ``corpus``: ``documents``, ``invalid_documents``, ``documents_sampled``, ``sample``, ``exact``,
  ``characters_sampled``, ``empty_documents_sampled``, ``documents_with_replaced_bytes``.
- ``pii``: ``n``, ``exact``, ``any`` (estimate), ``types``: ``{type: {placeholder, documents
  (estimate), documents_count, spans}}``, ``kinds``: ``{type: {kind: documents}}``.
- ``redaction`` (full corpus, exact): ``documents``, ``documents_changed``, ``replacements`` and
  ``documents_by_type`` (``{type: count}``), ``placeholders``, ``files``, ``directory``,
  ``invalid_records_redacted_as_text``.
- ``pronouns``: ``n``, ``exact``, ``rows``: ``{she|he|unspecified|first|second|third|gendered|any:
  {label, documents (estimate)}}``.
- ``identity``: ``n``, ``exact``, ``lexicon`` (data set, file, version, sha256, repo, commit,
  ``axes``, ``dropped``, ``moved``, ``terms``), ``axes``: list (report order) of ``{axis, label,
  n_terms, documents (estimate over all documents), documents_count, terms: [{term, documents,
  share (estimate over the documents mentioning the axis)}, ...] (by count, descending)}``.
- ``toxicity``: ``classifier`` (the scorer's manifest record), ``rule``, ``sample``, ``exact``,
  ``threshold``, ``english_only``, ``documents_in_sample``, ``documents_scored``, ``lines_scored``,
  ``skipped_other_language``, ``skipped_no_lines``, ``mean`` (estimate, 0-1),
  ``at_or_above_threshold`` (estimate, %), ``at_or_above_threshold_count``, ``histogram``
  (``edges``, ``counts``).
- ``language``: ``identifier`` (model file, package, sha256, threshold), ``threshold``, ``n``,
  ``exact``, ``languages``: ``[{code, documents, share (estimate)}]`` by count (``unknown`` =
  below the threshold or empty).
- ``reference``: the paper's numbers (:mod:`safetylens.reference.audit`).
- ``run``: ``engine``, ``workers``, ``shards``, ``seconds``, ``documents_per_second``,
  ``bytes_read``, ``dask_scheduler``, ``worker_cpu_seconds`` (CPU time spent on shards, summed over
  workers); ``software``; ``hardware``.

For the report: :func:`load_audit` reads and checks a saved record (an :class:`AuditResult`);
:func:`~safetylens.audit.outputs.html_section`, :func:`~safetylens.audit.outputs.tables_markdown` and
:func:`~safetylens.audit.outputs.plots_svg` render it (escaped, self-contained).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from safetylens.audit.aggregate import build_record
    from safetylens.audit.analyse import ANALYSES, AuditSettings, ProbeFile, analyse_document
    from safetylens.audit.outputs import (
        html_section,
        load_audit,
        plots_svg,
        render_html,
        tables_markdown,
        write_outputs,
    )
    from safetylens.audit.pii import PII_TYPES, detect, redact
    from safetylens.audit.readers import ReaderOptions
    from safetylens.audit.result import SCHEMA, AuditResult
    from safetylens.audit.runner import AuditOutcome, run_audit

# Exports load lazily: worker processes import only the analysers they run, not the report code.
_EXPORTS = {
    "SCHEMA": "result",
    "AuditResult": "result",
    "build_record": "aggregate",
    "ANALYSES": "analyse",
    "AuditSettings": "analyse",
    "ProbeFile": "analyse",
    "analyse_document": "analyse",
    "html_section": "outputs",
    "load_audit": "outputs",
    "plots_svg": "outputs",
    "render_html": "outputs",
    "tables_markdown": "outputs",
    "write_outputs": "outputs",
    "PII_TYPES": "pii",
    "detect": "pii",
    "redact": "pii",
    "ReaderOptions": "readers",
    "AuditOutcome": "runner",
    "run_audit": "runner",
}

__all__ = [
    "ANALYSES",
    "PII_TYPES",
    "SCHEMA",
    "AuditOutcome",
    "AuditResult",
    "AuditSettings",
    "ProbeFile",
    "ReaderOptions",
    "analyse_document",
    "build_record",
    "detect",
    "html_section",
    "load_audit",
    "plots_svg",
    "redact",
    "render_html",
    "run_audit",
    "tables_markdown",
    "write_outputs",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"safetylens.audit.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'safetylens.audit' has no attribute {name!r}")
