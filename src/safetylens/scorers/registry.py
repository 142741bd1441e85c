"""The scorer registry: every scorer is registered under a kind and a name and created by name.

A *kind* is what a scorer measures (``"refusal"``, ``"toxicity"``, ...); a *name* is one way of
measuring it (``"strmatch"``, ``"offline"``, ``"server-judge"``). Benchmarks and the CLI name
scorers, never import them, so a new scorer is one small module with one decorator::

    @register("refusal", "strmatch", summary="XSTest's reference prefixes")
    class StringMatchRefusal: ...

    scorer = create("refusal", "strmatch")          # options are keyword arguments of the factory
    scorer.record                                   # identity and measured validity, for the manifest

Modules holding built-in scorers are imported on first lookup of their kind, so importing the
registry stays cheap and a scorer with heavy dependencies costs nothing until it is asked for.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from safetylens.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

BUILTIN_MODULES: dict[str, tuple[str, ...]] = {
    "refusal": ("safetylens.scorers.refusal", "safetylens.scorers.refusal_probe", "safetylens.scorers.llm_judge"),
    "harm": ("safetylens.scorers.harm_probe", "safetylens.scorers.llm_judge"),
}
"""Kind -> modules whose import registers its built-in scorers."""


@dataclass(frozen=True)
class ScorerEntry:
    """A registered scorer.

    Attributes:
        kind: What it measures, e.g. ``"refusal"``.
        name: Its name within the kind, e.g. ``"strmatch"``.
        factory: Called with the options to create the scorer.
        summary: One line for people (``safetylens scorers list``).
        offline: Whether it runs without a model server or downloaded weights.
    """

    kind: str
    name: str
    factory: Callable[..., Any]
    summary: str
    offline: bool

    @property
    def options(self) -> dict[str, Any]:
        """The factory's keyword options and their defaults (``inspect.Parameter.empty`` when required)."""
        return {
            p.name: p.default
            for p in inspect.signature(self.factory).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }


_ENTRIES: dict[tuple[str, str], ScorerEntry] = {}
_LOADED: set[str] = set()


def register(kind: str, name: str, *, summary: str, offline: bool = True) -> Callable[[F], F]:
    """Register a scorer factory (a class or a function) under ``kind`` and ``name``.

    Raises:
        ValueError: Another factory already holds that name (two scorers must never share one, or
            a manifest could not say which produced a number).
    """

    def deco(factory: F) -> F:
        key = (kind, name)
        held = _ENTRIES.get(key)
        if held is not None and held.factory is not factory:
            raise ValueError(f"scorer {kind}/{name} is already registered by {held.factory!r}")
        _ENTRIES[key] = ScorerEntry(kind, name, factory, summary, offline)
        return factory

    return deco


def _load(kind: str) -> None:
    if kind in _LOADED:
        return
    _LOADED.add(kind)
    for module in BUILTIN_MODULES.get(kind, ()):
        importlib.import_module(module)


def kinds() -> list[str]:
    """Every kind with a registered or built-in scorer."""
    for k in BUILTIN_MODULES:
        _load(k)
    return sorted({k for k, _ in _ENTRIES})


def entries(kind: str | None = None) -> list[ScorerEntry]:
    """Registered scorers (of one kind, or all), sorted by kind and name."""
    for k in [kind] if kind else kinds():
        _load(k)
    return sorted((e for e in _ENTRIES.values() if kind is None or e.kind == kind), key=lambda e: (e.kind, e.name))


def get(kind: str, name: str) -> ScorerEntry:
    """The entry of one scorer.

    Raises:
        ConfigError: Unknown kind or name (the message lists the known ones).
    """
    _load(kind)
    entry = _ENTRIES.get((kind, name))
    if entry is None:
        known = [e.name for e in entries(kind)]
        if not known:
            raise ConfigError(f"unknown scorer kind {kind!r}", hint=f"kinds: {', '.join(kinds())}")
        raise ConfigError(f"unknown {kind} scorer {name!r}", hint=f"{kind} scorers: {', '.join(known)}")
    return entry


def create(kind: str, name: str, **options: Any) -> Any:
    """Create a scorer by name.

    Args:
        kind: What it measures.
        name: Which scorer.
        **options: Keyword options of its factory.

    Raises:
        ConfigError: Unknown scorer, or an option it does not take (the message lists those it does).
    """
    entry = get(kind, name)
    accepted = entry.options
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{kind} scorer {name!r} takes no option {', '.join(map(repr, unknown))}",
            hint=f"its options: {', '.join(accepted) or '(none)'}",
        )
    return entry.factory(**options)
