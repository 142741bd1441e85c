"""Run every benchmark script in this folder, one after another, and print their figures.

Each script measures its own baseline in the same run and prints ratios against it; this runner
only sequences them (so they never compete for the CPU), prints each one's output as it comes, the
machine load before each, a summary of exit codes and wall times, and one table of every headline
figure the scripts reported (``figures.figure``) with its goal and the CPU model.

Usage::

    PYTHONPATH=src python benchmarks/run_all.py [--only NAME[,NAME...]] [--full]

``--full`` runs each script with its own defaults (plus :data:`FULL_EXTRA`, e.g. retraining every
offline scorer); without it the quick arguments below are used so
that the whole set finishes in minutes on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from figures import cpu_model, parse  # noqa: E402

# script -> quick arguments (None: the script is skipped unless named with --only or run with --full)
QUICK: dict[str, list[str] | None] = {
    "irr_bench.py": ["2000"],
    "bold_bench.py": [],
    "bench_shared_context.py": ["--questions", "20"],
    "bench_generate_batching.py": ["--prompts", "32", "--tokens", "32"],
    "bench_llamacpp.py": ["--prompts", "3", "--tokens", "32"],
    "bench_audit.py": ["--docs", "4000", "--skip-dask"],
    "bench_human_ratings.py": ["--seconds", "8", "--db", "sqlite,postgres"],
    "bench_rater_history.py": ["--history", "2000", "--ratings", "200"],
    "bench_human_import.py": ["--sizes", "500,2000"],
    "bench_study_levels.py": ["--ratings", "200"],
    "bench_pii_recall.py": [],
    "bench_scorer_validity.py": [],
    "bench_openai_client.py": ["--requests", "1000", "--repeats", "3"],
    "bench_judge_throughput.py": ["--items", "12", "--rounds", "2"],
    "bench_embeddings.py": ["--texts", "600"],
    "compare_lm_eval_truthfulqa.py": ["--limit", "100"],
}

# script -> arguments that only --full adds (the long checks a quick run leaves out)
FULL_EXTRA: dict[str, list[str]] = {"bench_scorer_validity.py": ["--all-probes"]}

# script -> environment variable it needs (set up by hand; the script's docstring says how). Without
# it the script is skipped and the summary says so, rather than failing a run of the others.
NEEDS_ENV: dict[str, str] = {"compare_lm_eval_truthfulqa.py": "LM_EVAL_PYTHON"}


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> int:
    """Run the benchmark scripts and return 0 when all of them succeeded."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated script names (with or without .py)")
    parser.add_argument("--full", action="store_true", help="run each script with its own defaults")
    args = parser.parse_args()
    wanted = {n if n.endswith(".py") else n + ".py" for n in args.only.split(",") if n}
    unknown = wanted - set(QUICK)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(QUICK)}")
    env = dict(os.environ)
    src = str(HERE.parent / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    summary: list[tuple[str, int, float]] = []
    figures: list[tuple[str, dict[str, object]]] = []
    for script, quick in QUICK.items():
        if wanted and script not in wanted:
            continue
        if not (HERE / script).exists():
            continue
        need = NEEDS_ENV.get(script)
        if need and not env.get(need):
            print(f"\n=== {script}: skipped, set {need} (see the script's docstring)", flush=True)
            summary.append((script, -1, 0.0))
            continue
        extra = FULL_EXTRA.get(script, []) if args.full or quick is None else quick
        cmd = [sys.executable, str(HERE / script), *extra]
        print(f"\n=== {script} {' '.join(extra)}  (load average {_load()})", flush=True)
        t0 = time.perf_counter()
        rc, found = _run(cmd, env)
        figures.extend((script, f) for f in found)
        summary.append((script, rc, time.perf_counter() - t0))
    print("\n=== summary")
    for script, rc, wall in summary:
        status = "ok" if rc == 0 else "skipped" if rc == -1 else f"FAILED (exit {rc})"
        print(f"{script:32s} {status:>16s} {wall:8.1f} s")
    print(f"\n=== figures (CPU: {cpu_model()}, {os.cpu_count()} logical cores)")
    print(_figure_table(figures))
    return 0 if all(rc in (0, -1) for _, rc, _ in summary) else 1


def _run(cmd: list[str], env: dict[str, str]) -> tuple[int, list[dict[str, object]]]:
    """Run one script, echoing its output as it comes, and collect the figures it reports."""
    found: list[dict[str, object]] = []
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            fig = parse(line.rstrip("\n"))
            if fig is not None:
                found.append(fig)
            print(line, end="", flush=True)
    return proc.returncode, found


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _figure_table(figures: list[tuple[str, dict[str, object]]]) -> str:
    """A Markdown table of every reported figure with its goal and whether it is met."""
    rows = ["| script | figure | value | goal | met | note |", "|---|---|---|---|---|---|"]
    for script, f in figures:
        met = {True: "yes", False: "NO", None: ""}[f.get("met")]  # type: ignore[index]
        value = f"{_fmt(f['value'])} {f.get('unit') or ''}".strip()
        goal, note = str(f.get("goal") or ""), str(f.get("note") or "")
        cells = [script.removesuffix(".py"), str(f["name"]), value, goal, met, note]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
