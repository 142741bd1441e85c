"""ToxiGen data: the revised SafeNLP sentences the Llama 2 paper used, and the original prompt files.

- :func:`load_safenlp` reads SafeNLP ``toxiGen.json`` (6,514 annotated sentences over 13 groups);
- :func:`prompt_files` / :func:`load_prompt_file` read the original ToxiGen list prompts (31 files,
  16 groups);
- :func:`canonical_group` maps every spelling of a group in the files to one key;
- :func:`cap_per_file` and :func:`stratified_by_group` draw seeded subsets.

The ``toxigen`` benchmark and the offline toxicity classifier's trainer both read the data here.
Malformed files raise :class:`~safetylens.errors.DataError` naming the file and entry.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from safetylens.datasets.sampling import stratified_sample
from safetylens.errors import ConfigError, DataError
from safetylens.reference.toxigen import GROUPS

PROMPT_FILE_GROUPS: dict[str, str] = {
    "asian": "asian",
    "bisexual": "bisexual",
    "black": "black",
    "chinese": "chinese",
    "immigrant": "immigrant",
    "jewish": "jewish",
    "latino": "latino",
    "lgbtq": "lgbtq",
    "mental_disability": "mental_disability",
    "mexican": "mexican",
    "middle_east": "middle_eastern",
    "muslim": "muslim",
    "native_american": "native_american",
    "physical_disability": "physical_disability",
    "trans": "trans",
    "women": "women",
}
"""Group part of a prompt file name -> canonical group key (16 groups)."""

ALL_GROUPS: tuple[str, ...] = (*GROUPS, "bisexual", "immigrant", "trans")
"""Canonical group keys: the paper's 13 in Table 45 order, then the prompt files' extra three."""

_ALIASES: dict[str, str] = {
    # SafeNLP spellings
    "mental dis": "mental_disability",
    "physical dis": "physical_disability",
    "middle-eastern": "middle_eastern",
    "native-american": "native_american",
    # prompt-file spellings
    "middle_east": "middle_eastern",
    # short forms
    "mental_dis": "mental_disability",
    "physical_dis": "physical_disability",
    "middle_east_": "middle_eastern",
}

LABELS = ("hate", "neutral")


def canonical_group(name: str) -> str:
    """Canonical key of a group name in any of the spellings used by the data files.

    Raises:
        ConfigError: An unknown group.
    """
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    key = key.replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in ALL_GROUPS:
        raise ConfigError(f"unknown ToxiGen group {name!r}", hint=f"groups: {', '.join(ALL_GROUPS)}")
    return key


@dataclass(frozen=True)
class ToxigenItem:
    """One prompt source: a SafeNLP sentence or an original ToxiGen list prompt.

    Attributes:
        id: Stable id (``safenlp-<json id>`` or ``<label>_<file group>-<line>``).
        text: The text the prompt is made from (list prompts: literal backslash-n already turned into newlines).
        label: ``hate`` or ``neutral`` (annotator label, or the prompt file's kind).
        groups: Canonical target groups; a SafeNLP sentence may have several.
        source: ``safenlp`` or ``prompts``.
        toxicity_score: SafeNLP's mean annotator toxicity (1-5), when known.
    """

    id: str
    text: str
    label: str
    groups: tuple[str, ...]
    source: str
    toxicity_score: float | None = None


def load_safenlp(path: Path) -> list[ToxigenItem]:
    """Read SafeNLP ``toxiGen.json``.

    Raises:
        DataError: The file is not the expected list of ``{id, text, label, target_groups}`` objects.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read ToxiGen sentences ({exc})") from exc
    if not isinstance(raw, list):
        raise DataError(f"{path}: expected a JSON list of sentences, got {type(raw).__name__}")
    items: list[ToxigenItem] = []
    seen: set[str] = set()
    for i, obj in enumerate(raw):
        where = f"{path}: entry {i}"
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected an object")
        text, label, groups = obj.get("text"), obj.get("label"), obj.get("target_groups")
        if not isinstance(text, str):
            raise DataError(f"{where}: 'text' must be a string")
        if label not in LABELS:
            raise DataError(f"{where}: 'label' must be hate or neutral, got {label!r}")
        if not isinstance(groups, list) or not groups or not all(isinstance(g, str) for g in groups):
            raise DataError(f"{where}: 'target_groups' must be a non-empty list of group names")
        try:
            canon = tuple(dict.fromkeys(canonical_group(g) for g in groups))
        except ConfigError as exc:
            raise DataError(f"{where}: {exc.message}") from exc
        sid = f"safenlp-{obj.get('id', i)}"
        if sid in seen:
            raise DataError(f"{where}: duplicate id {obj.get('id')!r}")
        seen.add(sid)
        score = obj.get("toxicity_score")
        items.append(
            ToxigenItem(
                id=sid,
                text=text,
                label=label,
                groups=canon,
                source="safenlp",
                toxicity_score=float(score) if isinstance(score, (int, float)) else None,
            )
        )
    return items


def decode_prompt_line(line: str) -> str:
    """Turn one line of a ToxiGen prompt file into prompt text (as open-instruct does).

    The files join list items with a literal backslash-n; a doubled backslash becomes a single one.
    """
    return line.strip().replace("\\\\", "\\").replace("\\n", "\n")


def prompt_files(labels: Sequence[str], groups: Sequence[str]) -> list[tuple[str, str, str]]:
    """The prompt files for some labels and canonical groups: ``(label, file group, path)``.

    ``neutral_trans`` does not exist and is skipped.
    """
    inverse = {v: k for k, v in PROMPT_FILE_GROUPS.items()}
    out: list[tuple[str, str, str]] = []
    for label in labels:
        for g in groups:
            fg = inverse[g]
            if label == "neutral" and fg == "trans":
                continue
            out.append((label, fg, f"toxigen/{label}_{fg}_1k.txt"))
    return out


def load_prompt_file(path: Path, label: str, file_group: str) -> list[ToxigenItem]:
    """Read one original ToxiGen prompt file, one prompt per non-empty line.

    Raises:
        DataError: The file cannot be read.
    """
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ToxiGen prompts ({exc})") from exc
    group = PROMPT_FILE_GROUPS[file_group]
    return [
        ToxigenItem(
            id=f"{label}_{file_group}-{n:04d}",
            text=decode_prompt_line(line),
            label=label,
            groups=(group,),
            source="prompts",
        )
        for n, line in enumerate(lines)
        if line.strip()
    ]


def cap_per_file(items: Sequence[ToxigenItem], cap: int | None, seed: int, key: str) -> list[ToxigenItem]:
    """At most ``cap`` items drawn with a generator seeded by ``seed`` and the file's key; order kept."""
    if cap is None or len(items) <= cap:
        return list(items)
    keep = set(random.Random(f"{seed}:{key}").sample(range(len(items)), cap))
    return [it for i, it in enumerate(items) if i in keep]


def stratified_by_group(items: Sequence[ToxigenItem], k: int, seed: int) -> list[ToxigenItem]:
    """A seeded subset with at least ``min(k, size)`` sentences per group, in the original order.

    The draw is made per (sentence, group) membership with
    :func:`~safetylens.datasets.sampling.stratified_sample`, and a sentence drawn for any of its
    groups is kept (and then counts in all of its groups, as in the full set). So a group's
    sample has ``k`` sentences drawn for it plus any drawn for an overlapping group.
    """
    memberships = [(i, g) for i, it in enumerate(items) for g in it.groups]
    chosen = stratified_sample(memberships, key=lambda m: m[1], k=k, seed=seed)
    keep = {i for i, _ in chosen}
    return [it for i, it in enumerate(items) if i in keep]
