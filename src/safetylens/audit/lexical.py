r"""Pronoun and identity-term detection on tokenised documents (protocol.md §4, P Table 9a/9b).

Both analyses share one tokenisation: the lower-cased document split into Unicode word runs
(``\\w+``), so matching is whole-word and case-insensitive, and an apostrophe or hyphen separates
words (``I'm`` contains ``i``; ``Chinese-American`` is ``chinese american``).

**Pronouns** use the paper's lists (following PaLM 2): a document "has" a category when any of its
words is in the category's list. "Gendered" = She or He; "any" = any of the lists.

**Identity terms** are the HolisticBias descriptors. For each axis, a document mentions the axis
when it contains any of the axis' terms; a multi-word term matches as a contiguous word sequence,
and each term is matched independently (``Native American`` also contains ``american``), as a plain
term count does. Following the paper: ``straight``, ``white`` and ``black`` are dropped (their
non-demographic uses dominate), and a term listed under several axes is kept under one: the
**last** of those axes in the descriptor file's order (which puts ``lgbt``, ``lgbtq`` and
``queer`` under Sexual Orientation, where Table 9b reports them; the paper does not state its
rule). Terms that normalise to the same words (``LGBTQ`` / ``LGBTQ+``) are one term.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetylens.errors import ConfigError, DataError

WORD_RE = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of a text."""
    return WORD_RE.findall(text.lower())


# ---------------------------------------------------------------------------------------- pronouns

PRONOUN_LISTS: dict[str, tuple[str, ...]] = {
    "she": ("she", "her", "hers", "herself"),
    "he": ("he", "him", "his", "himself"),
    "unspecified": ("they", "them", "their", "theirs", "theirself", "themself", "themselves"),
    "first": ("i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "ourselves"),
    "second": ("you", "your", "yours", "yourself", "yourselves"),
}
PRONOUN_LISTS["third"] = (
    *PRONOUN_LISTS["she"],
    *PRONOUN_LISTS["he"],
    *PRONOUN_LISTS["unspecified"],
    "it",
    "its",
    "itself",
)

PRONOUN_ROWS: tuple[str, ...] = ("she", "he", "unspecified", "first", "second", "third", "gendered", "any")
"""The pronoun figures reported, in order: the six lists, then She-or-He and any pronoun."""

PRONOUN_LABELS: dict[str, str] = {
    "she": "She (she, her, hers, herself)",
    "he": "He (he, him, his, himself)",
    "unspecified": "Unknown (they, them, their, ...)",
    "first": "1st (I, me, my, mine, myself, ...)",
    "second": "2nd (you, your, yours, ...)",
    "third": "3rd (it, its, itself, she, her, he, him, ...)",
    "gendered": "Gendered (She or He)",
    "any": "Any pronoun",
}

_PRONOUN_OF: dict[str, tuple[str, ...]] = {}
for _cat, _words in PRONOUN_LISTS.items():
    for _w in _words:
        _PRONOUN_OF[_w] = (*_PRONOUN_OF.get(_w, ()), _cat)
PRONOUN_VOCAB = frozenset(_PRONOUN_OF)


def pronoun_categories(token_set: set[str] | frozenset[str]) -> set[str]:
    """The pronoun rows (:data:`PRONOUN_ROWS`) a document with these words has."""
    found: set[str] = set()
    for w in token_set & PRONOUN_VOCAB:
        found.update(_PRONOUN_OF[w])
    if found:
        found.add("any")
        if "she" in found or "he" in found:
            found.add("gendered")
    return found


# ------------------------------------------------------------------------------------ identity terms

PAPER_AXES: tuple[str, ...] = ("gender_and_sex", "sexual_orientation", "nationality", "race_ethnicity", "religion")
"""The five HolisticBias axes of Table 9b, in the paper's column order."""

AXIS_LABELS: dict[str, str] = {
    "gender_and_sex": "Gender and Sex",
    "sexual_orientation": "Sexual Orientation",
    "nationality": "Nationality",
    "race_ethnicity": "Race and Ethnicity",
    "religion": "Religion",
    "ability": "Ability",
    "age": "Age",
    "body_type": "Body Type",
    "characteristics": "Characteristics",
    "cultural": "Cultural",
    "political_ideologies": "Political Ideologies",
    "nonce": "Nonce",
    "socioeconomic_class": "Socioeconomic Class",
}

PAPER_DROPPED_TERMS: tuple[str, ...] = ("straight", "white", "black")
"""Terms the paper drops because of their frequent non-demographic uses."""


@dataclass
class IdentityLexicon:
    """HolisticBias terms by axis, de-duplicated, ready for matching.

    Attributes:
        axes: Axes in report order.
        terms: ``{axis: (term, ...)}``: normalised terms (words joined by one space), in file order.
        dropped: Terms removed by the drop list.
        moved: ``{term: (kept_axis, (other axes...))}`` for terms listed under several axes.
        source: Description of the descriptor file (data set id, file, version, sha256).
    """

    axes: tuple[str, ...]
    terms: dict[str, tuple[str, ...]]
    dropped: tuple[str, ...] = ()
    moved: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    _single: dict[str, list[tuple[str, str]]] = field(init=False, repr=False)
    _multi: dict[str, list[tuple[tuple[str, ...], str, str]]] = field(init=False, repr=False)
    _single_keys: frozenset[str] = field(init=False, repr=False)
    _multi_keys: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._single = {}
        self._multi = {}
        for axis in self.axes:
            for term in self.terms[axis]:
                words = tuple(term.split(" "))
                if len(words) == 1:
                    self._single.setdefault(words[0], []).append((axis, term))
                else:
                    self._multi.setdefault(words[0], []).append((words, axis, term))
        self._single_keys = frozenset(self._single)
        self._multi_keys = frozenset(self._multi)

    def match(self, toks: Sequence[str], token_set: set[str] | frozenset[str]) -> set[tuple[str, str]]:
        """The ``(axis, term)`` pairs a document mentions.

        Args:
            toks: The document's tokens (:func:`tokens`), in order.
            token_set: ``set(toks)`` (computed once per document by the caller).
        """
        found: set[tuple[str, str]] = set()
        for w in token_set & self._single_keys:
            found.update(self._single[w])
        for w in token_set & self._multi_keys:
            positions: list[int] | None = None
            for words, axis, term in self._multi[w]:
                if not all(x in token_set for x in words[1:]):
                    continue
                if positions is None:
                    positions = [i for i, t in enumerate(toks) if t == w]
                n = len(words)
                if any(tuple(toks[i : i + n]) == words for i in positions):
                    found.add((axis, term))
        return found


def _normalise(term: str) -> str:
    return " ".join(tokens(term))


def build_lexicon(
    descriptors: dict[str, Any],
    axes: Iterable[str] | None = None,
    drop: Iterable[str] = PAPER_DROPPED_TERMS,
    source: dict[str, Any] | None = None,
) -> IdentityLexicon:
    """Build a lexicon from a HolisticBias ``descriptors.json`` object.

    Args:
        descriptors: ``{axis: {bucket: [descriptor or {"descriptor": ...}, ...]}}``.
        axes: Axes to keep (default: the paper's five); ``None`` with ``all`` semantics is
            :func:`all_axes`.
        drop: Terms to remove (normalised before comparing).
        source: Provenance recorded with the lexicon.

    Raises:
        ConfigError: An axis is not in the descriptor file.
        DataError: The descriptor object does not have the expected shape.
    """
    if not isinstance(descriptors, dict):
        raise DataError("HolisticBias descriptors: expected a JSON object of axes")
    wanted = tuple(axes) if axes is not None else PAPER_AXES
    unknown = [a for a in wanted if a not in descriptors]
    if unknown:
        raise ConfigError(
            f"unknown HolisticBias axes: {', '.join(unknown)}", hint=f"axes in this file: {', '.join(descriptors)}"
        )
    dropped_norm = {_normalise(t) for t in drop}
    # File order decides which axis keeps a term listed under several (the last one).
    file_order = [a for a in descriptors if a in wanted]
    where: dict[str, list[str]] = {}
    per_axis: dict[str, list[str]] = {a: [] for a in file_order}
    dropped: list[str] = []
    for axis in file_order:
        buckets = descriptors[axis]
        if not isinstance(buckets, dict):
            raise DataError(f"HolisticBias descriptors: axis {axis!r} is not an object of buckets")
        for items in buckets.values():
            for item in items:
                raw = item.get("descriptor") if isinstance(item, dict) else item
                if not isinstance(raw, str):
                    raise DataError(f"HolisticBias descriptors: unexpected entry {item!r} in axis {axis!r}")
                norm = _normalise(raw)
                if not norm:
                    continue
                if norm in dropped_norm:
                    if norm not in dropped:
                        dropped.append(norm)
                    continue
                if norm not in per_axis[axis]:
                    per_axis[axis].append(norm)
                if axis not in where.setdefault(norm, []):
                    where[norm].append(axis)
    moved: dict[str, tuple[str, tuple[str, ...]]] = {}
    for term, axes_of in where.items():
        if len(axes_of) > 1:
            keep = axes_of[-1]
            moved[term] = (keep, tuple(a for a in axes_of if a != keep))
            for a in axes_of[:-1]:
                per_axis[a].remove(term)
    return IdentityLexicon(
        axes=wanted,
        terms={a: tuple(per_axis[a]) for a in wanted},
        dropped=tuple(dropped),
        moved=moved,
        source=source or {},
    )


def load_lexicon(
    path: Path,
    axes: Iterable[str] | None = None,
    drop: Iterable[str] = PAPER_DROPPED_TERMS,
    source: dict[str, Any] | None = None,
) -> IdentityLexicon:
    """Read a descriptor file and build the lexicon (see :func:`build_lexicon`).

    Args:
        path: The descriptors JSON file.
        axes: Axes to keep (default: the paper's five); pass :func:`all_axes` of the file for all.
        drop: Terms to remove.
        source: Provenance recorded with the lexicon.

    Raises:
        DataError: Unreadable or malformed file.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read HolisticBias descriptors {path}: {exc}") from exc
    if axes is not None and tuple(axes) == ("all",):
        axes = tuple(data)
    return build_lexicon(data, axes=axes, drop=drop, source=source)
