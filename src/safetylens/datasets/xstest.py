"""XSTest: prompts, five models' human-labelled completions, and the authors' automatic labels.

XSTest (Röttger et al., NAACL 2024) has 250 safe prompts that merely look unsafe (10 types) and 200
unsafe contrast prompts (types starting with ``contrast_``). Its authors published the answers of
five models with two human annotations each and a final label in three classes, and their own
automatic labels of the same answers (GPT-4 as a classifier, and string matching). Everything is
read through the data registry, so every file is sha256-verified before it is parsed.

Malformed files raise :class:`~safetylens.errors.DataError` naming the file, the line and the field.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from safetylens.errors import DataError

if TYPE_CHECKING:
    from safetylens.datasets.registry import DataStore

RefusalLabel = Literal["1_full_compliance", "2_full_refusal", "3_partial_refusal"]
FULL_COMPLIANCE: RefusalLabel = "1_full_compliance"
FULL_REFUSAL: RefusalLabel = "2_full_refusal"
PARTIAL_REFUSAL: RefusalLabel = "3_partial_refusal"
LABELS: tuple[RefusalLabel, ...] = (FULL_COMPLIANCE, FULL_REFUSAL, PARTIAL_REFUSAL)
"""The XSTest classes, in the order the authors number them."""

MODELS: tuple[str, ...] = ("gpt4", "llama2new", "llama2orig", "mistralinstruct", "mistralguard")
"""The five models whose completions were labelled (llama2orig: Llama-2-70b-chat with its original
system prompt; llama2new: without it; mistralguard: Mistral-7B-Instruct with its guardrail prompt)."""

MODEL_NAMES: dict[str, str] = {
    "gpt4": "GPT-4",
    "llama2new": "Llama-2-70b-chat (no system prompt)",
    "llama2orig": "Llama-2-70b-chat (original system prompt)",
    "mistralinstruct": "Mistral-7B-Instruct",
    "mistralguard": "Mistral-7B-Instruct (guardrail prompt)",
}

DATASET = "xstest"
LABELS_DATASET = "xstest-labels"
PROMPTS_FILE = "xstest/xstest_prompts.csv"

AutoLabeller = Literal["gpteval", "streval"]
_AUTO_COLUMN: dict[str, str] = {"gpteval": "gpt4_label", "streval": "strmatch_label"}


@dataclass(frozen=True)
class XSTestPrompt:
    """One XSTest prompt.

    Attributes:
        id: The prompt's id in the file (``"1"`` .. ``"450"``).
        prompt: The request.
        type: Prompt type, e.g. ``"homonyms"`` or ``"contrast_homonyms"``.
        label: ``"safe"`` or ``"unsafe"``.
        focus: The word or phrase the prompt turns on.
        note: The authors' note (often the harm area).
    """

    id: str
    prompt: str
    type: str
    label: Literal["safe", "unsafe"]
    focus: str
    note: str

    @property
    def safe(self) -> bool:
        """Whether a well-calibrated model should answer it."""
        return self.label == "safe"


@dataclass(frozen=True)
class LabelledCompletion:
    """One model's answer to an XSTest prompt with its human labels.

    Attributes:
        model: Which of :data:`MODELS` answered.
        id: The completion's id (``"v2-1"`` ..), shared by the five models for the same prompt.
        type: Prompt type (as in :class:`XSTestPrompt`).
        prompt: The request.
        completion: The model's answer.
        annotation_1: First annotator's class.
        annotation_2: Second annotator's class.
        final_label: The adjudicated class.
    """

    model: str
    id: str
    type: str
    prompt: str
    completion: str
    annotation_1: RefusalLabel
    annotation_2: RefusalLabel
    final_label: RefusalLabel

    @property
    def safe(self) -> bool:
        """Whether the prompt is one of the 250 safe ones."""
        return not self.type.startswith("contrast_")


def parse_label(value: str, *, where: str) -> RefusalLabel:
    """One of :data:`LABELS` from a cell.

    Raises:
        DataError: The cell is not an XSTest class (the message says where).
    """
    v = value.strip()
    if v not in LABELS:
        raise DataError(f"{where}: {value!r} is not an XSTest class", hint=f"expected one of {', '.join(LABELS)}")
    return v


def _rows(path: Path, required: Iterable[str]) -> Iterable[tuple[int, dict[str, str]]]:
    """CSV rows with their line numbers, after checking the header."""
    try:
        fh = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.DictReader(fh)
        try:
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
            for row in reader:
                if None in row or any(v is None for v in row.values()):
                    raise DataError(f"{path}, line {reader.line_num}: wrong number of fields")
                yield reader.line_num, row
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except csv.Error as exc:
            raise DataError(f"{path}, line {reader.line_num}: {exc}") from None


def read_prompts(path: Path) -> list[XSTestPrompt]:
    """Parse an XSTest prompt file (columns id, prompt, type, label, focus, note)."""
    out: list[XSTestPrompt] = []
    for line, row in _rows(path, ("id", "prompt", "type", "label", "focus", "note")):
        label = row["label"].strip()
        if label not in ("safe", "unsafe"):
            raise DataError(f"{path}, line {line}: label {row['label']!r} is neither 'safe' nor 'unsafe'")
        out.append(
            XSTestPrompt(row["id"].strip(), row["prompt"], row["type"].strip(), label, row["focus"], row["note"])  # type: ignore[arg-type]
        )
    return out


def read_completions(path: Path, model: str) -> list[LabelledCompletion]:
    """Parse one model's labelled completions.

    Columns: id, type, prompt, completion, annotation_1, annotation_2, final_label.
    """
    out: list[LabelledCompletion] = []
    for line, row in _rows(path, ("id", "type", "prompt", "completion", "annotation_1", "annotation_2", "final_label")):
        where = f"{path}, line {line}"
        out.append(
            LabelledCompletion(
                model=model,
                id=row["id"].strip(),
                type=row["type"].strip(),
                prompt=row["prompt"],
                completion=row["completion"],
                annotation_1=parse_label(row["annotation_1"], where=f"{where}, annotation_1"),
                annotation_2=parse_label(row["annotation_2"], where=f"{where}, annotation_2"),
                final_label=parse_label(row["final_label"], where=f"{where}, final_label"),
            )
        )
    return out


def load_prompts(store: DataStore) -> list[XSTestPrompt]:
    """The 450 XSTest prompts, verified."""
    return read_prompts(store.path(DATASET, PROMPTS_FILE))


def load_completions(store: DataStore, models: Sequence[str] = MODELS) -> list[LabelledCompletion]:
    """The labelled completions of the given models (all five by default), model by model, in file order.

    Raises:
        DataError: An unknown model, or a missing or malformed file.
    """
    out: list[LabelledCompletion] = []
    for m in models:
        if m not in MODELS:
            raise DataError(f"XSTest has no completions of model {m!r}", hint=f"models: {', '.join(MODELS)}")
        out.extend(read_completions(store.path(DATASET, f"xstest/completions_{m}.csv"), m))
    return out


def load_automated_labels(store: DataStore, model: str, labeller: AutoLabeller) -> dict[str, str]:
    """The XSTest authors' automatic label of each completion of one model, by completion id.

    GPT-4's labels are kept as written (a few are not one of the three classes: GPT-4 sometimes
    answered with prose), so agreement computed from them matches the authors' own analysis.
    """
    path = store.path(LABELS_DATASET, f"xstest/automated_labels/xstest_v2_completions_{model}_{labeller}.csv")
    column = _AUTO_COLUMN[labeller]
    return {row["id"].strip(): row[column].strip() for _, row in _rows(path, ("id", column))}
