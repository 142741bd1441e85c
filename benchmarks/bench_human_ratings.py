"""Rating submissions per second and latency with 50 concurrent raters, SQLite and PostgreSQL.

A real server (``uvicorn`` running ``safetylens.human.app``, one worker process) is started on
127.0.0.1 for each database; 50 simulated raters, each with its own keep-alive connection and
session, rate as fast as they can through the JSON API for a fixed time. Two flows are timed:

- ``submit+next``: ``POST /api/assignments/{id}/rating?next=true`` records the rating and reserves
  the next item in one request (what an API client does);
- ``next, submit``: ``POST /api/studies/{id}/next`` then ``POST .../rating`` (two requests per
  rating, like the HTML form flow without the page render).

Each flow runs closed loop (every client sends again as soon as it is answered: the server's
ceiling; mean latency is then clients / throughput by Little's law, e.g. 50 / 400 per s = 125 ms,
whatever the server does). ``submit+next`` also runs open loop at fixed offered loads
(``--rates``, default 150 and 300 ratings/s spread over the 50 clients), each after ``healthz``
at the same load (the latency the harness and framework add alone): requests leave on a
schedule and latency counts from the scheduled time, so queueing is charged to the server (no
coordinated omission, as in wrk2). The latency goal is read at an offered load of 300/s.

CPU columns: ``app CPU ms/op`` is the server process tree's CPU per operation; ``DB CPU ms/op``
that of this machine's PostgreSQL processes (a database elsewhere is not measured; SQLite runs
inside the app); ``cores busy`` the share of all cores busy during the load, load generator
included (near 100%: the machine, not the server's design, is the limit).

Before each load the study is topped up with new items (imported while the server is idle) so
that it cannot run out during the load; a load whose clients are told ``done`` anyway is flagged.
Each client's first item is reserved before the clock starts (:func:`first_items`).

After the loads every rating a client was told is stored must be in the database once (none
lost, none duplicated, none stored that no client was told of) and the items' counters must
match their ratings; the run fails otherwise.

To measure another checkout's code with this harness (old against new on the same machine), set
``PYTHONPATH`` to its ``src``: the script and its server import that code instead of this
checkout's.

The baseline, measured in the same run against the same server with the same 50 connections,
is ``GET /healthz`` (the framework's ceiling on this machine); the table reports each flow's
throughput as a ratio of it. The load generator is a minimal HTTP/1.1 client on asyncio streams
so that it takes as little CPU as possible away from the server on a small machine.

Usage::

    python benchmarks/bench_human_ratings.py [--seconds 15] [--clients 50] [--db sqlite,postgres]
        [--pg postgresql://root@127.0.0.1:5432/test] [--workers 1] [--db-concurrency N] [--rates 150,300]
        [--json out.json]

Goal (issue 8): >= 300 submissions/s (closed loop) and p99 < 100 ms (open loop at 300/s) on the
2-core reference machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
# The code under test: this checkout's, or the checkout PYTHONPATH names (see the module doc).
SRC = os.environ.get("PYTHONPATH") or str(ROOT / "src")
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, SRC)
sys.path.insert(0, str(ROOT / "benchmarks"))

from figures import figure  # noqa: E402

import safetylens  # noqa: E402
from safetylens.human.auth import create_user  # noqa: E402
from safetylens.human.db import Database, upgrade, utcnow  # noqa: E402
from safetylens.human.importing import Record, import_records  # noqa: E402
from safetylens.human.studies import acknowledge_guidelines, add_members, create_study  # noqa: E402

PASSWORD = "bench-password-1"


# ------------------------------------------------------------------------------- HTTP client


class Conn:
    """One keep-alive HTTP/1.1 connection with a session cookie."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.cookie = ""
        self.csrf = ""

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None and self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(payload)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if self.cookie:
            head.append(f"Cookie: {self.cookie}")
        if self.csrf:
            head.append(f"X-CSRF-Token: {self.csrf}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                k = k.strip().lower()
                headers[k] = (headers[k] + "\n" + v.strip()) if k in headers else v.strip()
        n = int(headers.get("content-length", "0"))
        data = await self.reader.readexactly(n) if n else b""
        return status, headers, data

    async def login(self, username: str) -> None:
        status, headers, data = await self.request("POST", "/api/login", {"username": username, "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"login failed: {status} {data[:200]!r}")
        for line in headers.get("set-cookie", "").split("\n"):
            if line.startswith("sl_session="):
                self.cookie = line.split(";", 1)[0]
        self.csrf = json.loads(data)["csrf_token"]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ---------------------------------------------------------------------------------- fixture


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bench_records(n: int, *, start: int = 0, prompt_repeat: int = 1, response_repeat: int = 1) -> list[Record]:
    """``n`` single-turn records of one model (prompts ``start`` on), the texts repeated to length."""
    return [
        Record(
            external_id=f"p{i}",
            conversation=[{"role": "user", "content": f"adversarial prompt number {i} " * prompt_repeat}],
            response=f"a model response of moderate length to prompt {i}. " * response_repeat,
            model="bench-model",
            risk_category="unqualified advice",
        )
        for i in range(start, start + n)
    ]


def import_bench_items(db: Database, study_id: int, n: int, start: int, level: int) -> None:
    """Import ``n`` items; with ``level``, each then gets that many ratings by the ``other*`` raters.

    The earlier ratings are written in bulk as ratings leave them (submitted assignments, ratings,
    the item's claimed and completed counts), so that every reservation of the timed load is made
    at that level, as late in a real study.
    """
    from sqlalchemy import text

    import_records(db, study_id, bench_records(n, start=start, prompt_repeat=5, response_repeat=12))
    if not level:
        return
    now = utcnow()
    with db.engine.begin() as conn:
        others = list(conn.scalars(text("SELECT id FROM users WHERE username LIKE 'other%' ORDER BY id")))
        fresh = "SELECT i.id FROM items i WHERE i.study_id = :s AND i.claimed = 0"
        for rid in others[:level]:
            conn.execute(
                text(
                    "INSERT INTO assignments (study_id, item_id, rater_id, status, reserved_at, expires_at,"
                    f" submitted_at, is_gold) SELECT :s, f.id, :r, 'submitted', :t, :t, :t, :f FROM ({fresh}) f"
                ),
                {"s": study_id, "r": rid, "t": now, "f": False},
            )
        conn.execute(
            text(
                "INSERT INTO ratings (assignment_id, study_id, item_id, rater_id, value, scale, comment,"
                " time_spent_ms, server_elapsed_ms, guidelines_version, created_at)"
                " SELECT a.id, a.study_id, a.item_id, a.rater_id, 4, 'llama2-safety-5', '', NULL, 0, 1, :t"
                f" FROM assignments a WHERE a.item_id IN ({fresh})"
            ),
            {"s": study_id, "t": now},
        )
        conn.execute(
            text("UPDATE items SET claimed = :k, completed = :k WHERE study_id = :s AND claimed = 0"),
            {"s": study_id, "k": level},
        )


def prepare_db(url: str, n_clients: int, n_prompts: int, level: int = 0) -> int:
    """Migrate, add raters and a safety study with ``n_prompts`` items (N = 3); returns the study id.

    ``level``: raters (``other*``, never logged in) already on every item (:func:`import_bench_items`).
    """
    db = Database(url)
    upgrade(db)
    raters = [create_user(db, f"bench{i}", PASSWORD, "rater") for i in range(n_clients)]
    others = [create_user(db, f"other{k}", PASSWORD, "rater") for k in range(level)]
    study = create_study(db, "bench", "safety", raters_per_item=3, seed=1, balance=False)
    add_members(db, study.id, [r.username for r in others])
    import_bench_items(db, study.id, n_prompts, 0, level)
    add_members(db, study.id, [r.username for r in raters])
    for r in raters:
        acknowledge_guidelines(db, study.id, r.id, 1)
    db.dispose()
    return study.id


@dataclass
class Server:
    """uvicorn in a child process."""

    url: str
    workers: int
    db_concurrency: int | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = dict(os.environ, SAFETYLENS_HUMAN_DB=self.url, PYTHONPATH=SRC)
        if self.db_concurrency is not None:
            env["SAFETYLENS_HUMAN_DB_CONCURRENCY"] = str(self.db_concurrency)
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "safetylens.human.app:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--timeout-keep-alive",
            "300",
            "--workers",
            str(self.workers),
        ]
        if os.environ.get("BENCH_PYSPY"):
            # Developer aid: sample the server with py-spy (collapsed stacks) while it runs.
            cmd = ["py-spy", "record", "--format", "raw", "-r", "200", "-o", os.environ["BENCH_PYSPY"], "--", *cmd]
        self.proc = subprocess.Popen(cmd, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ------------------------------------------------------------------------------------ loads


@dataclass
class Result:
    """One timed load."""

    name: str
    ops: int = 0
    errors: int = 0
    ran_out: int = 0  # clients told "done" (no item left for them) before the load's end
    duplicates: int = 0  # ratings the server answered as already recorded (each is sent once)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    server_cpu_s: float = float("nan")
    db_cpu_s: float = float("nan")  # PostgreSQL on this machine; SQLite's work is in the app's CPU
    machine_busy: float = float("nan")  # share of all cores busy (app, database, this load generator)

    @property
    def cpu_ms_per_op(self) -> float:
        """Server CPU time per operation (the app process; PostgreSQL's own work not included)."""
        return 1000 * self.server_cpu_s / self.ops if self.ops else float("nan")

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ops": self.ops,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "per_s": round(self.rate, 1),
            "p50_ms": round(self.pct(0.50), 2),
            "p99_ms": round(self.pct(0.99), 2),
            "ran_out": self.ran_out,
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else None,
            "server_cpu_ms_per_op": round(self.cpu_ms_per_op, 3),
            "db_cpu_ms_per_op": round(1000 * self.db_cpu_s / self.ops, 3)
            if self.ops and self.db_cpu_s == self.db_cpu_s
            else None,
            "machine_busy": round(self.machine_busy, 3),
        }


async def first_items(conns: list[Conn], study_id: int) -> list[dict[str, Any]]:
    """Each client's first reservation (``POST .../next``), fetched before a load's clock starts.

    Inside the timed window these 50 requests left at the same instant, a burst no offered rate
    describes: at an offered 300/s every request slower than 40 ms fell in the first 0.3 s of
    the load, queued behind it.
    """

    async def first(c: Conn) -> dict[str, Any]:
        _, _, data = await c.request("POST", f"/api/studies/{study_id}/next")
        body: dict[str, Any] = json.loads(data)
        return body

    return list(await asyncio.gather(*(first(c) for c in conns)))


async def run_load(
    conns: list[Conn],
    study_id: int,
    seconds: float,
    flow: str,
    rate: float | None = None,
    first: list[dict[str, Any]] | None = None,
) -> Result:
    """Run one flow on every connection for ``seconds``.

    Closed loop (``rate`` None): each client sends its next request as soon as the previous one
    is answered, so the server is saturated and mean latency is clients / throughput (Little's
    law). Open loop (``rate`` requests/s in total): client ``i`` of ``n`` is scheduled to send at
    ``start + (i + k * n) / rate``; latency is measured from the *scheduled* time, so a server
    that falls behind is charged for the queueing it causes (no coordinated omission).
    ``first``: each client's first item (:func:`first_items`); required unless ``flow`` is healthz.
    """
    res = Result(flow if rate is None else f"{flow} @{rate:g}/s")
    n = len(conns)
    t0 = time.perf_counter()
    stop = t0 + seconds

    async def tick(i: int, k: int) -> float:
        """Wait for request k of client i; return the time it counts from."""
        if rate is None:
            return time.perf_counter()
        due = t0 + (i + k * n) / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        return due

    async def rater(i: int, c: Conn) -> None:
        k = 0
        if flow == "healthz":
            while True:
                t = await tick(i, k)
                if t >= stop:
                    return
                status, _, _ = await c.request("GET", "/healthz")
                res.latencies_ms.append((time.perf_counter() - t) * 1000)
                res.ops += status == 200
                res.errors += status != 200
                k += 1
        assert first is not None
        body = first[i]
        while True:
            t = await tick(i, k)
            if t >= stop:
                return
            if "error" in body:  # the rating was stored but no next item was reserved
                res.errors += 1
                return
            if body.get("done", True):
                res.ran_out += 1
                return
            k += 1
            aid = body["assignment_id"]
            value = 1 + secrets.randbelow(5)
            if flow == "submit+next":
                status, _, data = await c.request(
                    "POST", f"/api/assignments/{aid}/rating?next=true", {"value": value, "time_spent_ms": 900}
                )
                res.latencies_ms.append((time.perf_counter() - t) * 1000)
                if status != 200:
                    res.errors += 1
                    return
                res.ops += 1
                answer = json.loads(data)
                res.duplicates += bool(answer["duplicate"])
                body = answer["next"]
            else:
                status, _, data = await c.request(
                    "POST", f"/api/assignments/{aid}/rating", {"value": value, "time_spent_ms": 900}
                )
                res.latencies_ms.append((time.perf_counter() - t) * 1000)
                if status != 200:
                    res.errors += 1
                    return
                res.ops += 1
                res.duplicates += bool(json.loads(data)["duplicate"])
                status, _, data = await c.request("POST", f"/api/studies/{study_id}/next")
                if status != 200:
                    res.errors += 1
                    return
                body = json.loads(data)

    await asyncio.gather(*(rater(i, c) for i, c in enumerate(conns)))
    res.seconds = time.perf_counter() - t0
    return res


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its reaped children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def server_cpu_s(proc: subprocess.Popen[bytes] | None) -> float:
    """CPU seconds of the server process tree (uvicorn, its workers)."""
    if proc is None:
        return float("nan")
    pids = [proc.pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    return sum(process_cpu_s(p) for p in pids)


def postgres_cpu_s() -> float:
    """CPU seconds of this machine's PostgreSQL processes (its backends, writers, checkpointer)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        if stat[stat.index("(") + 1 : stat.rindex(")")] == "postgres":
            total += process_cpu_s(int(entry.name))
    return total


def _per_op_ms(seconds: float, ops: int) -> str:
    """Milliseconds per operation for the table; ``-`` where not measured (SQLite, a remote database)."""
    return "-" if ops == 0 or seconds != seconds else f"{1000 * seconds / ops:.2f}"


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat (steal counts as busy)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


async def bench_server(
    url: str,
    port: int,
    n_clients: int,
    study_id: int,
    seconds: float,
    proc: subprocess.Popen[bytes] | None = None,
    flows: tuple[str, ...] = ("healthz", "submit+next", "next, submit"),
    rates: tuple[float, ...] = (),
    level: int = 0,
) -> tuple[list[Result], Result]:
    """Run the loads against a started server; returns their results and the warm-up's."""
    conns = [Conn("127.0.0.1", port) for _ in range(n_clients)]
    for i, c in enumerate(conns):
        await c.open()
        await c.login(f"bench{i}")
    out = []
    top_up(url, study_id, int(3000 * min(3.0, seconds)), level)
    # warm-up: caches, pools, JIT-free paths; its rate sizes the study for the closed-loop loads
    warm = await first_items(conns, study_id)
    warm_up = await run_load(conns, study_id, min(3.0, seconds), "submit+next", first=warm)
    fastest = warm_up.rate
    # Open loop: healthz at the same offered load first, the tail the harness and framework add alone.
    loads: list[tuple[str, float | None]] = [(f, None) for f in flows]
    loads += [(f, r) for r in rates for f in ("healthz", "submit+next")]
    local_pg = url.startswith("postgresql") and any(h in url for h in ("@127.0.0.1", "@localhost", "@/"))
    for flow, rate in loads:
        if flow != "healthz":
            # 1.5x the fastest rate seen, plus the item each client holds
            top_up(url, study_id, int(1.5 * (rate or fastest) * seconds) + 2 * n_clients, level)
        first = None if flow == "healthz" else await first_items(conns, study_id)
        cpu0, db0, (busy0, total0) = server_cpu_s(proc), postgres_cpu_s() if local_pg else 0.0, machine_jiffies()
        res = await run_load(conns, study_id, seconds, flow, rate, first)
        res.server_cpu_s = server_cpu_s(proc) - cpu0
        if local_pg:
            res.db_cpu_s = postgres_cpu_s() - db0
        busy1, total1 = machine_jiffies()
        res.machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan")
        if rate is None:
            fastest = max(fastest, res.rate)
        out.append(res)
    for c in conns:
        c.close()
    return out, warm_up


def pg_schema_url(base: str) -> tuple[str, str]:
    import psycopg

    name = f"slh_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in base else "?"
    return name, f"{base}{sep}options={quote(f'-csearch_path={name}')}"


@contextlib.contextmanager
def fresh_database(kind: str, pg_base: str) -> Iterator[str]:
    """A new, empty database for one measurement: ``sqlite`` (a temporary file) or ``postgres`` (a schema).

    Yields its URL; the file or schema is removed afterwards.
    """
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield str(Path(tmp) / "bench.sqlite")
    elif kind == "postgres":
        schema, url = pg_schema_url(pg_base)
        try:
            yield url
        finally:
            drop_pg_schema(pg_base, schema)
    else:
        raise SystemExit(f"unknown database {kind!r}")


def drop_pg_schema(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def top_up(url: str, study_id: int, ratings_needed: int, level: int = 0) -> int:
    """Import more items while fewer than ``ratings_needed`` rater slots are open; returns items added.

    A load that runs the study out of items would time clients that get ``done`` and stop, not
    ratings (a fast host rated all 24,000 slots of 8,000 items before the open-loop loads began).
    The server is idle between loads, so the import does not disturb a measurement.
    """
    from sqlalchemy import text

    db = Database(url)
    try:
        with db.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT COALESCE(SUM(target_ratings - claimed), 0), COUNT(*) FROM items"
                    " WHERE study_id = :s AND is_gold = :f"
                ),
                {"s": study_id, "f": False},
            ).one()
        open_slots, n_items = int(row[0]), int(row[1])
        if open_slots >= ratings_needed:
            return 0
        add = -(-(ratings_needed - open_slots) // (3 - level))  # N = 3 slots per item, ``level`` taken
        import_bench_items(db, study_id, add, n_items, level)
        return add
    finally:
        db.dispose()


def verify(url: str, study_id: int, acknowledged: int) -> dict[str, int]:
    """Count ratings and check the invariants after the load.

    Args:
        url: The database.
        study_id: The study rated.
        acknowledged: Ratings the clients were answered 200 for, each sent once.

    Returns:
        ``ratings`` (stored by the clients' raters), ``lost`` (acknowledged, not stored),
        ``unacknowledged`` (stored, never acknowledged), ``duplicates`` (an item rated twice by one
        rater), ``items_over_n`` and ``count_mismatch`` (an item's counters off its ratings): every
        count but ``ratings`` must be 0.
    """
    from sqlalchemy import text

    db = Database(url)
    with db.engine.connect() as conn:
        # The other* raters' ratings were written in bulk before the loads (--level).
        ratings = conn.execute(
            text(
                "SELECT COUNT(*) FROM ratings r JOIN users u ON u.id = r.rater_id"
                " WHERE r.study_id = :s AND u.username LIKE 'bench%'"
            ),
            {"s": study_id},
        ).scalar_one()
        dup = conn.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT item_id, rater_id FROM ratings"
                " GROUP BY item_id, rater_id HAVING COUNT(*) > 1) d"
            )
        ).scalar_one()
        over = conn.execute(
            text("SELECT COUNT(*) FROM items WHERE completed > target_ratings OR claimed > target_ratings")
        ).scalar_one()
        mismatch = conn.execute(
            text(
                "SELECT COUNT(*) FROM items i"
                " WHERE i.completed <> (SELECT COUNT(*) FROM ratings r WHERE r.item_id = i.id)"
            )
        ).scalar_one()
    db.dispose()
    return {
        "ratings": int(ratings),
        "lost": max(0, acknowledged - int(ratings)),
        "unacknowledged": max(0, int(ratings) - acknowledged),
        "duplicates": int(dup),
        "items_over_n": int(over),
        "count_mismatch": int(mismatch),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument(
        "--prompts", type=int, default=3000, help="items at the start (3 ratings each; topped up before each load)"
    )
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument("--pg", default=os.environ.get("SAFETYLENS_TEST_PG", "postgresql://root@127.0.0.1:5432/test"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument(
        "--db-concurrency",
        type=int,
        default=None,
        help="PostgreSQL: rating transactions per server process at once (default: the server's, 2 x CPUs)",
    )
    ap.add_argument(
        "--rates",
        default="150,300",
        help="offered loads (ratings/s, comma-separated) for open-loop submit+next runs; '' for none",
    )
    ap.add_argument(
        "--level",
        type=int,
        default=0,
        choices=(0, 1, 2),
        help="raters already on every item (0: a fresh study; 2: its last third, as late in a real study)",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    rates = tuple(float(x) for x in args.rates.split(",") if x.strip())
    report: dict[str, Any] = {
        "clients": args.clients,
        "seconds": args.seconds,
        "workers": args.workers,
        "db_concurrency": args.db_concurrency,
        "runs": {},
    }
    print(
        f"{args.clients} concurrent raters, {args.seconds:.0f} s per load, {args.workers} server worker(s), "
        f"items start with {args.level} earlier raters each, "
        f"db concurrency {args.db_concurrency or 'default'}, "
        f"cpus={os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}, "
        f"code: {Path(safetylens.__file__).resolve().parent}"
    )
    failed = []
    for kind in [k.strip() for k in args.db.split(",") if k.strip()]:
        with fresh_database(kind, args.pg) as url:
            study_id = prepare_db(url, args.clients, args.prompts, args.level)
            with Server(url, args.workers, args.db_concurrency) as server:
                results, warm_up = asyncio.run(
                    bench_server(
                        url,
                        server.port,
                        args.clients,
                        study_id,
                        args.seconds,
                        server.proc,
                        rates=rates,
                        level=args.level,
                    )
                )
            rated = [warm_up, *(r for r in results if not r.name.startswith("healthz"))]
            checks = verify(url, study_id, sum(r.ops for r in rated))
            checks["duplicates"] += sum(r.duplicates for r in rated)
        base = results[0].rate
        print(f"\n[{kind}]  invariants after the run: {checks}")
        print(
            f"{'load':<20}{'ops':>8}{'err':>5}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs healthz':>12}"
            f"{'app CPU ms/op':>15}{'DB CPU ms/op':>14}{'cores busy':>12}"
        )
        short = [r.name for r in results if r.ran_out]
        if short:
            print(f"WARNING: clients ran out of items during {', '.join(short)}; those rows time fewer ratings")
        for r in results:
            print(
                f"{r.name:<20}{r.ops:>8}{r.errors:>5}{r.rate:>10.1f}{r.pct(0.5):>9.1f}{r.pct(0.99):>9.1f}"
                f"{(r.rate / base if base else float('nan')):>12.3f}{r.cpu_ms_per_op:>15.2f}"
                f"{_per_op_ms(r.db_cpu_s, r.ops):>14}{r.machine_busy:>12.0%}"
            )
        report["runs"][kind] = {"results": [r.as_dict() for r in results], "checks": checks}
        bad = {k: v for k, v in checks.items() if k != "ratings" and v}
        if bad:
            failed.append(f"{kind}: {bad}")
        closed = next(r for r in results if r.name == "submit+next")
        note = f"{args.clients} clients, closed loop, submit+next, {args.workers} worker(s), level {args.level}"
        figure(f"rating submissions/s ({kind})", round(closed.rate, 1), "ratings/s", goal=">= 300", note=note)
        at_300 = next((r for r in results if r.name == "submit+next @300/s"), None)
        if at_300 is not None:
            figure(f"rating p99 at 300/s ({kind})", round(at_300.pct(0.99), 1), "ms", goal="< 100", note=note)
        figure(
            f"ratings lost or duplicated ({kind})",
            checks["lost"] + checks["unacknowledged"] + checks["duplicates"],
            "ratings",
            goal="<= 0",
            note=f"{checks['ratings']} ratings stored",
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if failed:
        raise SystemExit("invariants violated: " + "; ".join(failed))


if __name__ == "__main__":
    main()
