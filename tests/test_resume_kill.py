"""A run killed with SIGKILL at several points and resumed equals an uninterrupted run, with no repeated work.

Runs the real CLI in subprocesses on the built-in model, greedy, with the `tiny-gen` test benchmark.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
N = 12
BATCH = 2
PY = [sys.executable, "-m", "safetylens"]
ARGS = [
    "--model",
    "builtin",
    "--benchmark",
    "tiny-gen",
    "--temperature",
    "0",
    "--batch-size",
    str(BATCH),
    "--option",
    f"tiny-gen.n={N}",
    "--option",
    "tiny-gen.max_new_tokens=10",
]


def _env(cache: Path, log: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SAFETYLENS_PLUGINS="tests.plugins.tinybench",
        SAFETYLENS_CACHE=str(cache),
        SAFETYLENS_CALL_LOG=str(log),
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")]),
    )
    return env


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def _run(cmd: list[str], env: dict[str, str], cwd: Path, kill_when: Callable[[], bool] | None = None) -> None:
    """Run a command to completion, or SIGKILL it as soon as `kill_when()` holds."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if kill_when is None:
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, out.decode()
        return
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if kill_when():
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            return
        if proc.poll() is not None:
            output = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"run ended before it could be killed:\n{output}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("timed out waiting for the run to make progress")


def _cache_keys(cache: Path) -> set[str]:
    with sqlite3.connect(cache) as conn:
        return {k for (k,) in conn.execute("SELECT key FROM entries")}


def _attempts(log: Path) -> list[list[str]]:
    """Keys sent to the model, grouped by process (one group per attempt)."""
    attempts: list[list[str]] = []
    pid = None
    for line in log.read_text().splitlines():
        batch = json.loads(line)
        if batch["pid"] != pid:
            attempts.append([])
            pid = batch["pid"]
        attempts[-1].extend(batch["keys"])
    return attempts


def _only_run(parent: Path) -> Path:
    runs = [p for p in parent.iterdir()] if parent.exists() else []
    return runs[0] if len(runs) == 1 else Path("/nonexistent")


@pytest.mark.model
def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    ref_parent = tmp_path / "ref"
    _run(
        [*PY, "run", *ARGS, "--output", str(ref_parent)],
        _env(tmp_path / "ref.sqlite", tmp_path / "ref.jsonl"),
        tmp_path,
    )
    reference = json.loads((_only_run(ref_parent) / "results.json").read_text())["results"]["tiny-gen"]

    parent, cache, log = tmp_path / "runs", tmp_path / "run.sqlite", tmp_path / "calls.jsonl"
    env = _env(cache, log)
    committed: list[set[str]] = []
    # attempt 1: killed once 3 samples are saved
    _run(
        [*PY, "run", *ARGS, "--output", str(parent)],
        env,
        tmp_path,
        kill_when=lambda: _lines(_only_run(parent) / "generations.jsonl") >= 3,
    )
    run_dir = _only_run(parent)
    gens = run_dir / "generations.jsonl"
    committed.append(_cache_keys(cache))
    # attempt 2: resumed, killed again once 7 samples are saved
    _run([*PY, "resume", str(run_dir)], env, tmp_path, kill_when=lambda: _lines(gens) >= 7)
    committed.append(_cache_keys(cache))
    # attempt 3: resumed to the end
    _run([*PY, "resume", str(run_dir)], env, tmp_path)

    result = json.loads((run_dir / "results.json").read_text())["results"]["tiny-gen"]
    assert result["extra"]["outputs"] == reference["extra"]["outputs"]  # the same text for every sample
    assert result["headline"] == reference["headline"]
    ids = sorted(json.loads(x)["id"] for x in gens.read_text().splitlines())
    assert ids == [f"p{i:02d}" for i in range(N)]  # no sample lost or duplicated

    attempts = _attempts(log)
    assert len(attempts) == 3
    for i, done in enumerate(committed):  # answers committed before a kill never go to the model again
        for later in attempts[i + 1 :]:
            assert not done & set(later)
    sent = sum(len(a) for a in attempts)
    # At most the wave in flight at each kill is repeated: a batch for each batch decoded at once.
    workers = json.loads((run_dir / "manifest.json").read_text())["model"]["info"]["decode_workers"]
    assert N <= sent <= N + 2 * BATCH * workers
    assert len(_cache_keys(cache)) == N
