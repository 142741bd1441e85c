"""The one way a benchmark script reports a headline figure, so ``run_all.py`` can tabulate it.

A script prints its own detailed output as it likes and, for each figure the README quotes, calls
:func:`figure`. That prints one line ``FIGURE {json}`` which ``run_all.py`` collects into its closing
table (figure, value, goal, met). Keeping the goal next to the measurement means the table says
whether the figure meets it without a second copy of the goal somewhere else.
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path

PREFIX = "FIGURE "
_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}


# The vector extensions that decide a CPU's float32 and bfloat16 speed, as /proc/cpuinfo names them.
_ISA_FLAGS = (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2"))


def cpu_model() -> str:
    """The CPU's model name and widest vector extensions (from /proc/cpuinfo on Linux).

    Virtual machines often report a bare family name ("AMD EPYC") for hosts of different
    generations; the extensions tell them apart, and they change float32 and bfloat16 speeds.
    """
    name, flags = "", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    isa = [label for flag, label in _ISA_FLAGS if flag in flags]
    return f"{name} ({', '.join(isa)})" if isa else name


def figure(name: str, value: float, unit: str = "", goal: str | None = None, note: str = "") -> None:
    """Print one headline figure in the form ``run_all.py`` collects.

    Args:
        name: What was measured, e.g. ``"generation batch 8 vs 1"``.
        value: The measured number.
        unit: Its unit (``"x"`` for a ratio, ``"tok/s"``, ``"s"``).
        goal: Optional goal as ``"<op> <number>"`` with op one of ``>= <= > <``, e.g. ``">= 4"``.
        note: A short qualifier (sizes, the baseline it is a ratio against).

    Raises:
        ValueError: The goal is not of the form ``"<op> <number>"``.
    """
    met: bool | None = None
    if goal is not None:
        op, _, num = goal.partition(" ")
        if op not in _OPS:
            raise ValueError(f"goal must be '<op> <number>' with op in {sorted(_OPS)}: {goal!r}")
        met = bool(math.isfinite(value) and _OPS[op](value, float(num)))
    line = {"name": name, "value": value, "unit": unit, "goal": goal, "met": met, "note": note}
    print(PREFIX + json.dumps(line), flush=True)


def parse(line: str) -> dict[str, object] | None:
    """The figure a line of script output carries, or None for any other line."""
    if not line.startswith(PREFIX):
        return None
    try:
        obj = json.loads(line[len(PREFIX) :])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) and "name" in obj and "value" in obj else None
