"""ToxiGen aggregation checked against the paper's Table 45, and the headline's bootstrap interval."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from safetylens.benchmarks import get
from safetylens.benchmarks.base import BenchmarkContext, BenchmarkResult
from safetylens.benchmarks.toxigen import aggregate_toxicity, macro_average, macro_bootstrap
from safetylens.datasets.registry import DataStore
from safetylens.models.base import Decoding
from safetylens.reference.toxigen import GROUP_LABELS, GROUP_SIZES, GROUPS, TABLE45, reference_rows

INTEGER_ROWS = [r for r in TABLE45 if r.integer_counts() is not None]


def _ctx(tmp_path: Path, **options: Any) -> BenchmarkContext:
    bench = get("toxigen")
    return BenchmarkContext(
        options=bench.parse_options({"bootstrap_resamples": 200, **options}),
        decoding=Decoding(),
        chat=False,
        limit=None,
        data=DataStore(),
        run_dir=tmp_path,
    )


def _records(memberships: list[tuple[str, ...]], toxic: list[bool], label: str = "hate") -> tuple[list[Any], list[Any]]:
    records = [
        {"id": f"s{i}", "output": "x", "meta": {"groups": list(m), "label": label, "text": "t"}}
        for i, m in enumerate(memberships)
    ]
    scores = [
        {"id": f"s{i}", "p_toxic": 0.9 if t else 0.1, "toxic": t, "classifier": "toxigen-roberta", "empty": False}
        for i, t in enumerate(toxic)
    ]
    return records, scores


@pytest.mark.parametrize("row", TABLE45, ids=lambda r: r.label)
def test_macro_average_of_every_table45_row_gives_its_printed_headline(row: Any) -> None:
    assert round(macro_average(row.by_group()), 2) == pytest.approx(row.mean, abs=1e-9)


def test_integer_count_check_matches_protocol() -> None:
    not_counts = {r.label for r in TABLE45 if r.integer_counts() is None}
    assert not_counts == {"MPT 30B", "Falcon 40B"}
    assert len(INTEGER_ROWS) == 17
    counts = {r.label: r.integer_counts() for r in TABLE45}
    chatgpt = counts["ChatGPT"]
    assert chatgpt is not None
    assert [chatgpt[g] for g in GROUPS if chatgpt[g]] == [2, 1, 1, 1, 2, 1, 3, 4]
    assert sum((counts["Llama 2-Chat 34B"] or {}).values()) == 2
    assert counts["Llama 2-Chat 70B"] == {g: int(g == "women") for g in GROUPS}
    assert sum((counts["Llama 2-Chat 7B"] or {"x": 1}).values()) == 0


@pytest.mark.parametrize("row", INTEGER_ROWS, ids=lambda r: r.label)
def test_benchmark_aggregate_reproduces_integer_rows(tmp_path: Path, row: Any) -> None:
    """Feed each row's per-group counts through the benchmark's own aggregation."""
    counts = row.integer_counts()
    memberships: list[tuple[str, ...]] = []
    toxic: list[bool] = []
    for g in GROUPS:
        memberships += [(g,)] * GROUP_SIZES[g]
        toxic += [True] * counts[g] + [False] * (GROUP_SIZES[g] - counts[g])
    records, scores = _records(memberships, toxic)
    res = get("toxigen").aggregate(_ctx(tmp_path), records, scores)
    cells = res.breakdowns["group"]
    for g, p in row.by_group().items():
        assert round(cells[g]["toxic_pct"].value, 2) == pytest.approx(p, abs=1e-9), g
        assert cells[g]["toxic_pct"].n == GROUP_SIZES[g]
    # The paper averaged the 2-decimal group percentages: that reproduces every printed mean.
    assert round(res.metrics["toxic_pct_paper_rounding"].value, 2) == pytest.approx(row.mean, abs=1e-9)
    # The exact mean of the counts does too, except Llama 2 70B: 24.5947 -> 24.59, printed 24.60.
    exact = round(res.headline["toxic_pct"].value, 2)
    if row.label == "Llama 2 70B":
        assert exact == pytest.approx(24.59, abs=1e-9)
    else:
        assert exact == pytest.approx(row.mean, abs=1e-9)


@pytest.mark.parametrize("label", ["ChatGPT", "Llama 2-Chat 34B", "Llama 2-Chat 70B", "Llama 2-Chat 7B"])
def test_chat_rows_on_the_real_sentence_memberships(tmp_path: Path, shared_data_dir: Path, label: str) -> None:
    """Chat rows are integer counts over the real SafeNLP groups: mark sentences toxic to match the counts."""
    row = next(r for r in TABLE45 if r.label == label)
    counts = row.integer_counts()
    samples = get("toxigen").build(_ctx(tmp_path))
    need = dict(counts)
    toxic_ids: set[str] = set()
    # Greedy, sentences in most groups first: take one if every group it is in still needs a toxic one.
    for s in sorted(samples, key=lambda s: -len(s.meta["groups"])):
        if all(need[g] > 0 for g in s.meta["groups"]):
            toxic_ids.add(s.id)
            for g in s.meta["groups"]:
                need[g] -= 1
    assert not any(need.values())
    records = [{"id": s.id, "output": "x", "meta": s.meta} for s in samples]
    scores = [
        {"id": s.id, "toxic": s.id in toxic_ids, "p_toxic": float(s.id in toxic_ids), "classifier": "c", "empty": False}
        for s in samples
    ]
    res = get("toxigen").aggregate(_ctx(tmp_path), records, scores)
    for g, p in row.by_group().items():
        assert round(res.breakdowns["group"][g]["toxic_pct"].value, 2) == pytest.approx(p, abs=1e-9), g
    assert round(res.headline["toxic_pct"].value, 2) == pytest.approx(row.mean, abs=1e-9)
    # Micro-average: each sentence once (a toxic sentence in two groups counts once here).
    assert res.metrics["toxic_pct_micro"].value == pytest.approx(100 * len(toxic_ids) / 6514)
    assert res.metrics["toxic_pct_micro"].n == 6514


def test_table_layout_and_reference_rows(tmp_path: Path) -> None:
    records, scores = _records([(g,) for g in GROUPS for _ in range(10)], [i % 3 == 0 for i in range(130)])
    res = get("toxigen").aggregate(_ctx(tmp_path), records, scores)
    (table,) = res.tables
    assert table.id == "llama2-table45"
    assert table.columns == [*GROUPS, "mean"]
    assert [table.column_labels[c] for c in table.columns[:13]] == [
        "Asian",
        "Mexican",
        "Muslim",
        "Physical disability",
        "Jewish",
        "Middle Eastern",
        "Chinese",
        "Mental disability",
        "Latino",
        "Native American",
        "Women",
        "Black",
        "LGBTQ",
    ]
    assert table.rows[0].kind == "measured" and table.rows[0].cells["mean"] == res.headline["toxic_pct"]
    refs = table.rows[1:]
    assert len(refs) == 19 and all(r.kind == "reference" for r in refs)
    assert refs[8].label == "Llama 2 7B (paper)" and refs[8].cells["asian"] == 16.53 and refs[8].cells["mean"] == 21.25
    uncertain = {r.label: r.note for r in refs if "uncertain" in r.note}
    assert set(uncertain) == {"MPT 7B (paper)", "Llama 1 33B (paper)", "Llama 2-Chat 70B (paper)"}
    assert "Women" in uncertain["Llama 2-Chat 70B (paper)"]
    assert all("integer counts" in r.note for r in refs if r.label in {"MPT 30B (paper)", "Falcon 40B (paper)"})
    assert reference_rows("chat")[0].label == "ChatGPT (paper)"
    assert set(GROUP_LABELS) >= set(GROUPS)


def test_macro_bootstrap_matches_a_naive_resampling() -> None:
    rng = np.random.default_rng(3)
    n, g = 60, 4
    mem = rng.random((n, g)) < 0.4
    mem[np.arange(n), rng.integers(0, g, n)] = True  # every sentence in at least one group
    tox = rng.random(n) < 0.3
    b, seed = 300, 11
    lo, hi = macro_bootstrap(mem, tox, n_resamples=b, seed=seed)
    draws = np.random.default_rng(seed).integers(0, n, size=(b, n))  # one block: same draws
    stats = []
    for idx in draws:
        pcts = [100 * (mem[idx, j] & tox[idx]).sum() / mem[idx, j].sum() for j in range(g) if mem[idx, j].sum() > 0]
        stats.append(sum(pcts) / len(pcts))
    exp_lo, exp_hi = np.quantile(stats, [0.025, 0.975])
    assert lo == pytest.approx(exp_lo, abs=1e-9) and hi == pytest.approx(exp_hi, abs=1e-9)


def test_headline_interval_accounts_for_shared_sentences() -> None:
    """Two groups made of the same sentences move together: the mean's interval is as wide as one group's."""
    rng = np.random.default_rng(0)
    tox = list(rng.random(400) < 0.25)
    shared = aggregate_toxicity([("asian", "chinese")] * 400, tox, ["asian", "chinese"], n_resamples=2000)
    apart = aggregate_toxicity([("asian",)] * 200 + [("chinese",)] * 200, tox, ["asian", "chinese"], n_resamples=2000)
    width = lambda e: e.ci_high - e.ci_low  # noqa: E731
    assert shared.macro.ci_low < shared.macro.value < shared.macro.ci_high
    one_group = shared.groups["asian"]
    assert width(shared.macro) == pytest.approx(width(one_group), rel=0.15)
    # Treating the shared sentences as independent would understate the interval by about 1/sqrt(2).
    assert width(shared.macro) > 1.2 * width(apart.macro) / math.sqrt(2)
    again = aggregate_toxicity([("asian", "chinese")] * 400, tox, ["asian", "chinese"], n_resamples=2000)
    assert again.macro == shared.macro


def test_partial_groups_and_micro_average(tmp_path: Path) -> None:
    mem = [("asian", "chinese"), ("asian",), ("women",), ("women",)]
    records, scores = _records(mem, [True, False, True, True])
    scores[2]["empty"] = True
    res: BenchmarkResult = get("toxigen").aggregate(_ctx(tmp_path), records, scores)
    g = res.breakdowns["group"]
    assert set(g) == {"asian", "chinese", "women"}
    assert g["asian"]["toxic_pct"].value == 50 and g["chinese"]["toxic_pct"].value == 100
    assert res.headline["toxic_pct"].value == pytest.approx((50 + 100 + 100) / 3)
    assert res.metrics["toxic_pct_micro"].value == 75 and res.metrics["toxic_pct_micro"].n == 4
    assert res.metrics["empty_generation_pct"].value == 25
    assert res.breakdowns["label"]["hate"]["toxic_pct"].n == 4
    assert any("mean over 3 groups, not 13" in n for n in res.notes)
    assert res.tables[0].rows[0].cells["mexican"] is None
    assert res.extra["group_counts"]["asian"] == {"toxic": 1, "n": 2}
    ci = g["asian"]["toxic_pct"]
    assert ci.method == "wilson" and ci.ci_low < 50 < ci.ci_high


def test_missing_scores_are_an_error(tmp_path: Path) -> None:
    records, scores = _records([("asian",), ("asian",)], [True, False])
    from safetylens.errors import DataError

    with pytest.raises(DataError, match="1 generations have no score"):
        get("toxigen").aggregate(_ctx(tmp_path), records, scores[:1])


def test_sample_outcomes_for_paired_comparisons(tmp_path: Path) -> None:
    records, scores = _records([("asian", "chinese"), ("women",)], [True, False])
    out = get("toxigen").sample_outcomes(_ctx(tmp_path), records, scores)
    assert out is not None
    assert [o.id for o in out] == ["s0", "s1"]
    assert out[0].values == {"toxic": True, "p_toxic": 0.9}
    assert out[0].groups == ("group:asian", "group:chinese", "label:hate")
    assert out[1].values["toxic"] is False
