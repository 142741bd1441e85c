"""From merged counts to the ``audit.json`` document (schema ``safetylens.audit/1``).

Proportions carry a 95% Wilson interval and their n when they are estimated from a sample; with
``--sample 1.0`` (and, for toxicity, a toxicity sample of 1.0) they are exact counts of the corpus,
reported with ``method: "exact"`` and an interval equal to the value. The mean document toxicity
has a normal (CLT) interval from exact integer sums. An estimate with n = 0 is ``null``.
"""

from __future__ import annotations

import math
from typing import Any

from safetylens.audit import pii
from safetylens.audit.analyse import FIXED_POINT, Partial
from safetylens.audit.lexical import AXIS_LABELS, PRONOUN_LABELS, PRONOUN_ROWS
from safetylens.audit.result import SCHEMA
from safetylens.audit.runner import AuditOutcome
from safetylens.reference import audit as paper
from safetylens.spec import OpenChoice, hardware_info, software_info, utc_now
from safetylens.stats.ci import Estimate, proportion
from safetylens.util import sha256_json


def _prop(k: int, n: int, exact: bool) -> dict[str, Any] | None:
    if n <= 0:
        return None
    if exact:
        v = 100.0 * k / n
        return Estimate(value=v, ci_low=v, ci_high=v, n=n, method="exact", unit="%").model_dump(mode="json")
    return proportion(k, n).model_dump(mode="json")


def _mean_ci(total: int, total_sq: int, n: int, exact: bool) -> dict[str, Any] | None:
    if n <= 0:
        return None
    mean = total / FIXED_POINT / n
    if exact or n < 2:
        return Estimate(value=mean, ci_low=mean, ci_high=mean, n=n, method="exact" if exact else "n<2").model_dump(
            mode="json"
        )
    var = max(0.0, (total_sq / FIXED_POINT - n * mean * mean) / (n - 1))
    half = 1.959963984540054 * math.sqrt(var / n)
    est = Estimate(value=mean, ci_low=max(0.0, mean - half), ci_high=min(1.0, mean + half), n=n, method="normal (CLT)")
    return est.model_dump(mode="json")


def open_choices(outcome: AuditOutcome) -> list[dict[str, Any]]:
    """The choices the paper leaves open, with the values this audit used."""
    s = outcome.job.settings
    lex = outcome.job.lexicon
    choices = [
        OpenChoice(
            name="toxicity_classifier",
            value=(outcome.classifier_record or {}).get("id"),
            default="toxigen-hatebert",
            reference="protocol.md §4, §7.9",
            description="document toxicity classifier (the paper: a HateBERT fine-tuned on ToxiGen)",
        ),
        OpenChoice(
            name="toxicity_english_only",
            value=s.toxicity_english_only,
            default=True,
            reference="protocol.md §4",
            description="score only documents identified as English (the paper scored 'the English portion')",
        ),
        OpenChoice(
            name="toxicity_lines",
            value="non-empty lines, stripped",
            default="non-empty lines, stripped",
            reference="protocol.md §4",
            description="what a 'line' is: the paper averages line scores without defining lines further",
        ),
        OpenChoice(
            name="holistic_bias_version",
            value=(lex.source.get("version") if lex else None),
            default="v1.1",
            reference="protocol.md §4",
            description="HolisticBias descriptor file version (the paper does not say)",
        ),
        OpenChoice(
            name="identity_dedup_rule",
            value="last axis in file order",
            default="last axis in file order",
            reference="protocol.md §4",
            description="which axis keeps a term listed under several (reproduces Table 9b's placement of "
            "lgbt/lgbtq/queer under Sexual Orientation)",
        ),
        OpenChoice(
            name="identity_matching",
            value="whole words, case-insensitive, each term independently",
            default="whole words, case-insensitive, each term independently",
            reference="protocol.md §4",
            description="how a descriptor matches a document ('Native American' also counts 'american')",
        ),
        OpenChoice(
            name="language_unit",
            value="document (newlines as spaces)",
            default="document (newlines as spaces)",
            reference="protocol.md §4",
            description="what fastText classifies (the paper gives only the model and the 0.5 threshold)",
        ),
    ]
    return [c.model_dump(mode="json") for c in choices]


def _pii(p: Partial, exact: bool, types: tuple[str, ...]) -> dict[str, Any]:
    n = p.documents_sampled
    kinds: dict[str, dict[str, int]] = {}
    for key, count in sorted(p.pii_kind_docs.items()):
        typ, kind = key.split(":", 1)
        kinds.setdefault(typ, {})[kind] = count
    return {
        "n": n,
        "exact": exact,
        "any": _prop(p.pii_any_docs, n, exact),
        "types": {
            t: {
                "placeholder": pii.PLACEHOLDERS[t],
                "documents": _prop(p.pii_docs.get(t, 0), n, exact),
                "documents_count": p.pii_docs.get(t, 0),
                "spans": p.pii_spans.get(t, 0),
            }
            for t in types
        },
        "kinds": kinds,
    }


def _identity(p: Partial, outcome: AuditOutcome, exact: bool) -> dict[str, Any] | None:
    lex = outcome.job.lexicon
    if lex is None:
        return None
    n = p.documents_sampled
    terms_by_axis: dict[str, list[tuple[str, int]]] = {a: [] for a in lex.axes}
    for key, count in p.identity_term_docs.items():
        axis, term = key.split("\t", 1)
        if axis in terms_by_axis:
            terms_by_axis[axis].append((term, count))
    axes = []
    for axis in lex.axes:
        mentions = p.identity_axis_docs.get(axis, 0)
        ranked = sorted(terms_by_axis[axis], key=lambda tc: (-tc[1], tc[0]))
        axes.append(
            {
                "axis": axis,
                "label": AXIS_LABELS.get(axis, axis.replace("_", " ").title()),
                "n_terms": len(lex.terms[axis]),
                "documents": _prop(mentions, n, exact),
                "documents_count": mentions,
                "terms": [{"term": t, "documents": c, "share": _prop(c, mentions, exact)} for t, c in ranked],
            }
        )
    return {
        "n": n,
        "exact": exact,
        "lexicon": {
            **lex.source,
            "axes": list(lex.axes),
            "dropped": list(lex.dropped),
            "moved": {t: {"kept_in": k, "removed_from": list(o)} for t, (k, o) in sorted(lex.moved.items())},
            "terms": {a: list(ts) for a, ts in lex.terms.items()},
        },
        "axes": axes,
    }


def _toxicity(p: Partial, outcome: AuditOutcome) -> dict[str, Any] | None:
    s = outcome.job.settings
    if "toxicity" not in s.analyses:
        return None
    frac = min(s.sample, s.toxicity_sample)
    exact = frac >= 1.0
    bins = s.toxicity_bins
    counts = (p.tox_hist + [0] * bins)[:bins]
    return {
        "classifier": outcome.classifier_record,
        "rule": "mean of the classifier's line probabilities per document (P §4.1)",
        "sample": frac,
        "exact": exact,
        "threshold": s.toxicity_threshold,
        "english_only": s.toxicity_english_only,
        "documents_in_sample": p.tox_sampled,
        "documents_scored": p.tox_docs,
        "lines_scored": p.tox_lines,
        "skipped_other_language": p.tox_other_language,
        "skipped_no_lines": p.tox_no_lines,
        "mean": _mean_ci(p.tox_sum, p.tox_sumsq, p.tox_docs, exact),
        "at_or_above_threshold": _prop(p.tox_at_or_above, p.tox_docs, exact),
        "at_or_above_threshold_count": p.tox_at_or_above,
        "histogram": {"edges": [round(i / bins, 10) for i in range(bins + 1)], "counts": counts},
    }


def _language(p: Partial, outcome: AuditOutcome, exact: bool) -> dict[str, Any] | None:
    if "language" not in outcome.job.settings.analyses:
        return None
    n = p.documents_sampled
    ranked = sorted(p.language_docs.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "identifier": outcome.language_identity,
        "threshold": outcome.job.settings.language_threshold,
        "n": n,
        "exact": exact,
        "languages": [{"code": code, "documents": c, "share": _prop(c, n, exact)} for code, c in ranked],
    }


def _pronouns(p: Partial, exact: bool) -> dict[str, Any]:
    n = p.documents_sampled
    return {
        "n": n,
        "exact": exact,
        "rows": {
            r: {"label": PRONOUN_LABELS[r], "documents": _prop(p.pronoun_docs.get(r, 0), n, exact)}
            for r in PRONOUN_ROWS
        },
    }


def build_record(outcome: AuditOutcome) -> dict[str, Any]:
    """The ``audit.json`` document (:meth:`safetylens.audit.result.AuditResult.from_record` types it).

    ``digest`` is the sha256 of every key except ``created``, ``run``, ``software``, ``hardware``
    and ``inputs.files[].path`` (the numbers and how they were defined), so two audits of the
    same data with the same settings have the same digest on any engine or machine.
    """
    p = outcome.partial
    s = outcome.job.settings
    exact = s.sample >= 1.0
    wanted = s.analyses
    numbers: dict[str, Any] = {
        "schema": SCHEMA,
        "settings": s.public(),
        "open_choices": open_choices(outcome),
        "inputs": {
            "files": [{"rel": src.rel, "format": src.format, "bytes": src.size} for src in outcome.sources],
            "skipped_files": outcome.skipped_files,
        },
        "corpus": {
            "documents": p.documents_read,
            "invalid_documents": p.documents_invalid,
            "documents_sampled": p.documents_sampled,
            "sample": s.sample,
            "exact": exact,
            "characters_sampled": p.characters_sampled,
            "empty_documents_sampled": p.empty_sampled,
            "documents_with_replaced_bytes": p.documents_replaced_bytes,
        },
        "pii": _pii(p, exact, s.pii_types) if "pii" in wanted else None,
        "redaction": (
            {
                "documents": p.redact_docs + p.documents_invalid,
                "documents_changed": p.redact_changed,
                "replacements": {t: p.redact_spans.get(t, 0) for t in s.pii_types},
                "documents_by_type": {t: p.redact_type_docs.get(t, 0) for t in s.pii_types},
                "placeholders": {t: pii.PLACEHOLDERS[t] for t in s.pii_types},
                "files": outcome.redacted_files,
                "invalid_records_redacted_as_text": p.documents_invalid,
            }
            if s.redact_dir is not None
            else None
        ),
        "pronouns": _pronouns(p, exact) if "pronouns" in wanted else None,
        "identity": _identity(p, outcome, exact) if "identity" in wanted else None,
        "toxicity": _toxicity(p, outcome),
        "language": _language(p, outcome, exact),
        "reference": paper.as_dict(),
    }
    digest = sha256_json(numbers)
    run = outcome.run
    return {
        **numbers,
        "digest": digest,
        "created": utc_now(),
        "inputs": {
            **numbers["inputs"],
            "files": [
                {"path": src.path, "rel": src.rel, "format": src.format, "bytes": src.size} for src in outcome.sources
            ],
        },
        "redaction": (
            {**numbers["redaction"], "directory": str(s.redact_dir)} if numbers["redaction"] is not None else None
        ),
        "run": {
            "engine": run.engine,
            "workers": run.workers,
            "shards": run.shards,
            "seconds": round(run.seconds, 3),
            "documents_per_second": round(run.documents_per_second, 1),
            "bytes_read": run.bytes_read,
            "dask_scheduler": run.dask_scheduler,
            "worker_cpu_seconds": round(run.cpu_seconds, 3),
        },
        "software": software_info(),
        "hardware": hardware_info(),
    }
