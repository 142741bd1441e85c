"""`safetylens compare`: paired differences per metric and group, and refusal when runs differ."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.errors import ConfigError
from safetylens.report.compare import compare_runs
from safetylens.runs import RunDir
from safetylens.stats.paired import holm, mcnemar_midp

from .conftest import ChattyBackend, tiny_run


def _outcomes(path: Path) -> dict[str, dict[str, float]]:
    scores = {s["id"]: s for s in RunDir(path).scores() if s["benchmark"] == "tiny-gen"}
    return {i: {"chars": float(s["chars"]), "long": float(s["chars"] >= 20)} for i, s in scores.items()}


def test_compare_two_models_on_the_same_samples(tmp_path: Path) -> None:
    a = tiny_run(tmp_path, out="a")
    b = tiny_run(tmp_path, out="b", backend=ChattyBackend(name="chatty"))
    comp = compare_runs(a, b, n_resamples=2000)
    assert comp.differences == []
    assert comp.notes == ["tiny-ll: the benchmark does not report per-sample outcomes; no paired comparison"]
    rows = {(r.metric, r.breakdown, r.group): r.result for r in comp.rows}
    assert set(rows) == {
        (m, b_, g) for m in ("chars", "long") for b_, g in (("all", "all"), ("parity", "even"), ("parity", "odd"))
    }
    oa, ob = _outcomes(a), _outcomes(b)
    ids = sorted(oa)
    chars = rows[("chars", "all", "all")]
    assert chars.test == "paired-bootstrap" and chars.n == 10
    assert chars.diff.value == pytest.approx(np.mean([ob[i]["chars"] - oa[i]["chars"] for i in ids]))
    assert chars.diff.ci_low <= chars.diff.value <= chars.diff.ci_high
    long = rows[("long", "all", "all")]
    b_only = sum(1 for i in ids if oa[i]["long"] == 1 and ob[i]["long"] == 0)
    c_only = sum(1 for i in ids if oa[i]["long"] == 0 and ob[i]["long"] == 1)
    assert (
        long.binary
        and long.discordant == (b_only, c_only)
        and long.p_value == pytest.approx(mcnemar_midp(b_only, c_only))
    )
    # Holm across the groups of a breakdown.
    even, odd = rows[("chars", "parity", "even")], rows[("chars", "parity", "odd")]
    assert [even.p_holm, odd.p_holm] == pytest.approx(holm([even.p_value, odd.p_value]))
    assert even.n + odd.n == 10
    assert chars.diff.value > 0 and long.discordant[1] > 0  # the chatty model really differs


def test_compare_refuses_other_protocol_and_samples_and_says_what_differs(tmp_path: Path) -> None:
    a = tiny_run(tmp_path, out="a")
    b = tiny_run(tmp_path, out="b", temperature=0.5, n=8)
    with pytest.raises(ConfigError) as err:
        compare_runs(a, b, n_resamples=500)
    msg = err.value.message
    assert "tiny-gen.options.n: 10 in A, 8 in B" in msg
    assert "tiny-gen.decoding.temperature: 0.0 in A, 0.5 in B" in msg
    assert "tiny-ll.decoding.temperature: 0.0 in A, 0.5 in B" in msg
    assert "tiny-gen: 2 sample(s) only in A (first: p08)" in msg
    assert err.value.hint == "compare anyway on the shared samples with --force"
    forced = compare_runs(a, b, force=True, n_resamples=500)
    assert forced.forced and len(forced.differences) == 4
    assert next(r for r in forced.rows if r.group == "all").result.n == 8


def test_compare_cli_prints_table_and_writes_json(tmp_path: Path) -> None:
    a = tiny_run(tmp_path, out="a")
    b = tiny_run(tmp_path, out="b", backend=ChattyBackend(name="chatty"))
    out = tmp_path / "cmp.json"
    res = CliRunner().invoke(
        app, ["compare", str(a), str(b), "--resamples", "500", "--json", str(out)], env={"COLUMNS": "250"}
    )
    assert res.exit_code == 0, res.output
    assert "paired-bootstrap" in res.output and "parity:even" in res.output and "mcnemar-midp" in res.output
    data = json.loads(out.read_text())
    assert data["direction"] == "B - A" and len(data["rows"]) == 6
    refused = CliRunner().invoke(app, ["compare", str(a), str(tiny_run(tmp_path, out="c", n=9))])
    assert isinstance(refused.exception, ConfigError) and "1 sample(s) only in A" in refused.exception.message
