"""The scorer registry: every kind listed, offline scorers created by name, plugins, fail-closed lookups."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.errors import ConfigError
from safetylens.scorers import registry
from safetylens.scorers.judges import ASPECTS, AnswerJudge
from safetylens.scorers.probe import LinearProbe
from safetylens.scorers.toxicity import CLASSIFIERS, load_classifier
from safetylens.scorers.truthfulqa_judges import JUDGES, LogReg, OfflineJudgeModel, load_judge
from safetylens.scorers.vader import load_vader
from safetylens.spec import ScorerRecord

BUILTIN_KINDS = {"refusal", "harm", "toxicity", "truthfulqa-judge", "sentiment"}


class FakeEncoder:
    """A deterministic 4-dimensional 'encoder' (the offline scorers only check its identity here)."""

    identity: ClassVar[dict[str, Any]] = {"name": "fake", "weights_sha256": "fake-encoder"}

    def encode(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        return np.array([[len(t), t.count(" "), t.count("!"), 1.0] for t in texts], dtype=np.float64)


def _probe_file(path: Path) -> Path:
    LinearProbe(
        id="offline-toxicity",
        version="test",
        coef=(0.1, -0.2, 1.0, 0.0),
        intercept=-0.5,
        threshold=0.4,
        encoder=FakeEncoder.identity,
        training={"data": "none: written by the test"},
        validation={},
        description="test probe",
    ).save(path)
    return path


def _judge_file(path: Path, aspect: Any) -> Path:
    est = {"value": 0.5, "low": 0.4, "high": 0.6, "n": 10}
    OfflineJudgeModel(
        aspect=aspect,
        with_refs=LogReg((0.0,), 0.0, 1.0),
        without_refs=LogReg((0.0,), 0.0, 1.0),
        encoder=FakeEncoder.identity,
        training={},
        validation={"with_refs": {"accuracy": est, "balanced_accuracy": est, "auc": est}},
    ).save(path)
    return path


def test_every_kind_is_listed_with_its_names() -> None:
    assert set(registry.kinds()) >= BUILTIN_KINDS
    names = {k: {e.name for e in registry.entries(k)} for k in BUILTIN_KINDS}
    assert names["toxicity"] == set(CLASSIFIERS) == {"toxigen-roberta", "toxigen-hatebert", "offline"}
    assert names["truthfulqa-judge"] == set(JUDGES) == {"offline", "hf-judge", "server-judge"}
    assert names["sentiment"] == {"vader"}
    offline = {(e.kind, e.name) for e in registry.entries() if e.offline}
    assert {("toxicity", "offline"), ("truthfulqa-judge", "offline"), ("sentiment", "vader")} <= offline
    assert not offline & {("toxicity", "toxigen-roberta"), ("toxicity", "toxigen-hatebert")}
    assert not offline & {("truthfulqa-judge", "hf-judge"), ("truthfulqa-judge", "server-judge")}


def test_every_offline_scorer_can_be_created(tmp_path: Path) -> None:
    enc = FakeEncoder()
    # Offline scorers trained here need their artefact; the others load what the package ships.
    options: dict[tuple[str, str], list[dict[str, Any]]] = {
        ("toxicity", "offline"): [{"model": str(_probe_file(tmp_path / "probe.json")), "encoder": enc}],
        ("truthfulqa-judge", "offline"): [
            {"aspect": a, "location": str(_judge_file(tmp_path / f"{a}.json", a)), "encoder": enc} for a in ASPECTS
        ],
    }
    created = []
    for entry in registry.entries():
        if not entry.offline:
            continue
        for opts in options.get((entry.kind, entry.name), [{}]):
            scorer = registry.create(entry.kind, entry.name, **opts)
            assert isinstance(scorer.record, ScorerRecord) and scorer.record.id
            created.append((entry.kind, entry.name))
    assert {("toxicity", "offline"), ("truthfulqa-judge", "offline"), ("sentiment", "vader")} <= set(created)


def test_registry_and_family_loaders_give_the_same_scorer(tmp_path: Path) -> None:
    enc = FakeEncoder()
    probe = str(_probe_file(tmp_path / "probe.json"))
    by_registry = registry.create("toxicity", "offline", model=probe, encoder=enc, threshold=0.3)
    by_loader = load_classifier("offline", model=probe, encoder=enc, threshold=0.3)
    assert by_registry.record == by_loader.record
    texts = ["you are awful!!", "a calm day", ""]
    assert np.array_equal(by_registry.predict_proba(texts), by_loader.predict_proba(texts))

    path = str(_judge_file(tmp_path / "truth.json", "truth"))
    judge = registry.create("truthfulqa-judge", "offline", aspect="truth", location=path, encoder=enc)
    assert isinstance(judge, AnswerJudge) and judge.aspect == "truth"
    assert judge.record == load_judge("offline", "truth", location=path, encoder=enc).record
    assert registry.create("sentiment", "vader") is load_vader()


def test_options_are_checked_for_the_new_kinds() -> None:
    with pytest.raises(ConfigError, match="takes no option 'colour'"):
        registry.create("sentiment", "vader", colour="red")
    with pytest.raises(ConfigError, match="unknown toxicity scorer 'perspective'") as err:
        registry.create("toxicity", "perspective")
    assert err.value.hint and "toxigen-roberta" in err.value.hint
    with pytest.raises(ConfigError, match="needs a judge model location"):
        registry.create("truthfulqa-judge", "hf-judge", aspect="truth")


def make_scorer(*, label: str = "plugin", **extra: Any) -> ScorerRecord:
    """A plugin factory taking any option (the test returns a record as the 'scorer')."""
    return ScorerRecord(id=label, version="0", details=extra)


def test_a_plugin_is_named_module_colon_factory() -> None:
    name = f"{__name__}:make_scorer"
    entry = registry.get("toxicity", name)
    assert entry.factory is make_scorer and not entry.offline
    assert entry.summary.startswith("A plugin factory")
    made = registry.create("toxicity", name, label="x", batch_size=4)
    assert made.id == "x" and made.details == {"batch_size": 4}
    assert name not in {e.name for e in registry.entries("toxicity")}  # resolved, never stored
    with pytest.raises(ConfigError, match="cannot be imported"):
        registry.create("toxicity", f"{__name__}:nope")
    with pytest.raises(ConfigError, match="cannot be imported"):
        registry.create("toxicity", "no_such_module_anywhere:factory")


def test_a_missing_builtin_module_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "safetylens.scorers.vader", None)
    with pytest.raises(ConfigError, match=r"not available.*safetylens\.scorers\.vader"):
        registry.create("sentiment", "textblob")


def test_scorers_list_shows_every_kind() -> None:
    res = CliRunner().invoke(app, ["scorers", "list", "--json"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {r["kind"] for r in rows} >= BUILTIN_KINDS
    judge = next(r for r in rows if (r["kind"], r["name"]) == ("truthfulqa-judge", "offline"))
    assert judge["offline"] and judge["options"]["threshold"] == 0.5 and "encoder" not in judge["options"]
    res = CliRunner().invoke(app, ["scorers", "list", "toxicity"], env={"COLUMNS": "250"})
    assert res.exit_code == 0 and "toxigen-roberta" in res.output and "refusal" not in res.output
