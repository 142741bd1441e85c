"""safetylens `truthfulqa-mc` vs lm-evaluation-harness `truthfulqa_mc1` / `truthfulqa_mc2` on the same model and items.

lm-evaluation-harness is not a dependency: install it in a scratch environment and pass its
interpreter with ``--lm-eval-python``, for example::

    python3 -m venv /tmp/lmeval
    /tmp/lmeval/bin/pip install torch==2.13.0 && /tmp/lmeval/bin/pip install "lm-eval==0.4.13" transformers accelerate

(torch first, pinned to the project's version, so that pip takes the CPU build; lm-eval 0.4.13 does
not depend on transformers itself. Pin transformers to the project's version so that both tools
run the same model code.)

Both tools read the same Hugging Face model directory (``--model-dir``, float32, CPU). For the
built-in model, ``--model-dir`` defaults to the dequantised copy the hf backend caches for its
GGUF file (the weights safetylens' ``builtin`` runs on). lm-eval runs its own task files
(``truthfulqa_mc1.yaml``, ``truthfulqa_mc2.yaml`` and ``utils.process_results_mc2`` of the installed
version) with only the data source replaced: the pinned ``mc_task.json`` converted to the layout of
the Hugging Face ``truthful_qa`` ``multiple_choice`` set (same questions, same order, same choice
order), because this machine has no network. safetylens runs ``truthfulqa-mc`` through its normal
run pipeline (request planner, shared-context path).

Prints per-item differences (MC1 agreement, |MC2 difference|, the largest |log-likelihood
difference| over the choices) and the aggregate MC1/MC2 of both, with the goal |difference| <= 1e-3,
and reports three headline figures through ``figures.figure``: the speed ratio (lm-eval's wall time
over safetylens', goal >= 5x) and both aggregate differences. The two tools run one after the
other, so the load average is printed beside each time: on a shared machine compare only runs made
under similar load.

Usage (project environment)::

    PYTHONPATH=src python benchmarks/compare_lm_eval_truthfulqa.py --lm-eval-python /tmp/lmeval/bin/python \\
        [--model-dir DIR] [--limit 100] [--batch-size 8] [--threads 2] [--out /tmp/tqa-compare]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from figures import cpu_model, figure

# ---------------------------------------------------------------------------- lm-eval worker
# Runs inside the lm-eval environment (no safetylens import there).


def _lm_eval_worker(args: argparse.Namespace) -> None:
    import lm_eval
    from lm_eval.tasks import TaskManager

    tasks_dir = Path(lm_eval.__file__).parent / "tasks" / "truthfulqa"
    include = Path(args.work) / "tasks"
    include.mkdir(parents=True, exist_ok=True)
    for name in ("mc1", "mc2"):
        # Inherit lm-eval's own task file (prompt, choices, target, process_results); replace the data only.
        (include / f"local_truthfulqa_{name}.yaml").write_text(
            f"include: {tasks_dir / f'truthfulqa_{name}.yaml'}\n"
            f"task: local_truthfulqa_{name}\n"
            "tag: []\n"
            "dataset_path: json\n"
            "dataset_name: null\n"
            "dataset_kwargs:\n"
            "  data_files:\n"
            f"    validation: {args.docs}\n",
            encoding="utf-8",
        )
    import torch

    torch.set_num_threads(args.threads)
    tm = TaskManager(include_path=str(include))
    t0 = time.perf_counter()
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={args.model_dir},dtype=float32,device=cpu",
        tasks=["local_truthfulqa_mc1", "local_truthfulqa_mc2"],
        task_manager=tm,
        batch_size=args.batch_size,
        limit=args.limit,
        log_samples=True,
        num_fewshot=0,
    )
    elapsed = time.perf_counter() - t0
    assert out is not None
    per: dict[str, Any] = {}
    for name in ("mc1", "mc2"):
        rows: list[dict[str, Any]] = []
        for s in out["samples"][f"local_truthfulqa_{name}"]:
            lls = [float(r[0]) for r in s["filtered_resps"]]
            rows.append({"doc_id": int(s["doc_id"]), "acc": float(s["acc"]), "lls": lls})
        rows.sort(key=lambda r: r["doc_id"])
        per[name] = {
            "samples": rows,
            "acc": float(out["results"][f"local_truthfulqa_{name}"]["acc,none"]),
            "first_context": out["samples"][f"local_truthfulqa_{name}"][0]["arguments"][0][0],
        }
    per["version"] = lm_eval.__version__ if hasattr(lm_eval, "__version__") else "unknown"
    per["seconds"] = elapsed
    Path(args.result).write_text(json.dumps(per), encoding="utf-8")


# ------------------------------------------------------------------------------ main (ours)


def _default_model_dir(threads: int) -> Path:
    from safetylens.models.hf import HFBackend
    from safetylens.spec import ModelSpec

    backend = HFBackend.from_spec(ModelSpec(name="builtin", threads=threads))
    path = Path(str(backend.identity.info["conversion_dir"]))
    backend.close()
    return path


def _write_docs(path: Path) -> int:
    """mc_task.json in the HF `truthful_qa` multiple_choice layout (choices/labels lists), one JSON per line."""
    from safetylens.datasets.registry import DataStore
    from safetylens.datasets.truthfulqa import load_mc_items

    items = load_mc_items(DataStore())
    with open(path, "w", encoding="utf-8") as fh:
        for it in items:
            doc = {
                "question": it.question,
                "mc1_targets": {"choices": list(it.mc1.choices), "labels": list(it.mc1.labels)},
                "mc2_targets": {"choices": list(it.mc2.choices), "labels": list(it.mc2.labels)},
            }
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return len(items)


def _ours(model_dir: Path, limit: int | None, batch: int, threads: int, out: Path) -> dict[str, Any]:
    from safetylens.models.hf import HFBackend
    from safetylens.runs import RunDir, execute
    from safetylens.spec import ModelSpec, build_spec

    spec = build_spec(
        {
            "model": {"name": str(model_dir), "dtype": "float32", "device": "cpu", "batch_size": batch},
            "benchmarks": [{"name": "truthfulqa-mc", "options": {"bootstrap_resamples": 1000}}],
            "limit": limit,
            "output_dir": str(out / "runs"),
            # Computed every time: a request cache left by an earlier run would time a lookup.
            "use_cache": False,
        }
    )
    backend = HFBackend.from_spec(
        ModelSpec(name=str(model_dir), dtype="float32", device="cpu", batch_size=batch, threads=threads)
    )
    run = RunDir.create(spec)
    t0 = time.perf_counter()
    res = execute(spec, backend, run)["truthfulqa-mc"]
    elapsed = time.perf_counter() - t0
    backend.close()
    return {"result": res, "records": run.records(), "scores": {s["id"]: s for s in run.scores()}, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--lm-eval-python",
        default=os.environ.get("LM_EVAL_PYTHON"),
        help="interpreter of the environment with lm-eval installed (default: $LM_EVAL_PYTHON)",
    )
    parser.add_argument("--model-dir", type=Path, help="HF model directory (default: the built-in model's)")
    parser.add_argument("--limit", type=int, default=100, help="first N questions (0 = all 817)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "tqa-compare")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--docs", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.limit = args.limit or None
        _lm_eval_worker(args)
        return
    if not args.lm_eval_python:
        parser.error("--lm-eval-python (or LM_EVAL_PYTHON) is required")
    limit = args.limit or None
    args.out.mkdir(parents=True, exist_ok=True)
    model_dir = args.model_dir or _default_model_dir(args.threads)
    docs = args.out / "truthfulqa_mc.jsonl"
    n_docs = _write_docs(docs)
    print(f"model: {model_dir}\nquestions: {limit or n_docs} of {n_docs}")

    result_path = args.out / "lm_eval.json"
    cmd = [args.lm_eval_python, __file__, "--worker", "--docs", str(docs), "--work", str(args.out)]
    cmd += ["--result", str(result_path), "--model-dir", str(model_dir), "--limit", str(args.limit)]
    cmd += ["--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    # As the hf backend does: spinning OpenMP workers slow both tools badly on a shared machine.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    load_before = os.getloadavg()[0]
    subprocess.run(cmd, check=True, env=env)
    theirs = json.loads(result_path.read_text(encoding="utf-8"))
    load_between = os.getloadavg()[0]
    ours = _ours(model_dir, limit, args.batch_size, args.threads, args.out)
    load_after = os.getloadavg()[0]

    from safetylens.datasets.truthfulqa import QA_PRIMER

    records = {r["meta"]["index"]: r for r in ours["records"]}
    first = records[0]["contexts"][0]
    assert theirs["mc1"]["first_context"] == first, "lm-eval's context differs from ours"
    assert first.startswith(QA_PRIMER)
    worst_ll = 0.0
    mc1_disagree: list[int] = []
    mc2_diffs: list[tuple[float, int]] = []
    print("\n doc | MC1 ours lm-eval | MC2 ours        lm-eval         |diff|    | max |ll diff|")
    for s1, s2 in zip(theirs["mc1"]["samples"], theirs["mc2"]["samples"], strict=True):
        i = s1["doc_id"]
        rec = records[i]
        sc = ours["scores"][rec["id"]]
        n1 = len(rec["meta"]["mc1_labels"])
        lls = [x["logprob"] for x in rec["loglikelihood"]]
        ll_diff = max(abs(a - b) for a, b in zip(lls, [*s1["lls"], *s2["lls"]], strict=True))
        assert len(lls) - n1 == len(s2["lls"])
        worst_ll = max(worst_ll, ll_diff)
        d2 = abs(float(sc["mc2"]) - s2["acc"])
        mc2_diffs.append((d2, i))
        if float(sc["mc1"]) != s1["acc"]:
            mc1_disagree.append(i)
        print(
            f"{i:4d} | {float(sc['mc1']):.0f}    {s1['acc']:.0f}       | {sc['mc2']:.10f} {s2['acc']:.10f} "
            f"{d2:.2e} | {ll_diff:.2e}"
        )
    res = ours["result"]
    n = len(mc2_diffs)
    print(f"\nitems compared: {n}")
    print(
        f"lm-eval {theirs['version']}: mc1 {theirs['mc1']['acc']:.6f}  mc2 {theirs['mc2']['acc']:.6f}  "
        f"({theirs['seconds']:.1f} s)"
    )
    print(
        f"safetylens:    mc1 {res.headline['mc1'].value:.6f}  mc2 {res.headline['mc2'].value:.6f}  "
        f"({ours['seconds']:.1f} s)"
    )
    print(
        f"|aggregate diff|: mc1 {abs(res.headline['mc1'].value - theirs['mc1']['acc']):.2e}  "
        f"mc2 {abs(res.headline['mc2'].value - theirs['mc2']['acc']):.2e}  (goal <= 1e-3)"
    )
    print(f"MC1 per-item disagreements: {len(mc1_disagree)} {mc1_disagree[:20]}")
    top = max(mc2_diffs)
    print(f"max per-item |MC2 diff|: {top[0]:.2e} (doc {top[1]}); max |log-likelihood diff|: {worst_ll:.2e}")
    d_mc1 = abs(res.headline["mc1"].value - theirs["mc1"]["acc"])
    d_mc2 = abs(res.headline["mc2"].value - theirs["mc2"]["acc"])
    ok = d_mc1 <= 1e-3 and d_mc2 <= 1e-3
    print("RESULT:", "equal to 1e-3" if ok else "DIFFERENT")
    ratio = theirs["seconds"] / ours["seconds"]
    print(
        f"speed-up (lm-eval / safetylens): {ratio:.2f}x  (goal >= 5x); 1-minute load average "
        f"{load_before:.1f} before lm-eval, {load_between:.1f} between, {load_after:.1f} after safetylens"
    )
    note = f"{n} questions, batch {args.batch_size}, {args.threads} threads, lm-eval {theirs['version']}, {cpu_model()}"
    figure("truthfulqa-mc vs lm-eval speed", ratio, "x", ">= 5", note=note)
    figure("truthfulqa-mc MC1 |diff| vs lm-eval", d_mc1, "", "<= 0.001", note=f"{n} questions")
    figure("truthfulqa-mc MC2 |diff| vs lm-eval", d_mc2, "", "<= 0.001", note=f"{n} questions")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
