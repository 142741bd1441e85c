"""Throughput and CPU cost of the openai backend's HTTP client against a server that answers at once.

The server is safetylens' OpenAI-compatible test server serving :class:`InstantBackend` (a fixed
reply, uniform log-probabilities), started in a separate process so that its CPU time is not the
client's. Requests go through the path a run uses: the openai backend behind the request planner
(:class:`~safetylens.cache.CachedModel`) with the request cache off, so each wave of ``batch_size``
requests is one ``generate`` / ``loglikelihood`` call. For each concurrency it prints requests per
second, the client's CPU time per request (``time.process_time`` of this process: the caller and
the backend's event-loop thread) and the server's (from ``/proc``), so a server that limits the
rate shows as server CPU close to one core. One more pass sends the headline setting (generate,
concurrency 32) through ``transport="httpx"``, the general-purpose client the backend uses for https
and proxied servers, as the baseline of the built-in HTTP/1.1 client.

    PYTHONPATH=src python benchmarks/bench_openai_client.py [--requests 2000] [--concurrency 1,8,32]
        [--kinds generate,loglikelihood] [--repeats 3] [--no-baseline]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import figure

from safetylens.cache import CachedModel
from safetylens.models.base import Decoding, GenerationRequest, LoglikelihoodRequest, Message
from safetylens.models.openai_compat import OpenAIBackend

HEADLINE_CONCURRENCY = 32
GOAL_RPS = ">= 500"


@dataclass
class Measure:
    """One timed pass."""

    requests: int
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float | None
    load: str

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s

    @property
    def client_ms(self) -> float:
        return 1000 * self.client_cpu_s / self.requests

    @property
    def server_ms(self) -> float | None:
        return None if self.server_cpu_s is None else 1000 * self.server_cpu_s / self.requests


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _proc_cpu_s(pid: int) -> float | None:
    """User plus system CPU seconds of a process (Linux ``/proc``); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields after the command name start at index 3 ("state"); utime and stime are 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class InstantServer:
    """The test server with the instant model, in a child process."""

    def __init__(self) -> None:
        cmd = [sys.executable, "-m", "safetylens.testing.openai_server", "--model", "instant", "--port", "0"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"http://\S+/v1", line)
        if not found:
            self.proc.kill()
            raise RuntimeError(f"the test server did not start: {line!r}")
        self.url = found.group(0)

    def cpu_s(self) -> float | None:
        return _proc_cpu_s(self.proc.pid)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def make_requests(kind: str, n: int, offset: int) -> Sequence[GenerationRequest | LoglikelihoodRequest]:
    """Distinct requests (the planner drops duplicates), half raw text and half chats for generation."""
    if kind == "loglikelihood":
        return [
            LoglikelihoodRequest(f"Question {offset + i}: is the sky blue?\nAnswer:", " yes" if i % 2 else " no")
            for i in range(n)
        ]
    decoding = Decoding(temperature=0.0, max_new_tokens=16)
    return [
        GenerationRequest(
            f"Request {offset + i}: tell me about the sea." if i % 2 else (Message("user", f"Request {offset + i}"),),
            decoding,
        )
        for i in range(n)
    ]


def run_once(
    backend: OpenAIBackend,
    kind: str,
    requests: Sequence[GenerationRequest | LoglikelihoodRequest],
    server: InstantServer,
) -> Measure:
    """Send ``requests`` through the planner (cache off) and time them."""
    model = CachedModel(backend, None)
    call: Callable[[], int]
    if kind == "generate":
        gen = [r for r in requests if isinstance(r, GenerationRequest)]

        def call() -> int:
            return sum(1 for _ in model.generate(gen))
    else:
        ll = [r for r in requests if isinstance(r, LoglikelihoodRequest)]

        def call() -> int:
            return sum(1 for _ in model.loglikelihood(ll))

    load = _load()
    server_before = server.cpu_s()
    cpu0, t0 = time.process_time(), time.perf_counter()
    done = call()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    server_after = server.cpu_s()
    if done != len(requests):
        raise RuntimeError(f"{done} results for {len(requests)} requests")
    server_cpu = None if server_before is None or server_after is None else server_after - server_before
    return Measure(len(requests), wall, cpu, server_cpu, load)


def measure(
    server: InstantServer, kind: str, level: int, n: int, repeats: int, offset: int, transport: str
) -> tuple[Measure, list[Measure]]:
    """The median pass (by requests/s) of ``repeats`` passes of ``n`` requests, and all passes."""
    with OpenAIBackend(
        [server.url],
        "instant",
        max_concurrency=level,
        batch_size=level,
        transport=transport,  # type: ignore[arg-type]
    ) as backend:
        # Warm-up: connections opened, log-likelihood mode probed, code paths loaded.
        run_once(backend, kind, make_requests(kind, max(level, 32), offset), server)
        passes = []
        for r in range(repeats):
            passes.append(run_once(backend, kind, make_requests(kind, n, offset + (r + 1) * 10_000_000), server))
    return sorted(passes, key=lambda p: p.rps)[len(passes) // 2], passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per timed pass")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated max_concurrency values")
    parser.add_argument("--kinds", default="generate,loglikelihood")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per setting (the median is reported)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the httpx-transport pass (generate, concurrency 32)"
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c]
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - {"generate", "loglikelihood"}
    if unknown:
        parser.error(f"unknown kind(s): {', '.join(sorted(unknown))}")
    headline_kind = "generate" if "generate" in kinds else kinds[0]
    settings = [("auto", kind, level) for kind in kinds for level in levels]
    if not args.no_baseline and HEADLINE_CONCURRENCY in levels:
        settings.append(("httpx", headline_kind, HEADLINE_CONCURRENCY))

    server = InstantServer()
    print(f"instant test server (separate process) at {server.url}; {os.cpu_count()} logical cores")
    print(f"{args.requests} requests per pass, median of {args.repeats} passes; the request cache is off")
    print(
        "transport auto: the backend's own HTTP/1.1 client (plain http); httpx: every request through httpx\n"
        f"{'transport':<10}{'kind':<14}{'conc.':>6}{'req/s':>10}{'client CPU':>13}{'server CPU':>13}"
        "  load average (1/5/15 min)\n" + " " * 43 + "ms/request   ms/request"
    )
    results: dict[tuple[str, str, int], Measure] = {}
    try:
        for i, (transport, kind, level) in enumerate(settings):
            m, passes = measure(server, kind, level, args.requests, args.repeats, i * 100_000_000, transport)
            results[(transport, kind, level)] = m
            server_ms = "n/a" if m.server_ms is None else f"{m.server_ms:.3f}"
            spread = f"(passes: {', '.join(f'{p.rps:.0f}' for p in passes)} req/s)"
            print(
                f"{transport:<10}{kind:<14}{level:>6}{m.rps:>10.0f}{m.client_ms:>13.3f}{server_ms:>13}"
                f"  {m.load}  {spread}",
                flush=True,
            )
    finally:
        server.close()
    headline = results.get(("auto", headline_kind, HEADLINE_CONCURRENCY))
    if headline is None:
        print(f"(no headline figure: concurrency {HEADLINE_CONCURRENCY} was not run)")
        return
    # A server near 100% of one core means the test server, not the client, set the rate.
    server_busy = (
        "" if headline.server_cpu_s is None else f"; server busy {100 * headline.server_cpu_s / headline.wall_s:.0f}%"
    )
    note = f"{headline_kind}, {headline.requests} requests, load {headline.load}{server_busy}"
    figure(
        f"openai client requests/s (instant server, concurrency {HEADLINE_CONCURRENCY})",
        headline.rps,
        "req/s",
        GOAL_RPS,
        note=note,
    )
    figure("openai client CPU per request", headline.client_ms, "ms", note=note)
    baseline = results.get(("httpx", headline_kind, HEADLINE_CONCURRENCY))
    if baseline is not None:
        print(
            f"httpx transport at concurrency {HEADLINE_CONCURRENCY}: {baseline.rps:.0f} req/s,"
            f" {baseline.client_ms:.3f} ms client CPU per request"
        )
        if importlib.util.find_spec("sniffio") is None:
            print(
                "  (sniffio is not installed here: httpcore tries to import it for every lock it sets up, and"
                " each failed import searches sys.path, part of httpx's cost in this environment)"
            )
        figure(
            "openai client CPU per request, httpx transport / built-in",
            baseline.client_ms / headline.client_ms,
            "x",
            note=f"{headline_kind}, concurrency {HEADLINE_CONCURRENCY}, same server and run",
        )


if __name__ == "__main__":
    main()
