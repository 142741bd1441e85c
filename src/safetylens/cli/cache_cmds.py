"""``safetylens cache stats | prune``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console
from safetylens.errors import ConfigError

cache_app = typer.Typer(help="Inspect and prune the request cache (SQLite, content-addressed).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Parse ``30d``, ``12h``, ``90m``, ``45s`` or ``2w`` into seconds.

    Raises:
        ConfigError: The text is not a duration.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not m:
        raise ConfigError(f"not a duration: {text!r}", hint="use e.g. 30d, 12h, 90m")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else ""


@cache_app.command("stats")
def stats() -> None:
    """Entries and size per model and request kind."""
    from safetylens import paths
    from safetylens.cache import RequestCache

    path = paths.request_cache_path()
    cache = RequestCache(path)
    rows = cache.stats()
    table = Table(title=f"request cache {path}", title_justify="left")
    for col in ("model", "model key", "kind", "entries", "MB", "oldest", "newest"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            escape(r["model"]),
            r["model_key"][:12],
            r["kind"],
            str(r["entries"]),
            f"{r['bytes'] / 1e6:.2f}",
            _when(r["oldest"]),
            _when(r["newest"]),
        )
    console.print(table)
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    console.print(f"{sum(r['entries'] for r in rows)} entries, {size / 1e6:.1f} MB on disk")


@cache_app.command("prune")
def prune(
    model: Annotated[str | None, typer.Option(help="only entries of this model name or model-key prefix")] = None,
    older_than: Annotated[str | None, typer.Option(help="only entries older than this, e.g. 30d, 12h")] = None,
    all_entries: Annotated[bool, typer.Option("--all", help="delete every entry")] = False,
) -> None:
    """Delete cache entries by model, by age, or all of them."""
    from safetylens import paths
    from safetylens.cache import RequestCache

    if model is None and older_than is None and not all_entries:
        raise ConfigError("say what to prune", hint="use --model NAME, --older-than 30d, or --all")
    cache = RequestCache(paths.request_cache_path())
    n = cache.prune(
        model=model, older_than_s=parse_duration(older_than) if older_than else None, everything=all_entries
    )
    console.print(f"deleted {n} entries")
