from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from safetylens.audit.aggregate import build_record
from safetylens.audit.analyse import FIXED_POINT, AuditSettings, ProbeFile, document_lines
from safetylens.audit.language import LanguageIdentifier
from safetylens.audit.outputs import plots_svg, tables_markdown
from safetylens.audit.result import AuditResult
from safetylens.audit.runner import run_audit
from tests.audit.conftest import PROBE_TRAIN_ROWS, write_jsonl
from tests.audit.corpora import OTHER

TOX = ("language", "toxicity")


def _toxigen(shared_data_dir: Path, label: str, n: int) -> list[str]:
    rows = json.loads((shared_data_dir / "safenlp" / "toxiGen.json").read_text(encoding="utf-8"))
    return [r["text"] for r in rows[PROBE_TRAIN_ROWS:] if r["label"] == label][:n]  # never seen by the probe


@pytest.fixture(scope="module")
def tox_corpus(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> tuple[Path, list[str]]:
    hate = _toxigen(shared_data_dir, "hate", 60)
    neutral = _toxigen(shared_data_dir, "neutral", 60)
    docs = []
    for i in range(20):
        docs.append("\n".join(hate[3 * i : 3 * i + 3]))
        docs.append("\n".join(neutral[3 * i : 3 * i + 3]))
    docs += [OTHER[i % len(OTHER)] for i in range(6)] + ["", "   \n  "]
    path = write_jsonl(tmp_path_factory.mktemp("tox") / "tox.jsonl", ({"text": t} for t in docs))
    return path, docs


def test_document_scores_are_line_means(tox_corpus: tuple[Path, list[str]], probe_source: ProbeFile) -> None:
    path, docs = tox_corpus
    settings = AuditSettings(analyses=TOX, toxicity_sample=1.0, shard_bytes=4096, toxicity_batch_docs=7)
    outcome = run_audit([path], settings, classifier=probe_source, workers=1)
    p = outcome.partial
    lid = LanguageIdentifier()
    english = [d for d in docs if lid.identify(d) == "en"]
    assert p.tox_sampled == len(docs)
    assert p.tox_docs == len([d for d in english if document_lines(d)]) >= 38
    assert p.tox_other_language + p.tox_docs + p.tox_no_lines == len(docs)
    # Recompute every document's score directly with the same classifier.
    clf = probe_source()
    scores = []
    for d in english:
        lines = document_lines(d)
        if lines:
            scores.append(float(np.mean(clf.predict_proba(lines))))
    assert all(abs(s - 0.5) > 1e-4 for s in scores)
    assert p.tox_at_or_above == sum(s >= 0.5 for s in scores)
    assert p.tox_lines == sum(len(document_lines(d)) for d in english)
    assert math.isclose(p.tox_sum / FIXED_POINT, sum(scores), rel_tol=1e-5)
    assert sum(p.tox_hist) == p.tox_docs and len(p.tox_hist) == settings.toxicity_bins
    rec = build_record(outcome)
    tox = rec["toxicity"]
    assert tox["classifier"]["id"] == "test-toxicity-probe" and tox["exact"]
    assert tox["at_or_above_threshold"]["value"] == pytest.approx(100 * p.tox_at_or_above / p.tox_docs)
    assert tox["mean"]["value"] == pytest.approx(float(np.mean(scores)), rel=1e-5)
    # The typed record reads the section and writes it back unchanged; the outputs render it.
    res = AuditResult.from_record(rec)
    assert res.toxicity is not None and res.toxicity.classifier == tox["classifier"]
    assert res.to_dict() == json.loads(json.dumps(rec))
    assert "### Document toxicity (Fig 13)" in tables_markdown(res)
    assert "documents (log scale)" in plots_svg(res)["toxicity"]


def test_a_real_classifier_separates_hateful_from_neutral_documents(
    tox_corpus: tuple[Path, list[str]], probe_source: ProbeFile
) -> None:
    _path, docs = tox_corpus
    clf = probe_source()
    hate_docs, neutral_docs = docs[0:40:2], docs[1:40:2]
    hate = np.mean([np.mean(clf.predict_proba(document_lines(d))) for d in hate_docs])
    neutral = np.mean([np.mean(clf.predict_proba(document_lines(d))) for d in neutral_docs])
    assert hate > neutral + 0.1, (hate, neutral)


def test_toxicity_sample_and_all_languages(tox_corpus: tuple[Path, list[str]], probe_source: ProbeFile) -> None:
    path, docs = tox_corpus
    half = run_audit([path], AuditSettings(analyses=TOX, toxicity_sample=0.5), classifier=probe_source, workers=1)
    assert 0 < half.partial.tox_sampled < len(docs)
    rec = build_record(half)
    assert rec["toxicity"]["sample"] == 0.5 and not rec["toxicity"]["exact"]
    assert rec["toxicity"]["at_or_above_threshold"]["method"] == "wilson"
    every = run_audit(
        [path],
        AuditSettings(analyses=TOX, toxicity_sample=1.0, toxicity_english_only=False),
        classifier=probe_source,
        workers=1,
    )
    assert every.partial.tox_other_language == 0 and every.partial.tox_docs == len(docs) - 2


def test_same_toxicity_numbers_on_one_worker_two_workers_and_dask(
    tmp_path: Path, tox_corpus: tuple[Path, list[str]], probe_source: ProbeFile
) -> None:
    """Process pool and a Dask LocalCluster (2 worker processes) reproduce the in-process numbers exactly."""
    from distributed import Client, LocalCluster

    path, _ = tox_corpus
    other = write_jsonl(tmp_path / "more.jsonl", ({"text": f"I met her at 10 Downing Street, call 020 7946 0{i:03d}."}
                                                   for i in range(60)))  # fmt: skip
    settings = AuditSettings(
        analyses=("pii", "pronouns", "identity", "language", "toxicity"),
        sample=0.9,
        toxicity_sample=1.0,
        shard_bytes=4096,
    )
    inputs = [path, other]
    one = run_audit(inputs, settings, classifier=probe_source, workers=1)
    two = run_audit(inputs, settings, classifier=probe_source, workers=2)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        dask = run_audit(inputs, settings, classifier=probe_source, engine="dask", dask_client=client)
        workers_used = len(client.scheduler_info()["workers"])
    assert workers_used == 2
    assert one.run.shards > 3 and one.partial.tox_docs > 30
    assert one.partial.canonical() == two.partial.canonical() == dask.partial.canonical()
    digests = {build_record(o)["digest"] for o in (one, two, dask)}
    assert len(digests) == 1
    assert build_record(dask)["run"]["engine"] == "dask"
