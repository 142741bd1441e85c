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

Scorers from outside safetylens take part in two ways: a module that calls :func:`register` when it
is imported (name it in ``SAFETYLENS_PLUGINS``, or import it before the run) is named like a
built-in; and a name of the form ``"package.module:factory"`` is resolved by importing the module
and using its attribute as the factory, so a plugin needs no registration at all::

    create("truthfulqa-judge", "my_judges:make_judge", aspect="truth")
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
    "toxicity": ("safetylens.scorers.toxicity",),
    "truthfulqa-judge": ("safetylens.scorers.truthfulqa_judges",),
    "sentiment": ("safetylens.scorers.vader",),
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

    @property
    def takes_any_option(self) -> bool:
        """Whether the factory accepts arbitrary keyword options (``**kwargs``), so none is refused."""
        return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(self.factory).parameters.values())


_ENTRIES: dict[tuple[str, str], ScorerEntry] = {}

PLUGIN_SEPARATOR = ":"
"""A name holding this is a plugin, ``package.module:factory``."""


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


def _load(kind: str) -> dict[str, ImportError]:
    """Import the modules holding the built-in scorers of ``kind``; the modules that failed, with why.

    Importing is repeated on every lookup (a dictionary hit once a module is loaded) rather than
    remembered, so a module that cannot be imported is reported each time instead of leaving its
    kind silently empty.
    """
    failed: dict[str, ImportError] = {}
    for module in BUILTIN_MODULES.get(kind, ()):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            failed[module] = exc
    return failed


def kinds() -> list[str]:
    """Every kind with a registered or built-in scorer that can be imported here."""
    for k in BUILTIN_MODULES:
        _load(k)
    return sorted({k for k, _ in _ENTRIES})


def entries(kind: str | None = None) -> list[ScorerEntry]:
    """Registered scorers (of one kind, or all), sorted by kind and name."""
    for k in [kind] if kind else kinds():
        _load(k)
    return sorted((e for e in _ENTRIES.values() if kind is None or e.kind == kind), key=lambda e: (e.kind, e.name))


def _plugin(kind: str, name: str) -> ScorerEntry:
    """The entry of a ``package.module:factory`` name (resolved on each lookup, never stored)."""
    module_name, _, attr = name.partition(PLUGIN_SEPARATOR)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"{kind} scorer plugin {name!r} cannot be imported ({exc})",
            hint="a plugin scorer is 'package.module:factory' importable from PYTHONPATH",
        ) from exc
    if not callable(factory):
        raise ConfigError(f"{kind} scorer plugin {name!r} is not callable")
    doc = (inspect.getdoc(factory) or "").strip()
    # Nothing says whether a plugin needs a server or weights, so it is not claimed to run offline.
    return ScorerEntry(kind, name, factory, doc.splitlines()[0] if doc else f"plugin {name}", offline=False)


def get(kind: str, name: str) -> ScorerEntry:
    """The entry of one scorer: a registered name, or a plugin ``package.module:factory``.

    Raises:
        ConfigError: Unknown kind or name (the message lists the known ones), a kind whose built-in
            module cannot be imported, or a plugin that cannot be imported.
    """
    failed = _load(kind)
    entry = _ENTRIES.get((kind, name))
    if entry is not None:
        return entry
    if PLUGIN_SEPARATOR in name:
        return _plugin(kind, name)
    if failed:
        module, exc = next(iter(failed.items()))
        raise ConfigError(
            f"{kind} scorer {name!r} is not available: this safetylens build cannot import {module} ({exc})",
            hint="reinstall safetylens, or name a plugin scorer 'package.module:factory'",
        )
    known = [e.name for e in entries(kind)]
    if not known:
        raise ConfigError(f"unknown scorer kind {kind!r}", hint=f"kinds: {', '.join(kinds())}")
    raise ConfigError(f"unknown {kind} scorer {name!r}", hint=f"{kind} scorers: {', '.join(known)}")


def create(kind: str, name: str, **options: Any) -> Any:
    """Create a scorer by name.

    Args:
        kind: What it measures.
        name: Which scorer: a registered name or a plugin ``package.module:factory``.
        **options: Keyword options of its factory.

    Raises:
        ConfigError: Unknown scorer, or an option it does not take (the message lists those it does).
    """
    entry = get(kind, name)
    accepted = entry.options
    unknown = sorted(set(options) - set(accepted))
    if unknown and not entry.takes_any_option:
        raise ConfigError(
            f"{kind} scorer {name!r} takes no option {', '.join(map(repr, unknown))}",
            hint=f"its options: {', '.join(accepted) or '(none)'}",
        )
    return entry.factory(**options)
