"""Every scorer a benchmark can be configured with is in the scorer registry, and is created through it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import safetylens.benchmarks as benchmarks
from safetylens.benchmarks.base import BenchmarkContext
from safetylens.datasets.registry import DataStore
from safetylens.models.base import Decoding
from safetylens.scorers import registry
from safetylens.spec import ScorerRecord

# The benchmarks whose scorer is named by an option, and the registry kind each option names.
SCORER_OPTIONS = {
    "toxigen": {"classifier": "toxicity"},
    "bold": {"classifier": "toxicity"},
    "truthfulqa": {"judge": "truthfulqa-judge"},
    "xstest": {"classifier": "refusal"},
    "safety": {"judge": "harm"},
}


def _names(kind: str) -> set[str]:
    return {e.name for e in registry.entries(kind)}


def test_scorer_options_name_registered_kinds_and_default_to_registered_scorers() -> None:
    found: dict[str, dict[str, str]] = {}
    for key, cls in benchmarks.registry().items():
        fields = cls.Options.scorer_fields()
        if fields:
            found[key] = fields
        # An option named like a scorer must be declared as one, or the walk below would miss it.
        assert not {"classifier", "judge"} & set(cls.Options.model_fields) - set(fields), key
        for field, kind in fields.items():
            assert kind in registry.kinds(), (key, field)
            assert field in cls.Options.scoring_fields(), (key, field)  # re-scoring may change it
            default = cls.Options.model_fields[field].default
            assert default is None or default in _names(kind), (key, field, default)
    for key, fields in SCORER_OPTIONS.items():
        assert found.get(key) == fields, key


class FakeScorer:
    """Has what the benchmarks' protocol checks look for, and no weights."""

    threshold = 0.5

    def __init__(self, kind: str, name: str, options: Mapping[str, Any]) -> None:
        self.kind, self.name, self.options = kind, name, dict(options)
        self.aspect = options.get("aspect")

    @property
    def record(self) -> ScorerRecord:
        aspect = f"-{self.aspect}" if self.aspect else ""
        return ScorerRecord(id=f"fake-{self.kind}-{self.name}{aspect}", version="0")

    def predict_proba(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise AssertionError("creating the scorers must not score anything")


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Records every registry.create call; each name and option must be one the registry accepts."""
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def create(kind: str, name: str, **options: Any) -> Any:
        entry = registry.get(kind, name)
        assert set(options) <= set(entry.options), (kind, name, set(options) - set(entry.options))
        calls.append((kind, name, options))
        return FakeScorer(kind, name, options)

    monkeypatch.setattr(registry, "create", create)
    return calls


def _ctx(tmp_path: Path, bench: str, **options: Any) -> BenchmarkContext:
    return BenchmarkContext(
        options=benchmarks.get(bench).parse_options(options),
        decoding=Decoding(),
        chat=True,
        limit=None,
        data=DataStore([tmp_path]),
        run_dir=tmp_path,
    )


CASES: dict[str, Callable[[str], dict[str, Any]]] = {
    "toxigen": lambda name: {"classifier": name},
    "bold": lambda name: {"classifier": name},
    # A location for each judge skips the readiness check of the ones trained here.
    "truthfulqa": lambda name: {"judge": name, "truth_judge": "T", "info_judge": "I", "overlap": False},
    "xstest": lambda name: {"classifier": name},
    "safety": lambda name: {"judge": name},
}


@pytest.mark.parametrize("bench", sorted(CASES))
def test_each_benchmark_creates_every_registered_scorer_through_the_registry(
    bench: str, tmp_path: Path, created: list[tuple[str, str, dict[str, Any]]]
) -> None:
    (kind,) = SCORER_OPTIONS[bench].values()
    for name in sorted(_names(kind)):
        created.clear()
        records = benchmarks.get(bench).scorers(_ctx(tmp_path, bench, **CASES[bench](name)))
        asked = [(k, n) for k, n, _ in created]
        assert (kind, name) in asked, (bench, name, asked)
        assert any(r.id.startswith(f"fake-{kind}-{name}") for r in records)
        if bench == "bold":
            assert ("sentiment", "vader") in asked
        if bench == "truthfulqa":
            judged = {o["aspect"]: o for k, _, o in created if k == kind}
            assert set(judged) == {"truth", "info"}
            where = "model" if name == "server-judge" else "location"
            assert judged["truth"][where] == "T" and judged["info"][where] == "I"


def test_toxigen_passes_its_classifier_options(tmp_path: Path, created: list[tuple[str, str, dict[str, Any]]]) -> None:
    ctx = _ctx(
        tmp_path,
        "toxigen",
        classifier="toxigen-hatebert",
        classifier_model="DIR",
        classifier_tokenizer="TOK",
        classifier_batch_size=4,
        classifier_device="cpu",
        threshold=0.7,
    )
    benchmarks.get("toxigen").scorers(ctx)
    assert created == [
        (
            "toxicity",
            "toxigen-hatebert",
            {"model": "DIR", "tokenizer": "TOK", "threshold": 0.7, "batch_size": 4, "device": "cpu"},
        )
    ]


def test_a_plugin_judge_can_register_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from safetylens.benchmarks.truthfulqa import load_builtin_judge
    from tests.benchmarks.tqa_judges import make_judge

    # A private copy of the registry, so the test's registration does not outlive it.
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    registry.register("truthfulqa-judge", "test-reference-match", summary="test judge")(make_judge)
    judge = load_builtin_judge("test-reference-match", "info", threshold=0.3)
    assert judge.aspect == "info" and judge.threshold == 0.3
