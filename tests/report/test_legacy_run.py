"""A run written before records were versioned loads, re-aggregates and reports with every number the same.

``tests/fixtures/legacy-run`` was written by an earlier safetylens (see tests/fixtures/README.md): its
generation, score and results files have no ``schema_version``. Every test works on a copy, so nothing
writes into the repository.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safetylens.benchmarks.base import BenchmarkContext, get
from safetylens.cli import app
from safetylens.datasets.registry import DataStore
from safetylens.errors import ConfigError, DataError
from safetylens.models.base import Decoding
from safetylens.records import (
    RECORD_SCHEMA,
    RESULTS_SCHEMA,
    BenchmarkResult,
    GenerationRecord,
    RunResults,
    SampleScore,
)
from safetylens.report.compare import compare_runs
from safetylens.report.load import load_run
from safetylens.report.replay import iter_numbers
from safetylens.runs import RunDir, execute, rescore
from safetylens.spec import Manifest, ResolvedBenchmark
from safetylens.stats.ci import Estimate
from tests.helpers import CountingBackend

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-run"
FIXTURE_SOURCE = "/tmp/sl_head/src/safetylens"
"""Where the package lay when the fixture was written."""
BENCHMARKS = ["xstest", "bold", "truthfulqa-mc", "truthfulqa", "safety"]


@pytest.fixture
def legacy(tmp_path: Path, shared_data_dir: Path) -> Path:
    dest = tmp_path / "legacy-run"
    shutil.copytree(FIXTURE, dest)
    return dest


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _stored() -> dict[str, BenchmarkResult]:
    data = json.loads((FIXTURE / "results.json").read_text(encoding="utf-8"))
    return {k: BenchmarkResult.model_validate(v) for k, v in data["results"].items()}


def _exact(x: float | None) -> str:
    # repr keeps every digit, and makes the undefined interval of a one-sample group (nan) equal to itself.
    return repr(x)


EMBEDDING_PROBABILITIES = ("p_refusal", "p_violation")
"""The offline refusal and harm scorers' probabilities: they come from sentence embeddings, whose last bits
depend on the CPU's vector width (the order of a float sum)."""


def _close_floats(obj: dict[str, object]) -> dict[str, object]:
    # Every other field, and every reported number, stays exact.
    return {k: pytest.approx(v, rel=1e-6) if k in EMBEDDING_PROBABILITIES else v for k, v in obj.items()}


def _numbers(res: BenchmarkResult) -> dict[str, tuple[str, str, str, int]]:
    return {path: (_exact(e.value), _exact(e.ci_low), _exact(e.ci_high), e.n) for path, e in iter_numbers(res)}


RESCORED_BY_A_NEWER_JUDGE = {"safety": ("harm/offline", "1")}
"""Benchmarks whose fixture scores came from a shipped scorer that has a newer version now: the
fixture's safety answers were rated by ``harm/offline`` version 1. Scoring them again uses the judge
installed now, so their scores and numbers are that judge's, and the run records it; the stored ones
still load and re-aggregate exactly (:func:`test_reaggregating_old_records_gives_the_stored_numbers`)."""


def _assert_same_numbers(
    got: dict[str, BenchmarkResult], want: dict[str, BenchmarkResult], *, scored_again: bool = False
) -> None:
    assert list(got) == list(want)
    for name in want:
        assert got[name].n_samples == want[name].n_samples
        if scored_again and name in RESCORED_BY_A_NEWER_JUDGE:
            assert set(_numbers(got[name])) == set(_numbers(want[name])), name
            continue
        expected = _numbers(want[name])
        assert expected, f"{name}: the fixture has no numbers to compare"
        assert _numbers(got[name]) == expected, name


def _context(run_dir: Path, manifest: Manifest, resolved: ResolvedBenchmark) -> BenchmarkContext:
    bench = get(resolved.name)
    return BenchmarkContext(
        options=bench.parse_options(resolved.options),
        decoding=Decoding.model_validate({**resolved.decoding, "stop": tuple(resolved.decoding.get("stop", ()))}),
        chat=resolved.chat,
        limit=manifest.spec.limit,
        data=DataStore(),
        run_dir=run_dir,
        seed=manifest.spec.decoding.seed,
    )


def test_the_fixture_is_unversioned() -> None:
    """The point of the fixture: it was written before records carried a schema version."""
    assert not any("schema_version" in r for r in _lines(FIXTURE / "generations.jsonl"))
    assert not any("schema_version" in s for s in _lines(FIXTURE / "scores.jsonl"))
    assert "schema_version" not in json.loads((FIXTURE / "results.json").read_text(encoding="utf-8"))


def test_old_files_load_as_typed_records_and_keep_their_shape(legacy: Path) -> None:
    run = RunDir.open(legacy)
    records, scores, results = run.records(), run.scores(), run.results()
    assert results is not None and list(results.results) == BENCHMARKS
    assert {r.benchmark for r in records} == set(BENCHMARKS)
    for b in results.manifest.benchmarks:
        assert sum(r.benchmark == b.name for r in records) == b.n_samples
    assert all(r.output is not None for r in records if r.benchmark != "truthfulqa-mc")
    mc = [r for r in records if r.benchmark == "truthfulqa-mc"]
    assert mc and all(r.loglikelihood and len(r.logprobs) == len(r.loglikelihood) for r in mc)
    # Read and written again, every line is the same JSON plus the schema version.
    for obj, rec in zip(_lines(legacy / "generations.jsonl"), records, strict=True):
        assert rec.to_json() == {**obj, "schema_version": RECORD_SCHEMA}
    for obj, score in zip(_lines(legacy / "scores.jsonl"), scores, strict=True):
        assert score.to_json() == {**obj, "schema_version": RECORD_SCHEMA}
    raw = json.loads((legacy / "results.json").read_text(encoding="utf-8"))
    assert results.to_json() == {**raw, "schema_version": RESULTS_SCHEMA}


def test_reaggregating_old_records_gives_the_stored_numbers(legacy: Path) -> None:
    run = RunDir.open(legacy)
    manifest = run.manifest()
    records, scores = run.records(), run.scores()
    got = {}
    for resolved in manifest.benchmarks:
        ctx = _context(legacy, manifest, resolved)
        mine = [r for r in records if r.benchmark == resolved.name]
        theirs = [s for s in scores if s.benchmark == resolved.name]
        got[resolved.name] = get(resolved.name).aggregate(ctx, mine, theirs)
    _assert_same_numbers(got, _stored())


def _assert_newer_judge_recorded(run_dir: Path) -> None:
    """The judges that scored the run again are the ones its manifest now names, not the fixture's."""
    old = {s["id"]: s["version"] for s in json.loads((FIXTURE / "manifest.json").read_text())["scorers"] if s}
    new = {s.id: s.version for s in RunDir.open(run_dir).manifest().scorers if s}
    for scorer, version in RESCORED_BY_A_NEWER_JUDGE.values():
        assert old[scorer] == version and new[scorer] != version


def test_rescoring_an_old_run_gives_the_same_numbers_and_versioned_scores(legacy: Path) -> None:
    before = _lines(legacy / "scores.jsonl")
    results = rescore(RunDir.open(legacy), {})
    _assert_same_numbers(results, _stored(), scored_again=True)
    _assert_newer_judge_recorded(legacy)
    after = _lines(legacy / "scores.jsonl")
    assert [(s["benchmark"], s["id"]) for s in after] == [(s["benchmark"], s["id"]) for s in before]
    same = [(a, b) for a, b in zip(after, before, strict=True) if b["benchmark"] not in RESCORED_BY_A_NEWER_JUDGE]
    assert same and [a for a, _ in same] == [_close_floats({**b, "schema_version": RECORD_SCHEMA}) for _, b in same]
    rejudged = [a for a in after if a["benchmark"] in RESCORED_BY_A_NEWER_JUDGE]
    assert rejudged and all(a["judge"] == "harm/offline" and 1 <= int(str(a["rating"])) <= 5 for a in rejudged)
    assert json.loads((legacy / "results.json").read_text(encoding="utf-8"))["schema_version"] == RESULTS_SCHEMA


def test_resuming_an_old_run_appends_versioned_records_and_gives_the_same_numbers(legacy: Path) -> None:
    # The fixture's manifest names the category mapping by the absolute path of the checkout that
    # wrote it (FIXTURE_SOURCE); resuming here, elsewhere, must not depend on that.
    assert FIXTURE_SOURCE in (legacy / "manifest.json").read_text(encoding="utf-8")
    lines = (legacy / "generations.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (legacy / "generations.jsonl").write_text("".join(lines[:3]), encoding="utf-8")
    (legacy / "results.json").unlink()
    run = RunDir.open(legacy)
    results = execute(run.manifest().spec, CountingBackend(), run, resume=True)
    _assert_same_numbers(results, _stored(), scored_again=True)
    _assert_newer_judge_recorded(legacy)
    mixed = _lines(legacy / "generations.jsonl")
    assert len(mixed) == len(lines)
    assert ["schema_version" in r for r in mixed] == [False] * 3 + [True] * (len(lines) - 3)
    # The regenerated lines are the old ones, now versioned.
    old = {(o["benchmark"], o["id"]): o for o in _lines(FIXTURE / "generations.jsonl")}
    for r in mixed[3:]:
        assert r == {**old[(r["benchmark"], r["id"])], "schema_version": RECORD_SCHEMA}


def test_show_report_and_compare_read_the_old_run(legacy: Path, tmp_path: Path) -> None:
    loaded = load_run(legacy)
    _assert_same_numbers(loaded.results, _stored())
    runner = CliRunner()
    res = runner.invoke(app, ["show", str(legacy), "--json"])
    assert res.exit_code == 0, res.output
    shown = RunResults.from_json(json.loads(res.stdout))
    _assert_same_numbers(shown.results, _stored())
    res = runner.invoke(app, ["show", str(legacy)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    for name, result in _stored().items():
        assert f"{name} (n={result.n_samples})" in res.output
        for key, est in result.headline.items():
            assert re.search(rf"{re.escape(key)}\s+│\s+{est.value:.2f}{re.escape(est.unit)}", res.output), key
    out = tmp_path / "report"
    res = runner.invoke(app, ["report", str(legacy), "--format", "md", "--output", str(out)])
    assert res.exit_code == 0, res.output
    page = (out / "report.md").read_text(encoding="utf-8")
    assert f"{_stored()['truthfulqa-mc'].headline['mc1'].value:.4f}" in page
    same = compare_runs(legacy, legacy, n_resamples=200)
    assert same.rows and not same.differences
    assert all(r.result.n > 0 and r.result.diff.value == 0 for r in same.rows)


def test_records_of_a_newer_schema_are_refused(legacy: Path) -> None:
    obj = _lines(legacy / "generations.jsonl")[0]
    with pytest.raises(DataError, match="newer safetylens"):
        GenerationRecord.from_json({**obj, "schema_version": RECORD_SCHEMA + 1})
    score = _lines(legacy / "scores.jsonl")[0]
    with pytest.raises(DataError, match="newer safetylens"):
        SampleScore.from_json({**score, "schema_version": RECORD_SCHEMA + 1})
    raw = json.loads((legacy / "results.json").read_text(encoding="utf-8"))
    (legacy / "results.json").write_text(json.dumps({**raw, "schema_version": RESULTS_SCHEMA + 1}))
    with pytest.raises(ConfigError, match="newer safetylens"):
        load_run(legacy)


def test_estimates_are_compared_exactly() -> None:
    """The comparison helper fails on a changed number (so the tests above can fail)."""
    want = _stored()
    xs = want["xstest"]
    est = next(iter(xs.headline.values()))
    bumped = est.model_copy(update={"value": (est.value or 0.0) + 1e-9})
    changed = xs.model_copy(update={"headline": {**xs.headline, next(iter(xs.headline)): bumped}})
    with pytest.raises(AssertionError):
        _assert_same_numbers({**want, "xstest": changed}, want)
    assert isinstance(est, Estimate)
