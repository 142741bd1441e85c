"""BOLD scoring (real VADER, a real probe classifier) and aggregation on synthetic scores."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from safetylens.benchmarks.base import BenchmarkContext, BenchmarkResult
from safetylens.benchmarks.bold import (
    Bold,
    BoldOptions,
    join_prompt_and_generation,
    load_toxicity_classifier,
    pooled_estimate,
    spread_estimate,
    subgroup_estimate,
)
from safetylens.datasets.registry import DataStore
from safetylens.errors import ConfigError, DataError
from safetylens.models.base import Decoding
from safetylens.reference.bold import COLUMNS, DOMAINS, TABLE_NUMBERS
from safetylens.scorers.base import TextClassifier
from safetylens.scorers.probe import ProbeClassifier, train_probe
from safetylens.scorers.vader import load_vader
from safetylens.stats.ci import bootstrap_mean, proportion


def _ctx(tmp_path: Path, chat: bool = True, **opts: Any) -> BenchmarkContext:
    return BenchmarkContext(
        options=BoldOptions(**opts),
        decoding=Decoding(),
        chat=chat,
        limit=None,
        data=DataStore([tmp_path]),
        run_dir=tmp_path,
    )


def _record(domain: str, subgroup: str, entity: str, index: int, output: str, prompt_text: str = "X is ", **kw: Any):
    rid = f"{domain}/{subgroup}/{entity}/{index}"
    chat = kw.pop("chat", True)
    rep = kw.pop("generation", None)
    meta: dict[str, Any] = {
        "domain": domain,
        "subgroup": subgroup,
        "entity": entity,
        "index": index,
        "prompt_text": prompt_text,
    }
    if rep is not None:
        meta["generation"] = rep
        rid = rid if rep == 0 else f"{rid}#{rep}"
    return {
        "benchmark": "bold",
        "id": rid,
        "meta": meta,
        "prompt": [{"role": "user", "content": prompt_text}] if chat else prompt_text,
        "output": output,
    }


def _synthetic(values: dict[tuple[str, str], list[float]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Records and scores with the given sentiment per (domain, subgroup); one entity per 3 prompts."""
    records, scores = [], []
    for (domain, subgroup), vals in values.items():
        for i, v in enumerate(vals):
            rec = _record(domain, subgroup, f"E{i // 3}", i % 3, "output")
            records.append(rec)
            scores.append({"id": rec["id"], "sentiment": v})
    return records, scores


def test_join_prompt_and_generation() -> None:
    assert join_prompt_and_generation("Kim was a ", "philosopher.", chat=False) == "Kim was a philosopher."
    assert join_prompt_and_generation("Kim was a", "philosopher", chat=False) == "Kim was aphilosopher"
    assert join_prompt_and_generation("Kim was a", "Sure! He was", chat=True) == "Kim was a Sure! He was"
    assert join_prompt_and_generation("Kim was a ", "Sure!", chat=True) == "Kim was a Sure!"
    assert join_prompt_and_generation("Kim was a", "\nSure!", chat=True) == "Kim was a\nSure!"
    assert join_prompt_and_generation("", "Sure!", chat=True) == "Sure!"
    assert join_prompt_and_generation("Kim ", "", chat=True) == "Kim "


def test_score_uses_vader_on_prompt_and_generation(tmp_path: Path) -> None:
    vader = load_vader()
    bench = Bold()
    records = [
        _record("race", "Asian_Americans", "A", 0, "a wonderful, kind and brilliant man.", "Kim was "),
        _record("race", "Asian_Americans", "A", 1, "convicted of murder.", "He was ", chat=False),
        _record("race", "Asian_Americans", "A", 2, "", "A terrible disaster struck "),
    ]
    scores = bench.score(_ctx(tmp_path), records)
    assert [s["id"] for s in scores] == [r["id"] for r in records]
    texts = [
        "Kim was a wonderful, kind and brilliant man.",
        "He was convicted of murder.",
        "A terrible disaster struck ",
    ]
    for s, text in zip(scores, texts, strict=True):
        assert s["sentiment"] == vader.compound(text)
        assert s["vader"] == vader.polarity(text)
    assert scores[0]["sentiment"] > 0.5 and scores[1]["sentiment"] < -0.5 and scores[2]["sentiment"] < 0

    alone = bench.score(_ctx(tmp_path, vader_text="generation"), records)
    assert [s["sentiment"] for s in alone] == [vader.compound(r["output"]) for r in records]
    assert alone[2]["sentiment"] == 0.0  # an empty generation is neutral on its own

    posneg = bench.score(_ctx(tmp_path, vader_score="pos-neg"), records)
    for s, text in zip(posneg, texts, strict=True):
        pol = vader.polarity(text)
        assert s["sentiment"] == pytest.approx(pol["pos"] - pol["neg"])


def test_subgroup_means_and_intervals(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = {
        ("race", "Asian_Americans"): list(rng.normal(0.4, 0.3, 40)),
        ("race", "African_Americans"): list(rng.normal(0.3, 0.3, 30)),
        ("race", "European_Americans"): list(rng.normal(0.0, 0.3, 50)),  # neutral
        ("race", "Hispanic_and_Latino_Americans"): list(rng.normal(-0.4, 0.3, 20)),
    }
    records, scores = _synthetic(values)
    res = Bold().aggregate(_ctx(tmp_path, domains=("race",), bootstrap_resamples=2000), records, scores)
    assert res.n_samples == 140
    for (domain, subgroup), vals in values.items():
        est = res.breakdowns["subgroup"][f"{domain}/{subgroup}"]["sentiment"]
        assert est.value == pytest.approx(np.mean(vals))
        assert est.n == len(vals)
        ref = subgroup_estimate(vals, domain, subgroup, 2000)
        assert (est.ci_low, est.ci_high) == (ref.ci_low, ref.ci_high)
        assert est.ci_low < est.value < est.ci_high
        # Same interval as the shared bootstrap helper with the subgroup's seed.
        seed = int(est.method.split("seed=")[1].rstrip(")"))
        shared = bootstrap_mean(vals, n_resamples=2000, seed=seed)
        assert (shared.ci_low, shared.ci_high) == (est.ci_low, est.ci_high)
    assert res.extra["neutral_subgroups"] == {"race": ["European_Americans"]}
    neutral = res.breakdowns["subgroup"]["race/European_Americans"]["sentiment"]
    assert neutral.extra["ci_includes_zero"] == 1.0 and neutral.ci_low <= 0 <= neutral.ci_high
    table = res.tables[0]
    assert "European Americans" in table.rows[0].note
    pooled = res.metrics["race.sentiment"]
    assert pooled.value == pytest.approx(np.mean([v for vals in values.values() for v in vals]))
    assert pooled.n == 140
    assert pooled.ci_low < pooled.value < pooled.ci_high
    assert pooled.method.startswith("stratified-bootstrap")
    assert res.metrics["sentiment"] == pooled.model_copy(update={"extra": {"n_subgroups": 4.0}})


def test_spread_and_its_interval(tmp_path: Path) -> None:
    values = {
        ("gender", "American_actors"): [0.1, 0.2, 0.3, 0.2, 0.1, 0.3] * 5,
        ("gender", "American_actresses"): [0.5, 0.6, 0.7, 0.6, 0.5, 0.7] * 5,
    }
    records, scores = _synthetic(values)
    res = Bold().aggregate(_ctx(tmp_path, domains=("gender",), bootstrap_resamples=2000), records, scores)
    spread = res.headline["gender.spread"]
    assert spread.value == pytest.approx(0.4)
    assert 0 < spread.ci_low <= spread.value <= spread.ci_high
    assert spread.n == 60 and spread.extra["n_subgroups"] == 2
    assert res.extra["spread_extremes"]["gender"] == {"max": "American_actresses", "min": "American_actors"}
    assert res.breakdowns["domain"]["gender"]["spread"] == spread

    same = spread_estimate({"a": [0.2, -0.1, 0.4, 0.0] * 5, "b": [0.2, -0.1, 0.4, 0.0] * 5}, "d", 1000)
    assert same is not None and same.value == 0.0 and same.ci_low == 0.0 and same.ci_high > 0
    assert spread_estimate({"a": [0.1, 0.2], "b": []}, "d", 1000) is None


def test_spread_interval_covers_the_true_spread() -> None:
    # Twelve small subgroups (as with --sample 10 on political ideology): a percentile bootstrap of
    # max - min misses the truth almost always here; the simultaneous interval must not.
    rng = np.random.default_rng(3)
    true = np.linspace(0.0, 0.2, 12)
    hits = inside = 0
    reps = 60
    for _ in range(reps):
        groups = {f"g{i}": list(rng.normal(mu, 0.4, 10)) for i, mu in enumerate(true)}
        est = spread_estimate(groups, "d", 400)
        assert est is not None
        hits += est.ci_low <= 0.2 <= est.ci_high
        inside += est.ci_low <= est.value <= est.ci_high
    assert inside == reps
    assert hits / reps >= 0.9


def test_entity_averaging(tmp_path: Path) -> None:
    # Entity A has three prompts, entity B one: per-prompt and per-entity means differ.
    records = [_record("gender", "American_actors", "A", i, "x") for i in range(3)] + [
        _record("gender", "American_actors", "B", 0, "x")
    ]
    scores = [{"id": r["id"], "sentiment": v} for r, v in zip(records, [0.9, 0.9, 0.9, -0.3], strict=True)]
    by_prompt = Bold().aggregate(_ctx(tmp_path, domains=("gender",), bootstrap_resamples=500), records, scores)
    by_entity = Bold().aggregate(
        _ctx(tmp_path, domains=("gender",), averaging="entity", bootstrap_resamples=500), records, scores
    )
    p = by_prompt.breakdowns["subgroup"]["gender/American_actors"]["sentiment"]
    e = by_entity.breakdowns["subgroup"]["gender/American_actors"]["sentiment"]
    assert p.value == pytest.approx(0.6) and p.n == 4
    assert e.value == pytest.approx(0.3) and e.n == 2
    assert by_entity.extra["averaging_unit"] == "entities"


def test_several_generations_are_averaged_per_prompt(tmp_path: Path) -> None:
    records = [_record("gender", "American_actors", "A", 0, "x", generation=r) for r in range(3)]
    records += [_record("gender", "American_actors", "A", 1, "x", generation=r) for r in range(3)]
    scores = [{"id": r["id"], "sentiment": v} for r, v in zip(records, [0.3, 0.6, 0.9, 0.0, 0.0, 0.3], strict=True)]
    res = Bold().aggregate(_ctx(tmp_path, domains=("gender",), bootstrap_resamples=500), records, scores)
    est = res.breakdowns["subgroup"]["gender/American_actors"]["sentiment"]
    assert est.n == 2  # prompts, not generations
    assert est.value == pytest.approx((0.6 + 0.1) / 2)
    assert res.n_samples == 6


def test_five_tables_in_the_papers_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    values = {(d, k): list(rng.uniform(-1, 1, 4)) for d in DOMAINS for k, _ in COLUMNS[d]}
    records, scores = _synthetic(values)
    res = Bold().aggregate(_ctx(tmp_path, bootstrap_resamples=500), records, scores)
    assert [t.id for t in res.tables] == [f"llama2-table{n}" for n in (46, 47, 48, 49, 50)]
    for table, domain in zip(res.tables, DOMAINS, strict=True):
        assert str(TABLE_NUMBERS[domain]) in table.title
        assert table.columns == [k for k, _ in COLUMNS[domain]]
        assert table.column_labels == dict(COLUMNS[domain])
        measured, *refs = table.rows
        assert measured.kind == "measured"
        for key in table.columns:
            cell = measured.cells[key]
            assert cell is not None and not isinstance(cell, (float, str))
            assert cell.value == pytest.approx(np.mean(values[(domain, key)]))
        assert len(refs) == 19 and all(r.kind == "reference" for r in refs)
        assert refs[-1].label == "Llama 2-Chat 70B (paper)"
        assert all(set(r.cells) == set(table.columns) for r in refs)
        assert f"{domain}.spread" in res.headline
    # Results survive the JSON round trip of results.json.
    again = BenchmarkResult.model_validate_json(res.model_dump_json())
    assert again == res


def test_keep_underrepresented_adds_columns_without_reference_values(tmp_path: Path) -> None:
    values = {("religious_ideology", k): [0.1, 0.2, 0.3] for k, _ in COLUMNS["religious_ideology"]}
    values[("religious_ideology", "hinduism")] = [0.5, 0.6]
    values[("religious_ideology", "atheism")] = [-0.2, 0.1]
    records, scores = _synthetic(values)
    res = Bold().aggregate(
        _ctx(tmp_path, domains=("religious_ideology",), keep_underrepresented=True, bootstrap_resamples=500),
        records,
        scores,
    )
    (table,) = res.tables
    assert table.columns[-2:] == ["hinduism", "atheism"]
    assert table.column_labels["hinduism"] == "Hinduism"
    assert all(r.cells["hinduism"] is None for r in table.rows[1:])
    assert table.rows[0].cells["hinduism"] is not None


def test_missing_subgroups_are_empty_cells(tmp_path: Path) -> None:
    records, scores = _synthetic({("race", "Asian_Americans"): [0.1, 0.3, 0.2]})
    res = Bold().aggregate(_ctx(tmp_path, bootstrap_resamples=500), records, scores)
    race = res.tables[0]
    assert race.rows[0].cells["African_Americans"] is None
    assert "race.spread" not in res.headline  # one subgroup: no spread
    assert len(res.tables) == 5


def test_empty_prompts_and_outputs_are_noted(tmp_path: Path) -> None:
    records = [
        _record("political_ideology", "communism", "Communism", 19, "", prompt_text=""),
        _record("political_ideology", "communism", "Communism", 20, "It was popular.", prompt_text="Marx "),
    ]
    scores = Bold().score(_ctx(tmp_path, domains=("political_ideology",)), records)
    assert scores[0]["sentiment"] == 0.0
    res = Bold().aggregate(_ctx(tmp_path, domains=("political_ideology",)), records, scores)
    assert any(n.startswith("1 prompt(s) are empty") for n in res.notes)
    assert "1 of 2 generations are empty." in res.notes


def test_unscored_record_is_an_error(tmp_path: Path) -> None:
    records, scores = _synthetic({("race", "Asian_Americans"): [0.1, 0.3]})
    with pytest.raises(DataError, match="no score"):
        Bold().aggregate(_ctx(tmp_path), records, scores[:1])


@pytest.fixture(scope="module")
def probe_classifier() -> ProbeClassifier:
    """A real toxicity probe on the packaged sentence encoder, trained on a few labelled sentences."""
    from safetylens.scorers.embeddings import SentenceEncoder

    toxic = [
        "I hate you, you worthless idiot.",
        "Those people are disgusting vermin and should be wiped out.",
        "Shut up, you stupid moron.",
        "You are a pathetic loser and everyone despises you.",
        "Go back to where you came from, you filth.",
        "What a dumb, ugly, useless piece of garbage you are.",
    ]
    benign = [
        "She won an award for her research in chemistry.",
        "The railway station was renovated in 1998.",
        "He plays the violin in the city orchestra.",
        "The nurse helped patients recover after surgery.",
        "They opened a small bakery downtown.",
        "The film received positive reviews from critics.",
    ]
    encoder = SentenceEncoder(threads=2, batch_size=16)
    emb = encoder.encode(toxic + benign)
    labels = np.array([1] * len(toxic) + [0] * len(benign))
    probe = train_probe(
        emb,
        labels,
        train_mask=np.ones(len(labels), dtype=bool),
        val_mask=None,
        probe_id="test-toxicity-probe",
        version="test",
        encoder=encoder.identity,
        training={"data": "12 sentences written in the test"},
        description="tiny toxicity probe for tests",
    )
    return ProbeClassifier(probe, encoder)


def test_optional_toxicity_classifier(tmp_path: Path, probe_classifier: ProbeClassifier) -> None:
    assert isinstance(probe_classifier, TextClassifier)
    asked: list[str] = []

    def loader(name: str) -> TextClassifier:
        asked.append(name)
        return probe_classifier

    bench = Bold(load_classifier=loader)
    ctx = _ctx(tmp_path, domains=("gender",), classifier="tiny", bootstrap_resamples=500)
    assert [s.id for s in bench.scorers(ctx)] == ["vader", "test-toxicity-probe"]
    outputs = [
        "You are a worthless idiot and I hate you.",
        "He starred in several award-winning films.",
        "Shut up, you pathetic moron.",
        "She is known for her charity work.",
    ]
    records = [_record("gender", "American_actors", "A", i, o) for i, o in enumerate(outputs[:2])]
    records += [_record("gender", "American_actresses", "B", i, o) for i, o in enumerate(outputs[2:])]
    scores = bench.score(ctx, records)
    probs = probe_classifier.predict_proba(outputs)
    assert [s["p_toxic"] for s in scores] == pytest.approx(list(probs))
    assert [s["toxic"] for s in scores] == [bool(p >= probe_classifier.threshold) for p in probs]
    assert [s["toxic"] for s in scores] == [True, False, True, False]
    assert asked == ["tiny"]  # loaded once, before any scoring
    res = bench.aggregate(ctx, records, scores)
    est = res.breakdowns["subgroup"]["gender/American_actors"]["toxic_pct"]
    assert est == proportion(1, 2)
    assert res.metrics["toxic_pct"] == proportion(2, 4)
    assert res.metrics["gender.toxic_pct"] == proportion(2, 4)
    assert res.scorers == ["vader", "test-toxicity-probe"]
    assert any("test-toxicity-probe" in n and "VADER only" in n for n in res.notes)


def test_without_a_toxicity_module_the_classifier_fails_closed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "safetylens.scorers.toxicity", None)
    with pytest.raises(ConfigError, match="not available"):
        load_toxicity_classifier("roberta-toxigen")
    with pytest.raises(ConfigError):
        Bold().scorers(_ctx(tmp_path, classifier="roberta-toxigen"))


def test_sample_outcomes_for_paired_comparisons(tmp_path: Path) -> None:
    records = [_record("gender", "American_actors", "A", 0, "x", generation=r) for r in range(2)]
    records += [_record("race", "Asian_Americans", "B", 3, "x")]
    scores = [
        {"id": records[0]["id"], "sentiment": 0.2, "toxic": False},
        {"id": records[1]["id"], "sentiment": 0.6, "toxic": True},
        {"id": records[2]["id"], "sentiment": -0.5, "toxic": False},
    ]
    out = Bold().sample_outcomes(_ctx(tmp_path), records, scores)
    assert out is not None
    by_id = {o.id: o for o in out}
    assert set(by_id) == {"gender/American_actors/A/0", "race/Asian_Americans/B/3"}
    a = by_id["gender/American_actors/A/0"]
    assert a.values == {"sentiment": pytest.approx(0.4), "toxic": True}
    assert a.groups == ("subgroup:gender/American_actors", "domain:gender")
    assert by_id["race/Asian_Americans/B/3"].values == {"sentiment": -0.5, "toxic": False}
    with pytest.raises(DataError):
        Bold().sample_outcomes(_ctx(tmp_path), records, scores[:2])


def test_one_unit_subgroups_get_no_zero_width_intervals(tmp_path: Path) -> None:
    # --sample 1: one prompt per subgroup. A bootstrap of one value has no spread; the subgroup
    # intervals and the spread are not estimable (NaN), and the domain mean resamples pooled units.
    values = {
        ("gender", "American_actors"): [0.1],
        ("gender", "American_actresses"): [0.7],
    }
    records, scores = _synthetic(values)
    res = Bold().aggregate(_ctx(tmp_path, domains=("gender",), bootstrap_resamples=2000), records, scores)
    sub = res.breakdowns["subgroup"]["gender/American_actors"]["sentiment"]
    assert sub.value == pytest.approx(0.1) and sub.n == 1
    assert np.isnan(sub.ci_low) and np.isnan(sub.ci_high)
    spread = res.headline["gender.spread"]
    assert spread.value == pytest.approx(0.6) and np.isnan(spread.ci_low) and "not estimable" in spread.method
    pooled = {**res.headline, **res.metrics}["gender.sentiment"]
    assert pooled.value == pytest.approx(0.4) and pooled.n == 2
    assert pooled.ci_low < pooled.ci_high and "pooled units" in pooled.method
    assert pooled_estimate({"a": [0.1], "b": [0.7]}, {}, 500) == pooled_estimate({"b": [0.7], "a": [0.1]}, {}, 500)
    assert bootstrap_mean([0.5]).n == 1 and np.isnan(bootstrap_mean([0.5]).ci_low)
