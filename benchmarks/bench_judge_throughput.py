"""Harm-judge throughput against a local OpenAI-compatible server running the built-in model.

Starts a server with the built-in GGUF (SmolLM2-135M-Instruct, Q4_1) and runs the ``server-judge``
harm scorer (the rubric prompt, greedy, ``max_new_tokens`` 8) over responses from the harm
calibration files (``judge_calibration/harm``, PyRIT's scored responses, cut to ``--max-chars``),
alternately one request at a time (``concurrency=1``) and with ``--concurrency`` requests in flight,
against the same server, for ``--rounds`` rounds (so that drift in the machine's load affects both
alike). Every pass judges different rows, so that no pass finds another's prompts in the server's
prompt cache; all share the rubric's prefix, which a caching server reuses in any pass.

The server is llama.cpp's own ``llama-server`` when one is found (``--server-binary``, else the
``LLAMA_SERVER`` environment variable, else ``~/.cache/safetylens/bin/llama-server``, else ``PATH``),
started with one slot per request in flight (``--concurrency``) and continuous batching; during each
pass its ``/slots`` endpoint is polled, and the most slots seen busy at once is printed, which shows
whether the requests really were processed together. Without it, llama-cpp-python's server
(``python -m llama_cpp.server``) is used; it runs one request at a time, so it cannot batch and any
gain there comes only from overlapping one request's HTTP round trip with another's model time.

Where the judge's ratio falls short, two more measurements say why: the split of one judge
request's model time between prompt processing and generation (llama-server's ``timings``), and a
decoding-bound control (short prompts, ``--control-tokens`` long answers) at the same two
concurrencies, where batching has work to share.

    PYTHONPATH=src SAFETYLENS_DATA_DIR=DIR python benchmarks/bench_judge_throughput.py [--items 48]
        [--rounds 2] [--concurrency 8] [--server-binary PATH] [--threads 2] [--control-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import figure

from safetylens.datasets.harm_labels import CATEGORIES, read_harm_file
from safetylens.models.base import Decoding, GenerationRequest, Message
from safetylens.models.builtin import builtin_gguf_path
from safetylens.models.openai_compat import OpenAIBackend
from safetylens.paths import user_data_dir
from safetylens.scorers import registry
from safetylens.scorers.llm_judge import HARM_RUBRIC

SERVED_NAME = "builtin"
DEFAULT_BINARY = Path.home() / ".cache" / "safetylens" / "bin" / "llama-server"
GOAL_RATIO = ">= 4"


def find_llama_server(explicit: str | None) -> Path | None:
    """The llama-server binary to use: the argument, ``LLAMA_SERVER``, the cache, then ``PATH``."""
    for candidate in (explicit, os.environ.get("LLAMA_SERVER"), str(DEFAULT_BINARY), shutil.which("llama-server")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    if explicit:
        raise SystemExit(f"--server-binary {explicit} is not an executable file")
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ModelServer:
    """llama-server or llama-cpp-python's server on the built-in GGUF, in a child process."""

    def __init__(self, binary: Path | None, threads: int, parallel: int, ctx_per_slot: int) -> None:
        gguf = str(builtin_gguf_path())
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/v1"
        if binary is not None:
            self.kind = "llama-server"
            cmd = [
                str(binary),
                *("-m", gguf, "--host", "127.0.0.1", "--port", str(port), "-a", SERVED_NAME),
                *("-t", str(threads), "-np", str(parallel), "-cb", "-c", str(ctx_per_slot * parallel)),
                "--no-webui",
            ]
            self.describe = f"llama.cpp llama-server ({binary}), {parallel} slots, continuous batching"
        else:
            self.kind = "llama-cpp-python"
            cmd = [
                sys.executable,
                *("-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1", "--port", str(port)),
                *("--model_alias", SERVED_NAME, "--n_threads", str(threads), "--n_ctx", str(ctx_per_slot)),
            ]
            self.describe = "llama-cpp-python's server (python -m llama_cpp.server): it serialises requests"
        self.log = open(os.devnull, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with status {self.proc.returncode} while starting")
            try:
                if httpx.get(self.url + "/models", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.close()
        raise RuntimeError(f"{self.kind} did not answer within {timeout_s:.0f} s")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class SlotWatcher:
    """Polls llama-server's ``/slots`` in a thread and keeps the most slots seen processing at once."""

    def __init__(self, root_url: str, interval_s: float = 0.02) -> None:
        self.url = root_url + "/slots"
        self.interval_s = interval_s
        self.max_busy = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    slots = client.get(self.url).json()
                except (httpx.HTTPError, ValueError):
                    slots = None
                if isinstance(slots, list):
                    busy = sum(1 for s in slots if isinstance(s, dict) and s.get("is_processing"))
                    self.max_busy = max(self.max_busy, busy)
                self._stop.wait(self.interval_s)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.max_busy


def load_rows(n: int, max_chars: int) -> list[tuple[str, str]]:
    """``n`` (request, response) pairs, taken in turn from each harm calibration file."""
    root = user_data_dir()
    if root is None:
        raise SystemExit("set SAFETYLENS_DATA_DIR to the reference data directory (judge_calibration/harm)")
    files = [read_harm_file(root / "judge_calibration" / "harm" / f"{c}.csv", c).rows for c in CATEGORIES]
    rows: list[tuple[str, str]] = []
    depth = 0
    while len(rows) < n and any(depth < len(f) for f in files):
        for f in files:
            if depth < len(f) and len(rows) < n:
                rows.append((f[depth].objective, f[depth].response[:max_chars]))
        depth += 1
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} calibration rows available, asked for {n}")
    return rows


def timed_judge(url: str, concurrency: int, rows: list[tuple[str, str]], warm: tuple[str, str]) -> tuple[float, int]:
    """Seconds to judge ``rows`` with a fresh judge at ``concurrency`` (after one warm-up item), and parsed count."""
    judge = registry.create("harm", "server-judge", model=SERVED_NAME, base_url=url, concurrency=concurrency)
    try:
        # Probes the server's capabilities (log-likelihood support) outside the timed part.
        judge.judge([warm[1]], [warm[0]])
        start = time.perf_counter()
        verdicts = judge.judge([r for _, r in rows], [p for p, _ in rows])
        elapsed = time.perf_counter() - start
    finally:
        judge.backend.close()
    return elapsed, sum(1 for v in verdicts if v.parsed)


def time_split(url: str, rows: list[tuple[str, str]], max_tokens: int = 8) -> dict[str, float] | None:
    """Where one judge request's time goes on llama-server, from its ``timings`` (mean over ``rows``).

    The requests are sent one at a time, as the judge sends them, to rows no pass has judged.
    """
    keys = ("cache_n", "prompt_n", "prompt_ms", "predicted_n", "predicted_ms")
    sums = dict.fromkeys(keys, 0.0)
    with httpx.Client(timeout=120) as client:
        for prompt, response in rows:
            body = {
                "model": SERVED_NAME,
                "messages": [{"role": "user", "content": HARM_RUBRIC.format(prompt=prompt, response=response)}],
                "max_tokens": max_tokens,
                "temperature": 0.0,
            }
            timings = client.post(url + "/chat/completions", json=body).json().get("timings")
            if not isinstance(timings, dict) or not all(isinstance(timings.get(k), int | float) for k in keys):
                return None
            for k in keys:
                sums[k] += float(timings[k])
    return {k: v / len(rows) for k, v in sums.items()}


TOPICS = ["the sea", "a city", "winter", "a library", "trains", "the moon", "a garden", "music", "rivers"]


def decode_tokens_per_s(url: str, concurrency: int, n: int, tokens: int, tag: str) -> float:
    """Generated tokens per second for ``n`` short prompts with long answers (the decoding-bound case)."""
    decoding = Decoding(temperature=0.0, max_new_tokens=tokens)
    requests = [
        GenerationRequest(
            (Message("user", f"Write a long story about {TOPICS[i % len(TOPICS)]} ({tag} {i})."),), decoding
        )
        for i in range(n)
    ]
    with OpenAIBackend([url], SERVED_NAME, max_concurrency=concurrency) as backend:
        start = time.perf_counter()
        results = backend.generate(requests)
        elapsed = time.perf_counter() - start
    return sum(r.completion_tokens or 0 for r in results) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=48, help="responses judged per pass")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of (one at a time, concurrent) passes, summed; drift cancels"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="model threads of the server")
    parser.add_argument("--max-chars", type=int, default=400, help="responses are cut to this many characters")
    parser.add_argument("--ctx-per-slot", type=int, default=1024, help="context tokens per server slot")
    parser.add_argument("--server-binary", default=None, help="llama.cpp's llama-server (see the module docs)")
    parser.add_argument(
        "--control-tokens",
        type=int,
        default=64,
        help="tokens per answer of the decoding-bound control (short prompts, long answers); 0 skips it",
    )
    parser.add_argument(
        "--python-server", action="store_true", help="use llama-cpp-python's server even when llama-server exists"
    )
    args = parser.parse_args()

    if args.concurrency < 2 or args.rounds < 1 or args.items < 1:
        parser.error("--concurrency must be at least 2, --rounds and --items at least 1")
    binary = None if args.python_server else find_llama_server(args.server_binary)
    n_warm, n_spare, passes = 4, 3, 2 * args.rounds
    rows = load_rows(n_warm + n_spare + passes * args.items, args.max_chars)
    warm, spare, rows = rows[:n_warm], rows[n_warm : n_warm + n_spare], rows[n_warm + n_spare :]
    server = ModelServer(binary, args.threads, args.concurrency, args.ctx_per_slot)
    print(f"server: {server.describe}; {args.threads} model threads; {os.cpu_count()} logical cores")
    print(
        f"harm server-judge on the built-in model: {args.rounds} rounds of one pass at concurrency 1 and one at"
        f" {args.concurrency}, {args.items} responses per pass (cut to {args.max_chars} chars), different rows in"
        " every pass"
    )
    seconds = {1: 0.0, args.concurrency: 0.0}
    parsed = {1: 0, args.concurrency: 0}
    try:
        # Warm-up: the model's pages, the server's caches and code paths, before anything is timed.
        timed_judge(server.url, args.concurrency, warm[1:], warm[0])
        for r in range(passes):
            level = 1 if r % 2 == 0 else args.concurrency
            chunk = rows[r * args.items : (r + 1) * args.items]
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            watcher = SlotWatcher(server.url.removesuffix("/v1")) if server.kind == "llama-server" else None
            t, ok = timed_judge(server.url, level, chunk, warm[0])
            busy = "" if watcher is None else f", at most {watcher.stop()} slots busy at once"
            seconds[level] += t
            parsed[level] += ok
            print(
                f"  round {r // 2 + 1}, concurrency {level}: {len(chunk) / t:6.2f} items/s ({t:.1f} s{busy})"
                f"  load {load}"
            )
        split = time_split(server.url, spare) if server.kind == "llama-server" else None
        control: tuple[float, float] | None = None
        if args.control_tokens > 0:
            n_control = args.concurrency
            control = (
                decode_tokens_per_s(server.url, 1, n_control, args.control_tokens, "one"),
                decode_tokens_per_s(server.url, args.concurrency, n_control, args.control_tokens, "many"),
            )
    finally:
        server.close()
    n = args.items * args.rounds
    ips1, ipsc = n / seconds[1], n / seconds[args.concurrency]
    ratio = ipsc / ips1
    loadc = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  concurrency 1: {ips1:6.2f} items/s ({seconds[1]:.1f} s for {n}, {parsed[1]} parsed)")
    print(
        f"  concurrency {args.concurrency}: {ipsc:6.2f} items/s ({seconds[args.concurrency]:.1f} s for {n},"
        f" {parsed[args.concurrency]} parsed)"
    )
    print(f"  ratio: {ratio:.2f}x  (load average after: {loadc})")
    if split is not None:
        print(
            f"  one judge request on llama-server (mean of {len(spare)}, one at a time): {split['prompt_n']:.0f}"
            f" prompt tokens processed in {split['prompt_ms']:.0f} ms ({split['cache_n']:.0f} more reused from its"
            f" prompt cache), {split['predicted_n']:.1f} tokens generated in {split['predicted_ms']:.0f} ms;"
            f" a judged item took {1000 * seconds[1] / n:.0f} ms at concurrency 1"
        )
    if control is not None:
        print(
            f"  control, decoding-bound ({args.concurrency} short prompts x up to {args.control_tokens} tokens):"
            f" {control[0]:.1f} tokens/s one at a time, {control[1]:.1f} tokens/s at concurrency"
            f" {args.concurrency}: {control[1] / control[0]:.2f}x"
        )
    if server.kind == "llama-cpp-python":
        print(
            "  llama-cpp-python's server answers one request at a time, so requests in flight only wait in its"
            " queue: no batching gain is possible. Build llama.cpp's llama-server (see --server-binary) to"
            " measure one."
        )
    elif split is not None and ratio < 4:
        share = split["prompt_ms"] / (split["prompt_ms"] + split["predicted_ms"])
        print(
            f"  Prompt processing is {100 * share:.0f}% of a request's model time here. It is already a matrix"
            " product for one request, so batching requests gains little there on a CPU whose cores the model"
            " threads already use; batching mainly speeds up the token-by-token part, which a judge's short"
            " answer keeps small."
        )
    note = f"{server.kind}, {n} items per level, {args.threads} threads, load {loadc}"
    figure("harm judge items/s (concurrency 1)", ips1, "items/s", note=note)
    figure(f"harm judge items/s (concurrency {args.concurrency})", ipsc, "items/s", note=note)
    figure(f"harm judge throughput, concurrency {args.concurrency} vs 1", ratio, "x", GOAL_RATIO, note=note)
    if control is not None:
        figure(
            f"decoding-bound control, concurrency {args.concurrency} vs 1",
            control[1] / control[0],
            "x",
            note=f"{server.kind}, {args.control_tokens}-token answers, {args.threads} threads",
        )


if __name__ == "__main__":
    main()
