"""The refusal and harm scorers' agreement with people, recomputed: the figures the README quotes.

1. The published anchors, recomputed from the reference data: XSTest's string matching and GPT-4
   classifier against the human labels of 2,250 answers; PyRIT's refusal scorers and string matching
   on PyRIT's refusal file.
2. The offline refusal classifier retrained from its pinned data: leave-one-model-out on XSTest and
   grouped cross-validation on PyRIT's labels, and whether it reproduces the shipped weights.
3. The offline harm judge retrained: leave-one-category-out and by-request MAE, the same check.

Reproduction: an identical weights hash, or else every weight within
:data:`~safetylens.scorers.probe.REPRODUCTION_TOLERANCE` (relative to the largest shipped weight) of
the shipped one: embeddings computed in batches of another shape differ by float rounding, and so
do the weights fitted on them.

The offline toxicity classifier and TruthfulQA judges are retrained the same way by
``safetylens scorers train toxicity offline`` / ``... truthfulqa-judge offline``; they embed about
35,000 texts, too many for this quick run on 2 cores.

Embeddings are cached (``$SAFETYLENS_HOME/artifacts/embeddings``): the first run embeds about 8,000
texts (minutes on 2 cores), later runs only fit. Needs ``SAFETYLENS_DATA_DIR`` or fetched data.

    PYTHONPATH=src python benchmarks/bench_scorer_validity.py
"""

from __future__ import annotations

import time
from typing import Any

from figures import figure

from safetylens.datasets.registry import DataStore
from safetylens.scorers import harm_probe, refusal_probe
from safetylens.scorers.embeddings import EmbeddingCache, SentenceEncoder
from safetylens.scorers.harm_probe import LevelModel
from safetylens.scorers.probe import LinearProbe, describe_reproduction, reproduction
from safetylens.scorers.refusal_check import published_anchors
from safetylens.spec import hardware_info


def _est(e: dict[str, Any]) -> str:
    return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}] n={e['n']}"


def _ci(e: dict[str, Any]) -> str:
    return f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}] n={e['n']}"


def main() -> None:
    hw = hardware_info()
    print(f"CPU: {hw.get('cpu', hw['machine'])}, {hw['cpu_count']} cores")
    store = DataStore()
    for row in published_anchors(store):
        three = f"{row['accuracy_3class']:.3f} (3 classes) / " if row.get("accuracy_3class") is not None else ""
        top = f"-{row['accuracy_binary_max']:.3f}" if row.get("accuracy_binary_max") is not None else ""
        print(f"anchor: {row['classifier']} on {row['data']}: {three}{row['accuracy_binary']:.3f}{top} (n={row['n']})")
    encoder = EmbeddingCache(SentenceEncoder())

    t0 = time.perf_counter()
    probe = refusal_probe.train_offline(store, encoder)
    lomo = probe.validation["leave_one_model_out"]
    for model, m in lomo["per_model"].items():
        print(f"refusal/offline held out {model}: accuracy {m['accuracy']:.3f} (n={m['n']}, C={m['C']})")
    pooled, pyrit = lomo["pooled"]["accuracy"], probe.validation["pyrit_cross_validation"]["accuracy"]
    print(f"refusal/offline leave-one-model-out pooled: accuracy {_est(pooled)}")
    print(f"refusal/offline PyRIT 5-fold CV: accuracy {_est(pyrit)}")
    figure("refusal/offline accuracy, XSTest leave-one-model-out", pooled["value"], "", ">= 0.9", note=_ci(pooled))
    figure("refusal/offline accuracy, PyRIT 5-fold CV", pyrit["value"], "", note=_ci(pyrit))
    rep = reproduction(probe, LinearProbe.load(refusal_probe.ARTIFACT))
    same = bool(rep["identical"] or rep["within_tolerance"])
    print(f"refusal/offline reproduces the shipped weights: {same}")
    figure("refusal/offline reproduces the shipped weights", float(same), "", ">= 1")
    print(f"refusal/offline vs shipped: {describe_reproduction(rep)}")
    print(f"refusal/offline: {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    judge = harm_probe.train_offline(store, encoder)
    for key in ("leave_one_category_out", "by_objective_5fold"):
        v = judge.validation[key]
        print(
            f"harm/offline {key}: MAE {v['mae']:.3f} (SE {v['mae_se']:.3f}, n={v['n']}; constant guess "
            f"{v['constant_median_mae']:.3f}), violation agreement {v['violation_accuracy']:.3f}"
        )
        note = f"SE {v['mae_se']:.3f}, n={v['n']}, constant guess {v['constant_median_mae']:.3f}"
        figure(f"harm/offline MAE, {key.replace('_', ' ')}", v["mae"], "", "<= 0.22", note=note)
    rep = reproduction(judge, LevelModel.load(harm_probe.ARTIFACT))
    same = bool(rep["identical"] or rep["within_tolerance"])
    print(f"harm/offline reproduces the shipped weights: {same}")
    figure("harm/offline reproduces the shipped weights", float(same), "", ">= 1")
    print(f"harm/offline vs shipped: {describe_reproduction(rep)}")
    print(f"harm/offline: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
