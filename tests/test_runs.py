from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

import tests.plugins.tinybench  # noqa: F401  (registers tiny-gen and tiny-ll)
from safetylens.errors import ConfigError, DataError
from safetylens.records import RECORD_SCHEMA, RESULTS_SCHEMA, GenerationRecord, SampleScore, as_scores
from safetylens.runs import RunDir, execute, rescore
from safetylens.spec import build_spec, load_spec_file
from tests.helpers import CountingBackend


def _spec(tmp_path: Path, **over: object) -> object:
    data = {
        "model": {"name": "counting"},
        "benchmarks": [{"name": "tiny-gen", "options": {"n": 10}}, {"name": "tiny-ll", "options": {"n": 5}}],
        "decoding": {"temperature": 0.0},
        "output_dir": str(tmp_path / "runs"),
    }
    data.update(over)
    return build_spec(data)


def test_run_writes_manifest_generations_scores_results(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    backend = CountingBackend()
    run = RunDir.create(spec)  # type: ignore[arg-type]
    results = execute(spec, backend, run)  # type: ignore[arg-type]
    assert set(results) == {"tiny-gen", "tiny-ll"}
    manifest = json.loads(run.manifest_path.read_text())
    assert manifest["model"]["backend"] == "counting"
    assert [b["name"] for b in manifest["benchmarks"]] == ["tiny-gen", "tiny-ll"]
    gen = manifest["benchmarks"][0]
    assert gen["decoding"]["max_new_tokens"] == 12 and gen["decoding"]["temperature"] == 0.0
    assert gen["open_choices"][0]["name"] == "max_new_tokens"
    assert manifest["software"]["python"]
    records = run.records()
    assert len(records) == 15
    assert all(r["rendered_prompt"] for r in records if r["benchmark"] == "tiny-gen")
    full = json.loads(run.results_path.read_text())
    assert next(iter(full)) == "manifest"  # the manifest heads results.json
    assert full["manifest"]["run_id"] == run.path.name
    est = full["results"]["tiny-gen"]["headline"]["mean_chars"]
    assert est["ci_low"] <= est["value"] <= est["ci_high"] and est["n"] == 10
    assert len(run.scores()) == 10


def test_second_run_comes_from_cache_and_equals_first(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    b1 = CountingBackend()
    r1 = execute(spec, b1, RunDir.create(spec))  # type: ignore[arg-type]
    b2 = CountingBackend()
    r2 = execute(spec, b2, RunDir.create(spec))  # type: ignore[arg-type]
    assert b2.generate_calls == [] and b2.loglikelihood_calls == []
    assert r1["tiny-gen"].extra == r2["tiny-gen"].extra
    assert r1["tiny-ll"].extra == r2["tiny-ll"].extra


def test_resume_after_partial_generations(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    run = RunDir.create(spec)  # type: ignore[arg-type]
    reference = execute(spec, CountingBackend(), RunDir.create(spec))  # type: ignore[arg-type]
    # a crashed run: manifest, 4 complete lines and a line cut in the middle
    execute(spec, CountingBackend(), run)  # type: ignore[arg-type]
    lines = run.generations_path.read_text().splitlines(keepends=True)
    run.generations_path.write_text("".join(lines[:4]) + lines[4][:20])
    run.results_path.unlink()
    resumed = execute(spec, CountingBackend(), run, resume=True)  # type: ignore[arg-type]
    assert len(run.records()) == 15
    assert resumed["tiny-gen"].extra == reference["tiny-gen"].extra
    assert resumed["tiny-ll"].extra == reference["tiny-ll"].extra


def test_resume_refuses_a_different_model(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    run = RunDir.create(spec)  # type: ignore[arg-type]
    execute(spec, CountingBackend(), run)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="model identity changed"):
        execute(spec, CountingBackend(version="2"), run, resume=True)  # type: ignore[arg-type]


def test_rescore_changes_only_scoring_options(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    backend = CountingBackend()
    run = RunDir.create(spec)  # type: ignore[arg-type]
    execute(spec, backend, run)  # type: ignore[arg-type]
    calls = list(backend.generate_calls)
    res = rescore(run, {"tiny-gen": {"min_chars": 1000}})
    assert res["tiny-gen"].metrics["empty_pct"].value == 100.0
    assert backend.generate_calls == calls
    assert json.loads(run.manifest_path.read_text())["benchmarks"][0]["options"]["min_chars"] == 1000
    assert len(list((run.path / "history").iterdir())) == 2
    with pytest.raises(ConfigError, match="changes generations"):
        rescore(run, {"tiny-gen": {"max_new_tokens": 3}})
    with pytest.raises(ConfigError, match="not in this run"):
        rescore(run, {"bold": {"classifier": "x"}})


def test_unknown_option_and_benchmark_are_clear_errors(tmp_path: Path) -> None:
    spec = _spec(tmp_path, benchmarks=[{"name": "tiny-gen", "options": {"bogus": 1}}])
    with pytest.raises(ConfigError, match="bogus"):
        execute(spec, CountingBackend(), RunDir.create(spec))  # type: ignore[arg-type]
    spec = _spec(tmp_path, benchmarks=[{"name": "no-such-bench"}])
    with pytest.raises(ConfigError, match="unknown benchmark"):
        execute(spec, CountingBackend(), RunDir.create(spec))  # type: ignore[arg-type]


def test_config_files_toml_yaml_and_errors(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        'limit = 3\n[model]\nname = "builtin"\n[benchmarks.truthfulqa]\nmax_new_tokens = 40\n'
        "[decoding]\ntemperature = 0.0\n"
    )
    spec = build_spec(load_spec_file(toml))
    assert spec.limit == 3 and spec.benchmarks[0].name == "truthfulqa"
    assert spec.benchmarks[0].options == {"max_new_tokens": 40}
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("model:\n  name: ./m\nbenchmarks:\n  - name: bold\n    options: {sample: 5}\n")
    assert build_spec(load_spec_file(yaml_file)).benchmarks[0].options == {"sample": 5}
    bad = tmp_path / "bad.toml"
    bad.write_text("limit = [\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_spec_file(bad)
    with pytest.raises(ConfigError, match=r"decoding\.top_p"):
        build_spec({"decoding": {"top_p": 3}})
    with pytest.raises(ConfigError, match="not found"):
        load_spec_file(tmp_path / "missing.toml")
    spec2 = build_spec({"model": {"name": "x"}})
    with pytest.raises(Exception, match="frozen"):
        spec2.limit = 5  # type: ignore[misc]


def test_create_at_uses_the_given_directory_and_refuses_an_existing_run(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    target = tmp_path / "exact" / "demo"
    run = RunDir.create_at(target)
    assert run.path == target and target.is_dir()
    execute(spec, CountingBackend(), run)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"already holds a run.*safetylens resume"):
        RunDir.create_at(target)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        RunDir.create_at(tmp_path / "file")


def test_records_scores_and_results_are_typed_and_versioned_on_disk(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    run = RunDir.create(spec)  # type: ignore[arg-type]
    execute(spec, CountingBackend(), run)  # type: ignore[arg-type]
    lines = [json.loads(line) for line in run.generations_path.read_text().splitlines()]
    assert lines and all(line["schema_version"] == RECORD_SCHEMA for line in lines)
    records = run.records()
    assert [r.to_json() for r in records] == lines
    gen = [r for r in records if r.benchmark == "tiny-gen"]
    ll = [r for r in records if r.benchmark == "tiny-ll"]
    assert len(gen) == 10 and len(ll) == 5
    assert all(r.is_generation and r.request_text == r.prompt and r.decoding for r in gen)
    assert all(not r.is_generation and r.completion == "" and len(r.logprobs) == 2 and r.contexts for r in ll)
    assert ll[0].loglikelihood and [c.continuation for c in ll[0].loglikelihood] == [" yes", " certainly not"]
    # tiny-gen's score() returns plain dicts: they are attributed to it and typed.
    scores = run.scores()
    assert [s.to_json() for s in scores] == [json.loads(line) for line in run.scores_path.read_text().splitlines()]
    by_id = {s.id: s for s in scores}
    assert all(s.benchmark == "tiny-gen" for s in scores)
    assert all(by_id[r.id].number("chars") == len(r.completion) and not by_id[r.id].flag("empty") for r in gen)
    results = run.results()
    assert results is not None and results.schema_version == RESULTS_SCHEMA
    assert results.manifest.run_id == run.path.name and results.results["tiny-gen"].n_samples == 10
    assert json.loads(run.results_path.read_text())["schema_version"] == RESULTS_SCHEMA


def test_record_accessors_and_their_errors() -> None:
    chat = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    rec = GenerationRecord(benchmark="b", id="1", meta={"k": 1}, prompt=chat, output="  ")
    assert rec.request_text == "second" and rec.completion == "  " and rec.logprobs == []
    assert GenerationRecord(benchmark="b", id="2").request_text == ""
    # The mapping view shows the JSON form: fields never set are absent.
    assert dict(rec) == rec.to_json() and "output" in rec and "contexts" not in rec
    assert rec.get("contexts", "absent") == "absent"
    with pytest.raises(KeyError):
        rec["contexts"]
    with pytest.raises(DataError, match="invalid generation record"):
        GenerationRecord.from_json({"id": "x"})
    with pytest.raises(DataError, match="invalid schema_version"):
        GenerationRecord.from_json({"id": "x", "benchmark": "b", "schema_version": "1"})

    class Meta(BaseModel):
        k: int
        name: str

    with pytest.raises(DataError, match="record 1 has unexpected metadata"):
        rec.meta_as(Meta)

    score = SampleScore(id="1", benchmark="b", values={"label": "refusal", "p": 0.25, "hit": True})
    assert score.text("label") == "refusal" and score.number("p") == 0.25 and score.flag("hit") is True
    assert (
        {**score}
        == score.to_json()
        == {
            "id": "1",
            "label": "refusal",
            "p": 0.25,
            "hit": True,
            "benchmark": "b",
            "schema_version": RECORD_SCHEMA,
        }
    )
    assert score.has("p") and not score.has("missing") and score.flag("missing", default=True) is True
    assert not SampleScore(id="2", benchmark="b", values={"true": None}).has("true")
    with pytest.raises(DataError, match="is not a number"):
        score.number("label")
    with pytest.raises(DataError, match="score of 1 has no 'missing'"):
        score.flag("missing")
    with pytest.raises(DataError, match="invalid score record"):
        SampleScore.from_json({"benchmark": "b", "x": 1})
    assert as_scores([{"id": "9", "x": 1}], "tiny")[0] == SampleScore(id="9", benchmark="tiny", values={"x": 1})
    assert as_scores([score], "other")[0] is score
