"""What every ``safetylens human`` command module shares: the command group, ``--db``, formatters."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape

from safetylens.errors import ConfigError
from safetylens.util import format_interval

if TYPE_CHECKING:
    from safetylens.human.db import Database

human_app = typer.Typer(
    help="Human evaluation: safety ratings and pairwise comparisons by raters in a web app.", no_args_is_help=True
)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SAFETYLENS_HUMAN_DB",
        help="SQLite file or postgresql:// URL (default: ~/.cache/safetylens/human.sqlite)",
        show_envvar=True,
    ),
]

OptionsT = TypeVar("OptionsT", bound=BaseModel)


def open_db(db_url: str | None, *, check: bool = True) -> Database:
    """Open the platform's database.

    Args:
        db_url: SQLite path or ``postgresql://`` URL (None: the default database).
        check: Refuse a database whose schema is not the current one (``init`` upgrades it).
    """
    from safetylens.human.db import Database, default_url

    db = Database(db_url or default_url())
    if check:
        db.check_schema()
    return db


def read_password(password_stdin: bool, prompt: str = "Password") -> str:
    """A password from standard input's first line, or asked for twice on the terminal.

    Raises:
        ConfigError: Nothing on standard input, or no terminal to ask on.
    """
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ConfigError("no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask for a password", hint="pipe it in with --password-stdin")
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


def build_options(cls: type[OptionsT], **values: Any) -> OptionsT:
    """Command-line values as an options model, a bad value reported as a :class:`ConfigError`.

    Raises:
        ConfigError: A value the model refuses (the first one, with the model's reason).
    """
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"invalid option: {first['loc'][0]}: {first['msg']}") from exc


def fmt_ci(x: dict[str, Any], digits: int) -> str:
    """The interval as Rich markup: escaped, since Rich would swallow "[n/a: ...]" as a tag."""
    # Results say why an interval is missing (``ci_note``, e.g. "n < 20"); say it rather than guess.
    if x.get("ci_note") and (x.get("ci_low") is None or x.get("ci_high") is None):
        return escape(f"[n/a: {x['ci_note']}]")
    return escape(format_interval(x.get("ci_low"), x.get("ci_high"), digits))


def fmt_est(e: dict[str, Any] | None, digits: int = 1) -> str:
    """An estimate as ``value [low, high]`` markup, ``-`` when there is none."""
    if not e or e.get("value") is None:
        return "-"
    return f"{e['value']:.{digits}f}{escape(str(e.get('unit', '')))} {fmt_ci(e, digits)}"


def fmt_agree(a: dict[str, Any] | None) -> str:
    """An agreement coefficient as ``coefficient [low, high] SE se`` markup, or why there is none."""
    if not a:
        return "-"
    if "error" in a:
        return escape(str(a["error"]))
    if a.get("coefficient") is None:
        return escape("undefined" + (f" ({a['note']})" if a.get("note") else ""))
    se = "n/a" if a.get("se") is None else f"{a['se']:.3f}"
    return f"{a['coefficient']:.3f} {fmt_ci(a, 3)} SE {se}"
