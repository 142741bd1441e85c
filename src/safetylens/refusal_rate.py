"""The refusal rate of any finished run's answers: the Llama 2 paper's false-refusal measure (Figure 33).

The paper counts how often Llama 2-Chat refuses helpfulness prompts that are safe; any generation run
(TruthfulQA, BOLD, ToxiGen, a user's own prompts) can be measured the same way after the fact, with
any refusal classifier of the scorer registry. Nothing is regenerated: the saved answers are read,
classified, and the rates written to ``refusal.json`` in the run directory, with the classifier's
record (identity and measured agreement with people) beside them.
"""

from __future__ import annotations

from typing import Any

from safetylens.errors import ConfigError
from safetylens.records import GenerationRecord
from safetylens.runs import RunDir
from safetylens.scorers import registry
from safetylens.stats.ci import Estimate, proportion
from safetylens.util import atomic_write_json

REFUSAL_FILE = "refusal.json"


def run_refusal_rates(
    run: RunDir, classifier: str = "offline", options: dict[str, Any] | None = None, clf: Any = None
) -> dict[str, Any]:
    """Classify every saved answer of a run and report the refusal rate per benchmark.

    Args:
        run: The run directory.
        classifier: Registered refusal classifier name.
        options: Its options.
        clf: An already created classifier (instead of ``classifier``/``options``).

    Returns:
        ``{"classifier": record, "benchmarks": {name: {"refusal_pct": Estimate, "empty": k}}, "file": path}``.

    Raises:
        ConfigError: The run has no generated answers (a log-likelihood-only run).
    """
    records = [r for r in run.records(repair=True) if r.is_generation]
    if not records:
        raise ConfigError(
            f"{run.path} has no generated answers to classify",
            hint="refusal rates apply to generation benchmarks (not to truthfulqa-mc)",
        )
    model = clf if clf is not None else registry.create("refusal", classifier, **(options or {}))
    by_bench: dict[str, list[GenerationRecord]] = {}
    for r in records:
        by_bench.setdefault(r.benchmark, []).append(r)
    out: dict[str, Any] = {}
    for bench, rows in sorted(by_bench.items()):
        preds = model.classify([r.completion for r in rows], [r.request_text for r in rows])
        est: Estimate = proportion(sum(p.refusal for p in preds), len(preds))
        out[bench] = {
            "refusal_pct": est.model_dump(mode="json"),
            "empty": sum(1 for r in rows if not r.completion.strip()),
        }
    report = {"classifier": model.record.model_dump(mode="json"), "benchmarks": out}
    path = run.path / REFUSAL_FILE
    atomic_write_json(path, report)
    report["file"] = str(path)
    return report
