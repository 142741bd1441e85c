"""The methodology section, generated from the manifests.

It answers the reviewer's "to replicate the experiment we need to know": for every run, the data
sets with versions and file hashes, the prompt templates verbatim, the chat template (hash and
text) and system prompt, decoding, scorers and judges with their measured validation, seeds,
software, hardware, and every choice the paper leaves open with the value the run used.

The section is built as format-neutral blocks (:class:`KeyValues`, :class:`Grid`,
:class:`Verbatim`) that the HTML and Markdown writers render (and escape).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from safetylens.report.load import LoadedRun
from safetylens.spec import Manifest, ResolvedBenchmark
from safetylens.util import format_interval


@dataclass(frozen=True)
class KeyValues:
    """A two-column table of settings."""

    caption: str
    rows: list[tuple[str, str]]


@dataclass(frozen=True)
class Grid:
    """A table with a header."""

    caption: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Verbatim:
    """Text shown exactly as the model or scorer saw it (a prompt template, a chat template)."""

    caption: str
    text: str
    collapsed: bool = False


Block = KeyValues | Grid | Verbatim


@dataclass
class Section:
    """A titled list of blocks (one per run, or one per benchmark of a run)."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 3


RUN_WIDE_CHOICES = (
    ("protocol.md §7.1", "maximum generation length", "max_new_tokens"),
    ("protocol.md §7.2", "chat template for chat models (and system prompt)", "chat"),
    ("protocol.md §7.3", "temperature / top-p also for fine-tuned (chat) models", "temperature"),
)


def show(value: Any) -> str:
    """A setting as text: strings as they are, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _fmt_validation_leaf(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        v = value.get("value")
        lo, hi, n = value.get("low", value.get("ci_low")), value.get("high", value.get("ci_high")), value.get("n")
        text = f"{v:.3f}" if isinstance(v, float) else show(v)
        has_interval = any(k in value for k in ("low", "high", "ci_low", "ci_high"))
        if has_interval and isinstance(v, float):
            low = lo if isinstance(lo, float) else None
            high = hi if isinstance(hi, float) else None
            text += " " + format_interval(low, high, 3)
        if n is not None:
            text += f" (n={n})"
        return text
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value) + "]"
    return show(value)


def flatten_validation(validation: dict[str, Any], limit: int = 60) -> list[tuple[str, str]]:
    """Flatten a scorer's nested validation record into ``(path, value)`` lines."""
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if len(out) >= limit:
            return
        if isinstance(value, dict) and value and not ("value" in value and not isinstance(value["value"], dict)):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list) and len(value) > 8:
            out.append((prefix, f"[{len(value)} values]"))
        else:
            out.append((prefix, _fmt_validation_leaf(value)))

    walk("", validation)
    return out


def _system_prompts(bench: ResolvedBenchmark) -> list[tuple[str, str]]:
    return [
        (k, show(v)) for k, v in sorted(bench.options.items()) if "system" in k.lower() and v not in (None, "", False)
    ]


def run_wide_choices(manifest: Manifest) -> Grid:
    """The open choices every benchmark shares (protocol.md §7.1–7.3) with the values of this run."""
    rows: list[list[str]] = []
    for b in manifest.benchmarks:
        dec = b.decoding
        systems = _system_prompts(b)
        rows.append([b.name, "max_new_tokens", show(dec.get("max_new_tokens")), "protocol.md §7.1"])
        chat_value = "chat template" if b.chat else "plain text (no chat template)"
        if b.chat:
            chat_value += (
                f"; system prompt: {'; '.join(f'{k}={v}' for k, v in systems)}" if systems else "; no system prompt"
            )
        rows.append([b.name, "prompt format", chat_value, "protocol.md §7.2"])
        rows.append(
            [
                b.name,
                "temperature / top_p",
                f"{show(dec.get('temperature'))} / {show(dec.get('top_p'))}"
                + (" (chat model: paper states these only for pretrained models)" if b.chat else ""),
                "protocol.md §7.3",
            ]
        )
    return Grid("Run-wide protocol choices the paper leaves open", ["benchmark", "choice", "value used", "see"], rows)


def _model_block(manifest: Manifest) -> list[Block]:
    m = manifest.model
    rows = [
        ("model", m.model),
        ("backend", f"{m.backend} {m.backend_version}"),
        ("revision", m.revision or "–"),
        ("weights sha256", m.weights_sha256 or "–"),
        ("dtype", m.dtype or "–"),
        ("chat template source", m.chat_template_source or "none"),
        ("chat template sha256", m.chat_template_sha256 or "–"),
    ]
    rows += [(f"model setting {k}", v) for k, v in sorted(m.extra.items())]
    rows += [(f"model info {k}", show(v)) for k, v in sorted(m.info.items())]
    blocks: list[Block] = [KeyValues("Model", rows)]
    if m.chat_template:
        blocks.append(Verbatim("Chat template (verbatim)", m.chat_template, collapsed=True))
    return blocks


def _run_block(run: LoadedRun) -> KeyValues:
    man = run.manifest
    spec = man.spec
    rows = [
        ("run id", man.run_id),
        ("created", man.created),
        ("label", spec.label or "–"),
        ("directory", str(run.path)),
        ("sample limit", show(spec.limit) if spec.limit is not None else "none (all samples)"),
        ("seed", show(spec.decoding.seed)),
        (
            "run decoding defaults",
            f"temperature {spec.decoding.temperature}, top_p {spec.decoding.top_p}, "
            f"max_new_tokens {show(spec.decoding.max_new_tokens)}",
        ),
        ("request cache", "used" if spec.use_cache else "not used"),
        ("manifest schema", show(man.schema_version)),
    ]
    return KeyValues("Run", rows)


def _benchmark_section(bench: ResolvedBenchmark) -> Section:
    sec = Section(f"Benchmark {bench.name} (version {bench.version})", level=4)
    rows = [
        ("samples", show(bench.n_samples)),
        ("prompt format", "chat template" if bench.chat else "plain text"),
        ("data sets", ", ".join(bench.datasets) or "–"),
    ]
    rows += [(f"decoding {k}", show(v)) for k, v in bench.decoding.items()]
    rows += [(f"option {k}", show(v)) for k, v in sorted(bench.options.items())]
    sec.blocks.append(KeyValues("Settings", rows))
    for key, value in _system_prompts(bench):
        sec.blocks.append(Verbatim(f"System prompt ({key})", value))
    if bench.open_choices:
        sec.blocks.append(
            Grid(
                "Choices the paper leaves open, with the value this run used",
                ["choice", "value used", "default", "changed", "see", "what it controls"],
                [
                    [
                        c.name,
                        show(c.value),
                        show(c.default),
                        "yes" if c.value != c.default else "",
                        c.reference,
                        c.description,
                    ]
                    for c in bench.open_choices
                ],
            )
        )
    for name, template in bench.prompt_templates.items():
        sec.blocks.append(Verbatim(f"Prompt template {name} (verbatim)", template))
    return sec


def methodology(runs: Sequence[LoadedRun]) -> list[Section]:
    """The methodology sections of a report, one group per run."""
    out: list[Section] = []
    for run in runs:
        man = run.manifest
        sec = Section(f"{run.label} — run {man.run_id}", level=3)
        sec.blocks.append(_run_block(run))
        sec.blocks += _model_block(man)
        sec.blocks.append(run_wide_choices(man))
        if man.datasets:
            sec.blocks.append(
                Grid(
                    "Data sets (every file verified by sha256 before the run)",
                    ["data set", "version", "source", "license", "file", "sha256"],
                    [
                        [d.id, d.version, d.source, d.license, path, sha]
                        for d in man.datasets
                        for path, sha in sorted(d.files.items())
                    ],
                )
            )
        if man.scorers:
            sec.blocks.append(
                Grid(
                    "Scorers, classifiers and judges",
                    ["scorer", "version", "weights sha256", "description"],
                    [[s.id, s.version, s.weights_sha256 or "–", s.description] for s in man.scorers],
                )
            )
            for s in man.scorers:
                val = flatten_validation(s.validation)
                sec.blocks.append(
                    KeyValues(
                        f"Measured validation of {s.id}" + ("" if val else ": none recorded"),
                        val,
                    )
                )
        sec.blocks.append(KeyValues("Software", [(k, v) for k, v in sorted(man.software.items())]))
        sec.blocks.append(KeyValues("Hardware", [(k, show(v)) for k, v in sorted(man.hardware.items())]))
        out.append(sec)
        out += [_benchmark_section(b) for b in man.benchmarks]
    return out
