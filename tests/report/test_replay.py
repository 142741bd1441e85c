"""`safetylens replay` on tiny runs: exact match for greedy runs, CI rule for sampled ones, mismatches caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safetylens.errors import ConfigError
from safetylens.report.replay import diff_estimates, replay
from safetylens.stats.ci import Estimate
from tests.helpers import CountingBackend

from .conftest import ChattyBackend, tiny_run


def test_greedy_replay_matches_exactly_and_recomputes(tmp_path: Path) -> None:
    run = tiny_run(tmp_path)
    backend = CountingBackend()
    res = replay(run, tmp_path / "replays", backend=backend)
    assert res.ok and res.mismatches == []
    assert backend.generate_calls and backend.loglikelihood_calls  # recomputed, not read from the cache
    assert {d.rule for d in res.diffs} == {"exact"}
    paths = {d.path for d in res.diffs}
    assert {"headline.mean_chars", "metrics.empty_pct", "headline.first_preferred"} <= paths
    assert res.generations_compared == 10 and res.generations_differing == 0
    assert res.replay.parent == tmp_path / "replays" and res.replay.name.startswith(run.name + "-replay-")
    manifest = json.loads((res.replay / "manifest.json").read_text())
    assert manifest["spec"]["use_cache"] is False


def test_replay_refuses_another_model_and_catches_different_numbers(tmp_path: Path) -> None:
    run = tiny_run(tmp_path)
    with pytest.raises(ConfigError, match="model model: 'counting' in the manifest, 'chatty' now"):
        replay(run, tmp_path / "replays", backend=ChattyBackend(name="chatty"))
    res = replay(run, tmp_path / "replays", backend=ChattyBackend(name="chatty"), force=True)
    assert not res.ok and res.generations_differing > 0
    bad = {d.path for d in res.mismatches}
    assert "headline.mean_chars" in bad and all(d.benchmark == "tiny-gen" for d in res.mismatches)


def test_sampled_runs_use_the_ci_rule(tmp_path: Path) -> None:
    run = tiny_run(tmp_path, temperature=0.7)
    res = replay(run, tmp_path / "replays", backend=CountingBackend())
    rules = {d.benchmark: d.rule for d in res.diffs}
    assert rules == {"tiny-gen": "within-ci", "tiny-ll": "exact"}  # log-likelihoods do not sample
    assert res.ok


def test_diff_rules() -> None:
    a = Estimate(value=10.0, ci_low=8.0, ci_high=12.0, n=50)
    assert diff_estimates("b", "x", a, a.model_copy(update={"value": 11.9}), "within-ci").ok
    assert not diff_estimates("b", "x", a, a.model_copy(update={"value": 12.5}), "within-ci").ok
    assert not diff_estimates("b", "x", a, a.model_copy(update={"value": 10.0 + 1e-12}), "exact").ok
    assert diff_estimates("b", "x", a, a.model_copy(update={"n": 49}), "within-ci").why == "n 50 vs 49"
    assert diff_estimates("b", "x", a, None, "exact").why == "missing in the replay"


def test_replay_cli_exits_non_zero_on_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from safetylens.cli import app

    run = tiny_run(tmp_path)
    # The CLI loads the model the manifest names; "counting" is a test backend, so serve it from here.
    import safetylens.models as models

    backends = iter([CountingBackend(), ChattyBackend(name="counting")])
    monkeypatch.setattr(models, "load_backend", lambda spec: next(backends))
    ok = CliRunner().invoke(app, ["replay", str(run), "--output", str(tmp_path / "r")], env={"COLUMNS": "200"})
    assert ok.exit_code == 0, ok.output
    assert "replay matches" in ok.output
    bad = CliRunner().invoke(app, ["replay", str(run), "--output", str(tmp_path / "r")], env={"COLUMNS": "200"})
    assert bad.exit_code == 1
    assert "MISMATCH" in bad.output and "headline.mean_chars" in bad.output
