"""Progress bars with count, rate and ETA for every long loop.

On a terminal this is a Rich progress bar; elsewhere (CI logs, pipes) it prints a plain line at
most every few seconds, so logs show progress without filling up.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

Advance = Callable[[int], None]


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f}/s" if speed else "-/s", style="progress.data.speed")


def _fmt_eta(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


@contextmanager
def progress_bar(
    description: str, total: int, console: Console | None = None, interval_s: float = 10.0
) -> Iterator[Advance]:
    """Show progress of a loop of ``total`` steps; yields ``advance(n)``.

    Args:
        description: What is being done.
        total: Number of steps.
        console: Where to draw (stderr by default).
        interval_s: Minimum seconds between plain-text lines when not on a terminal.
    """
    console = console or Console(stderr=True)
    if console.is_terminal:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as prog:
            task = prog.add_task(description, total=total)

            def advance_rich(n: int = 1) -> None:
                prog.advance(task, n)

            yield advance_rich
        return
    start = time.monotonic()
    state = {"done": 0, "last": 0.0}

    def line() -> str:
        done = state["done"]
        elapsed = max(1e-9, time.monotonic() - start)
        rate = done / elapsed
        eta = _fmt_eta((total - done) / rate) if rate > 0 and total else "?"
        return f"{description}: {done}/{total} ({rate:.2f}/s, elapsed {_fmt_eta(elapsed)}, ETA {eta})"

    def advance(n: int = 1) -> None:
        state["done"] += n
        now = time.monotonic()
        if now - state["last"] >= interval_s:
            state["last"] = now
            print(line(), file=sys.stderr, flush=True)

    yield advance
    print(line(), file=sys.stderr, flush=True)
