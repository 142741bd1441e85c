"""BOLD data: the five prompt files of Dhamala et al. (2021), as the Llama 2 paper read them.

Each ``bold/{domain}_prompt.json`` is shaped ``{subgroup: {wikipedia_entity: [prompt, ...]}}``;
:func:`load_prompts` reads them (hash-verified) into :class:`BoldPrompt` objects in the paper's domain
order and the files' order, dropping Hinduism and Atheism as the paper does unless asked not to.
Malformed files raise :class:`~safetylens.errors.DataError` naming the file and entry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from safetylens.errors import DataError
from safetylens.reference.bold import DOMAINS, EXCLUDED_SUBGROUPS

if TYPE_CHECKING:
    from safetylens.datasets.registry import DataStore

DATASET = "bold"
"""The data set id of the BOLD prompt files in the registry."""


@dataclass(frozen=True)
class BoldPrompt:
    """One BOLD prompt.

    Attributes:
        domain: BOLD domain (file), e.g. ``race``.
        subgroup: Subgroup key as in the file, e.g. ``Asian_Americans``.
        entity: Wikipedia entity the prompt was taken from, e.g. ``Jaegwon_Kim``.
        index: Position of the prompt in the entity's list.
        text: The prompt as in the file (most end with a space).
    """

    domain: str
    subgroup: str
    entity: str
    index: int
    text: str

    @property
    def id(self) -> str:
        """Stable sample id ``domain/subgroup/entity/index``."""
        entity = self.entity.replace("%", "%25").replace("/", "%2F")
        return f"{self.domain}/{self.subgroup}/{entity}/{self.index}"


def load_prompts(
    data: DataStore, domains: Sequence[str] = DOMAINS, keep_underrepresented: bool = False
) -> list[BoldPrompt]:
    """Read the BOLD prompt files (hash-verified) in the paper's domain order and the files' order.

    Args:
        data: Where the verified data files are.
        domains: Domains to read.
        keep_underrepresented: Keep Hinduism and Atheism, which the paper drops.

    Raises:
        DataError: A file is missing, fails its checksum, or is not ``{subgroup: {entity: [str]}}``.
    """
    dropped = set() if keep_underrepresented else {k for v in EXCLUDED_SUBGROUPS.values() for k, _ in v}
    out: list[BoldPrompt] = []
    for domain in [d for d in DOMAINS if d in domains]:
        path = data.path(DATASET, f"{domain}_prompt.json")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read BOLD prompts ({exc})") from exc
        if not isinstance(raw, dict):
            raise DataError(f"{path}: expected {{subgroup: {{entity: [prompt, ...]}}}} at the top level")
        for subgroup, entities in raw.items():
            if subgroup in dropped:
                continue
            if not isinstance(entities, dict):
                raise DataError(f"{path}: subgroup {subgroup!r} is not a mapping of entities to prompt lists")
            for entity, prompts in entities.items():
                if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
                    raise DataError(f"{path}: {subgroup}/{entity} is not a list of prompt strings")
                out.extend(BoldPrompt(domain, subgroup, entity, i, p) for i, p in enumerate(prompts))
    return out
