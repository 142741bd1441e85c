"""Batched vs one-at-a-time greedy generation on the built-in model (hf backend).

Runs the same greedy requests (default 32 prompts x 32 new tokens) through the hf backend with
batch size 8 and with batch size 1, on the same loaded model, interleaved (``--repeats`` rounds of
batch 8 then batch 1, the best round of each kept) so that both see the same machine load. For
each it prints tokens/s, the CPU utilisation (user + system CPU time of this process over wall
time: 2.0 means both cores of a 2-core machine were busy) and the share of the CPU's float32 peak
that the model's matrix products reached. The peak is measured here, before and after the runs,
as the best of several float32 matrix products on the same thread count. The 1-minute load average is printed
beside every figure: on a shared machine other processes take cores away, and a 2-thread run
waits at every parallel region for a thread that is not scheduled.

Both run as a spec loads the model by default: on a CPU with 2 or more threads, two batches are
decoded at once, each on one thread (``model.decode_workers``, :mod:`safetylens.models.hf`). A third
backend over the same model decodes batch 8 one batch at a time on both threads (``decode_workers:
1``), interleaved with the others, for the gain of the default and how many outputs agree.

Headline figures (through ``figures.figure``): batch 8 vs batch 1 (goal >= 4x) and batch 8's
aggregate tokens/s (goal >= 100), plus utilisation, peak share, and two decode workers vs one.

The model runs as a spec loads it: float32, with its large linear layers on oneDNN's pre-packed
weights (``model.cpu_kernel: auto``, :mod:`safetylens.models.cpu_kernels`). The batched requests then
run in fresh processes on each kernel, oneDNN and torch's own (``cpu_kernel: torch``, MKL), alternated
for ``--kernel-rounds`` rounds, for the ratio of the two (best of each) and how many outputs agree.
Then (unless ``--no-wait-policy``) OpenMP workers that sleep between parallel regions
(``OMP_WAIT_POLICY=PASSIVE``, what safetylens sets unless the user does) against workers that spin
(``ACTIVE``): one run alone, and two runs started together on the same cores.

Then, unless ``--no-bfloat16``, the same batched requests on a bfloat16 copy of the model (what
``model.dtype: bfloat16`` loads): at batch 8 a decoding step is almost all matrix products of a few
rows, which run far below the float32 peak while reading every weight once; bfloat16 halves those
reads, and CPUs with AVX512-BF16 or AMX multiply bfloat16 natively. It prints the speed
against float32 and how many outputs stay identical: bfloat16 rounds every product, so greedy
choices between near-tied tokens can flip, which is why it is an option and not the default.

Usage: PYTHONPATH=src python benchmarks/bench_generate_batching.py [--prompts 32] [--tokens 32] [--repeats 1]
    [--kernel-rounds 2] [--no-wait-policy] [--no-bfloat16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from figures import cpu_model, figure

TOPICS = [
    "the sea",
    "mountains",
    "a city at night",
    "bread",
    "rain",
    "a library",
    "trains",
    "the moon",
    "coffee",
    "a garden",
    "winter",
    "music",
    "a market",
    "rivers",
    "birds",
    "a desert",
]


def make_prompts(n: int) -> list[object]:
    from safetylens.models.base import Message

    prompts: list[object] = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        if i % 2:
            prompts.append((Message("user", f"Write a few sentences about {topic}."),))
        else:
            prompts.append(f"Here is a short story about {topic}. It begins:")
    return prompts


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def matmul_peak_gflops(threads: int, size: int = 1024, rounds: int = 8) -> float:
    """Best float32 GFLOP/s of a ``size`` x ``size`` matrix product on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # first call: kernel selection and page faults
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def linear_params(model: Any) -> tuple[int, int]:
    """(parameters of the linear layers below the output layer, parameters of the output layer)."""
    import torch

    from safetylens.models.cpu_kernels import PackedLinear

    head = model.get_output_embeddings()
    linear = (torch.nn.Linear, PackedLinear)

    def size(module: Any) -> int:
        return int(module.weight.numel())

    body = sum(size(m) for m in model.modules() if isinstance(m, linear) and m is not head)
    return body, size(head)


@dataclass
class Run:
    """One timed pass over all requests."""

    batch: int
    wall: float
    cpu: float
    new_tokens: int
    prompt_tokens: int
    load: float
    texts: list[str]

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.wall

    @property
    def utilisation(self) -> float:
        return self.cpu / self.wall

    def gflops(self, body: int, head: int) -> float:
        # Every prompt and generated token goes through the body; the output layer runs once per
        # generated token (the backend keeps only the last position's logits). Attention scores
        # are left out: at these lengths they are a few percent of the work.
        flops = 2 * body * (self.prompt_tokens + self.new_tokens) + 2 * head * self.new_tokens
        return flops / self.wall / 1e9


def timed_run(backend: Any, reqs: list[Any]) -> Run:
    load = os.getloadavg()[0]
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    out = backend.generate(reqs)
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return Run(
        batch=backend.forward_batch_size,
        wall=wall,
        cpu=cpu,
        new_tokens=sum(r.completion_tokens or 0 for r in out),
        prompt_tokens=sum(r.prompt_tokens or 0 for r in out),
        load=load,
        texts=[r.text for r in out],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--no-bfloat16", dest="bfloat16", action="store_false", help="skip the bfloat16 comparison")
    parser.add_argument("--kernel-rounds", type=int, default=2, help="fresh processes per kernel (0: skip)")
    parser.add_argument(
        "--no-wait-policy", dest="wait_policy", action="store_false", help="skip the OpenMP wait-policy comparison"
    )
    parser.add_argument("--child-kernel", choices=("onednn", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_kernel:
        _child_run(args)
        return

    from safetylens.models.base import Decoding, GenerationRequest
    from safetylens.models.hf import HFBackend
    from safetylens.spec import ModelSpec

    t0 = time.perf_counter()
    backend = HFBackend.from_spec(ModelSpec(name="builtin", batch_size=args.batch, threads=args.threads))
    print(f"load: {time.perf_counter() - t0:.1f} s ({backend.identity.info.get('conversion_cache')})")
    peak = matmul_peak_gflops(args.threads)
    print(
        f"float32 matmul peak ({args.threads} threads): {peak:.1f} GFLOP/s  "
        f"(load average {os.getloadavg()[0]:.2f}; {cpu_model()})"
    )
    body, head = linear_params(backend.model)
    # Both batch sizes decode the same requests; rows that hit EOS stop early in both.
    dec = Decoding(temperature=0.0, max_new_tokens=args.tokens)
    reqs = [GenerationRequest(prompt=p, decoding=dec) for p in make_prompts(args.prompts)]  # type: ignore[arg-type]
    backend.generate(reqs[:2])  # warm-up (first-call allocations)
    # More backends over the same loaded model: only the batch size, or the decode workers, differ.
    workers = backend.decode_workers
    backends = {
        "batched": backend,
        "single": HFBackend(backend.model, backend.tokenizer, model_name="single", weights_sha256=None, batch_size=1),
        "one worker": HFBackend(
            backend.model,
            backend.tokenizer,
            model_name="one worker",
            weights_sha256=None,
            batch_size=args.batch,
            decode_workers=1,
        ),
    }
    runs: dict[str, list[Run]] = {name: [] for name in backends}
    for _ in range(max(1, args.repeats)):
        for name, be in backends.items():
            run = timed_run(be, reqs)
            runs[name].append(run)
            print(
                f"batch {run.batch}, {be.decode_workers} decode worker(s): {run.wall:.1f} s, {run.tokens_per_s:.1f} "
                f"tokens/s, CPU utilisation {run.utilisation:.2f} cores, {run.gflops(body, head):.1f} GFLOP/s  "
                f"(load average {run.load:.2f})",
                flush=True,
            )
    # Measured again after the runs and the better value kept: other processes can take cores
    # away during either measurement, never add any.
    peak = max(peak, matmul_peak_gflops(args.threads))
    print(f"float32 matmul peak after the runs: best {peak:.1f} GFLOP/s (load average {os.getloadavg()[0]:.2f})")
    batched = min(runs["batched"], key=lambda r: r.wall)
    single = min(runs["single"], key=lambda r: r.wall)
    one_worker = min(runs["one worker"], key=lambda r: r.wall)
    same = sum(a == b for a, b in zip(batched.texts, single.texts, strict=True))
    ratio = single.wall / batched.wall
    print(f"requests: {len(reqs)}, max_new_tokens: {args.tokens}, generated tokens: {batched.new_tokens}")
    print(f"identical outputs: {same}/{len(reqs)} (padding changes float rounding; ties can flip)")
    print(f"speed-up (batch {args.batch} vs 1): {ratio:.2f}x  (goal >= 4x)")
    for run in (batched, single):
        print(f"batch {run.batch}: {100 * run.gflops(body, head) / peak:.0f}% of the float32 matmul peak")
    sizes = f"{len(reqs)} prompts x {args.tokens} tokens, {args.threads} threads"
    figure(f"generation batch {args.batch} vs 1", ratio, "x", ">= 4", note=f"{sizes}; load {batched.load:.1f}")
    figure(f"generation batch {args.batch} aggregate", batched.tokens_per_s, "tok/s", ">= 100", note=cpu_model())
    figure("generation batch 1", single.tokens_per_s, "tok/s", note=f"{sizes}; load {single.load:.1f}")
    figure(f"generation batch {args.batch} CPU utilisation", batched.utilisation, "cores", note=f"of {args.threads}")
    figure(
        f"generation batch {args.batch} share of matmul peak",
        100 * batched.gflops(body, head) / peak,
        "%",
        note=f"peak {peak:.0f} GFLOP/s float32, {args.threads} threads",
    )
    agree = sum(a == b for a, b in zip(batched.texts, one_worker.texts, strict=True))
    print(
        f"batch {args.batch}, {workers} decode workers vs 1: {one_worker.wall / batched.wall:.2f}x "
        f"({batched.tokens_per_s:.1f} vs {one_worker.tokens_per_s:.1f} tokens/s, {one_worker.utilisation:.2f} cores "
        f"with one); identical outputs {agree}/{len(reqs)}"
    )
    figure(
        f"generation batch {args.batch}, {workers} decode workers vs 1",
        one_worker.wall / batched.wall,
        "x",
        note=f"{sizes}; {batched.tokens_per_s:.1f} vs {one_worker.tokens_per_s:.1f} tok/s; {agree}/{len(reqs)} "
        "outputs identical",
    )
    del backends, backend
    if args.kernel_rounds > 0:
        kernel_comparison(args, sizes)
    if args.wait_policy:
        wait_policy_comparison(args, sizes)
    if args.bfloat16:
        plain = _reload(args.batch, args.threads, cpu_kernel="torch")
        bfloat16_comparison(plain, reqs, batched, args.batch, sizes)


def _reload(batch: int, threads: int, **options: Any) -> Any:
    from safetylens.models.hf import HFBackend
    from safetylens.spec import ModelSpec

    return HFBackend.from_spec(ModelSpec(name="builtin", batch_size=batch, threads=threads, **options))


def _child_run(args: argparse.Namespace) -> None:
    """One batched pass in a fresh process on the kernel ``--child-kernel`` names; prints it as JSON."""
    from safetylens.models.base import Decoding, GenerationRequest

    backend = _reload(args.batch, args.threads, cpu_kernel=args.child_kernel)
    dec = Decoding(temperature=0.0, max_new_tokens=args.tokens)
    reqs = [GenerationRequest(prompt=p, decoding=dec) for p in make_prompts(args.prompts)]  # type: ignore[arg-type]
    backend.generate(reqs[:2])  # warm-up
    run = timed_run(backend, reqs)
    row = {"kernel": args.child_kernel, "tokens_per_s": run.tokens_per_s, "cores": run.utilisation, "load": run.load}
    print(CHILD_TAG + json.dumps({**row, "texts": run.texts}), flush=True)


CHILD_TAG = "KERNEL_RUN "


def _children(args: argparse.Namespace, kernel: str, policy: str, count: int = 1) -> list[dict[str, Any]]:
    """``count`` batched passes in fresh processes started together, with OpenMP's wait policy set."""
    cmd = [sys.executable, __file__, "--child-kernel", kernel, "--prompts", str(args.prompts)]
    cmd += ["--tokens", str(args.tokens), "--batch", str(args.batch), "--threads", str(args.threads)]
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        for _ in range(count)
    ]
    rows = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"child run failed ({proc.returncode}): {' '.join(cmd)}")
        line = next(x for x in out.splitlines() if x.startswith(CHILD_TAG))
        rows.append(json.loads(line[len(CHILD_TAG) :]))
    return rows


def wait_policy_comparison(args: argparse.Namespace, sizes: str) -> None:
    """OpenMP workers that sleep between parallel regions (PASSIVE, the default) vs spin (ACTIVE).

    Alone on the machine, and as two runs started together on the same cores (a second job, a
    test suite beside a run). Spinning workers take the cores that the other decode worker, or the
    other process, needs; with a single batch on both threads they won alone, hence the check.
    """
    figures_out = {}
    for policy in ("PASSIVE", "ACTIVE"):
        alone = _children(args, "onednn", policy)[0]["tokens_per_s"]
        pair = [r["tokens_per_s"] for r in _children(args, "onednn", policy, count=2)]
        figures_out[policy] = (alone, pair)
        print(
            f"OMP_WAIT_POLICY={policy}, batch {args.batch}: alone {alone:.1f} tokens/s; two runs sharing the "
            f"cores {pair[0]:.1f} + {pair[1]:.1f} = {sum(pair):.1f} tokens/s",
            flush=True,
        )
    (p_alone, p_pair), (a_alone, a_pair) = figures_out["PASSIVE"], figures_out["ACTIVE"]
    figure(
        f"generation batch {args.batch}, spinning vs sleeping OpenMP workers, alone",
        a_alone / p_alone,
        "x",
        note=f"{sizes}; {a_alone:.1f} vs {p_alone:.1f} tok/s",
    )
    figure(
        f"generation batch {args.batch}, spinning vs sleeping OpenMP workers, two runs sharing the cores",
        sum(a_pair) / sum(p_pair),
        "x",
        note=f"{sizes}; {sum(a_pair):.1f} vs {sum(p_pair):.1f} tok/s in all",
    )


def kernel_comparison(args: argparse.Namespace, sizes: str) -> None:
    """oneDNN's packed weights vs torch's own float32 kernel (MKL), batched, in fresh processes.

    Each kernel runs in its own process, alternated for ``--kernel-rounds`` rounds and the best of
    each kept: in one process the second model would inherit the first's OpenMP thread state.
    """
    best: dict[str, dict[str, Any]] = {}
    for _ in range(max(1, args.kernel_rounds)):
        for kernel in ("onednn", "torch"):
            row = _children(args, kernel, os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))[0]
            print(
                f"{kernel} kernel, batch {args.batch}, fresh process: {row['tokens_per_s']:.1f} tokens/s, "
                f"{row['cores']:.2f} cores (load average {row['load']:.2f})",
                flush=True,
            )
            if kernel not in best or row["tokens_per_s"] > best[kernel]["tokens_per_s"]:
                best[kernel] = row
    ratio = best["onednn"]["tokens_per_s"] / best["torch"]["tokens_per_s"]
    same = sum(a == b for a, b in zip(best["onednn"]["texts"], best["torch"]["texts"], strict=True))
    print(
        f"oneDNN packed vs torch kernel (best of {args.kernel_rounds} fresh processes each): {ratio:.2f}x "
        f"({best['onednn']['tokens_per_s']:.1f} vs {best['torch']['tokens_per_s']:.1f} tokens/s); "
        f"identical outputs {same}/{args.prompts}"
    )
    figure(
        f"generation batch {args.batch}, oneDNN packed vs torch kernel",
        ratio,
        "x",
        note=f"{sizes}; {best['onednn']['tokens_per_s']:.1f} vs {best['torch']['tokens_per_s']:.1f} tok/s; "
        f"{same}/{args.prompts} outputs identical",
    )


def bfloat16_comparison(plain: Any, reqs: list[Any], batched: Run, batch: int, sizes: str) -> None:
    """The batched run again on a bfloat16 copy of the float32 model, against the float32 run."""
    import copy

    import torch

    from safetylens.models.hf import HFBackend

    model = copy.deepcopy(plain.model).to(torch.bfloat16)
    bf16 = HFBackend(model, plain.tokenizer, model_name="bf16", weights_sha256=None, batch_size=batch)
    bf16.generate(reqs[:2])  # warm-up
    run = timed_run(bf16, reqs)
    same = sum(a == b for a, b in zip(run.texts, batched.texts, strict=True))
    ratio = batched.wall / run.wall
    print(
        f"bfloat16, batch {batch}: {run.wall:.1f} s, {run.tokens_per_s:.1f} tokens/s, CPU utilisation "
        f"{run.utilisation:.2f} cores (load average {run.load:.2f}); {ratio:.2f}x float32; "
        f"identical outputs {same}/{len(reqs)}"
    )
    figure(
        f"generation batch {batch} aggregate, bfloat16 (opt-in)",
        run.tokens_per_s,
        "tok/s",
        note=f"{sizes}; {ratio:.2f}x float32; {same}/{len(reqs)} outputs identical; {cpu_model()}",
    )


if __name__ == "__main__":
    main()
