"""The ``safetylens`` command line (Typer + Rich).

The CLI is thin: it parses flags, calls the library, and renders results. Heavy imports (torch,
transformers) happen inside commands so ``--help`` stays instant. Each command group lives in its
own module, which registers its commands on :data:`app` when imported below.
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from safetylens.errors import SafetylensError

app = typer.Typer(
    name="safetylens",
    help="Evaluate language models for safety, truthfulness, toxicity and bias as the Llama 2 paper did, "
    "with every number traceable to a manifest and replayable.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)

# The backends whose versions change results, each with the distribution that provides it.
BACKEND_DISTRIBUTIONS = {"torch": "torch", "transformers": "transformers", "llama_cpp": "llama-cpp-python"}


def version_lines() -> list[str]:
    """``safetylens --version``: safetylens's version, Python's, and each backend's (or "not installed").

    Read from the installed packages' metadata, so no backend is imported (``--version`` stays instant).
    """
    from importlib.metadata import PackageNotFoundError, version

    from safetylens import __version__

    lines = [f"safetylens {__version__}", f"python {platform.python_version()}"]
    for module, dist in BACKEND_DISTRIBUTIONS.items():
        try:
            found = version(dist)
        except PackageNotFoundError:
            found = "not installed"
        lines.append(f"{module} {found}")
    return lines


def _print_version(value: bool) -> None:
    if value:
        typer.echo("\n".join(version_lines()))
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the versions of safetylens and its backends (torch, transformers, llama_cpp) and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    # Options of the bare `safetylens` command; its help text is the app's.
    pass


# Every module named `*_cmds` in this package, and every subpackage (a command group split into
# modules), registers its commands on `app` when imported: the run commands first (they are the
# main job), the others in alphabetical order.
_OTHER_MODULES = sorted(
    m.name for m in pkgutil.iter_modules(__path__) if (m.name.endswith("_cmds") or m.ispkg) and m.name != "run_cmds"
)
_COMMAND_MODULES = ["safetylens.cli.run_cmds", *(f"safetylens.cli.{name}" for name in _OTHER_MODULES)]
for _mod in _COMMAND_MODULES:
    importlib.import_module(_mod)


def main() -> None:
    """Console entry point: run the app, turning user errors into a message and exit code 2."""
    try:
        app()
    except SafetylensError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err_console.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]; resume with `safetylens resume RUN_DIR`")
        sys.exit(130)
