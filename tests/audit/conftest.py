"""Fixtures for the corpus-audit tests: small corpora written on the fly and a real toxicity probe."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from safetylens.audit.analyse import ProbeFile

PROBE_PER_CLASS = 150
PROBE_TRAIN_ROWS = 2000


def write_jsonl(path: Path, docs: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="session")
def probe_path(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> Path:
    """A real toxicity probe: logistic regression on MiniLM embeddings of human-labelled sentences.

    The first 150 'hate' and 150 'neutral' sentences of SafeNLP toxiGen.json (file order) plus as
    many of implicitHate.json, embedded with the packaged sentence encoder; a fifth is held out for
    validation. The toxicity tests build documents from toxiGen sentences after the first
    :data:`PROBE_TRAIN_ROWS` rows, which the probe never saw.
    """
    from safetylens.datasets.registry import DataStore
    from safetylens.scorers.embeddings import SentenceEncoder
    from safetylens.scorers.probe import group_split, train_probe

    store = DataStore()
    texts: list[str] = []
    labels: list[int] = []
    for dataset, name in (("toxigen-safenlp", "toxiGen.json"), ("implicithate-safenlp", "implicitHate.json")):
        rows = json.loads(store.path(dataset, name).read_text(encoding="utf-8"))[:PROBE_TRAIN_ROWS]
        for label, value in (("hate", 1), ("neutral", 0)):
            picked = [r["text"] for r in rows if r["label"] == label][:PROBE_PER_CLASS]
            texts += picked
            labels += [value] * len(picked)
    encoder = SentenceEncoder(threads=2, batch_size=64)
    emb = encoder.encode(texts)
    train, val = group_split([str(i) for i in range(len(texts))], 0.2, seed=0)
    probe = train_probe(
        emb,
        np.array(labels),
        train_mask=train,
        val_mask=val,
        probe_id="test-toxicity-probe",
        version="test-1",
        encoder=encoder.identity,
        training={"data": ["toxiGen.json", "implicitHate.json"], "per_class": PROBE_PER_CLASS},
        description="test probe: hate vs neutral on SafeNLP sentences",
        class_weight="balanced",
    )
    assert probe.validation["held_out"]["auc"] > 0.7, probe.validation
    out = tmp_path_factory.mktemp("probe") / "probe.json"
    probe.save(out)
    return out


@pytest.fixture(scope="session")
def probe_source(probe_path: Path) -> ProbeFile:
    return ProbeFile(str(probe_path), threads=1)
