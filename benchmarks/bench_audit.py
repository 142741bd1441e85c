"""Corpus-audit throughput: documents/s on one core and two, and the Dask path's scaling.

Builds a deterministic synthetic corpus (default 20,000 documents in 4 JSONL files) from the real
shared data sets (TruthfulQA questions and answers, BOLD prompts, SafeNLP ToxiGen and ImplicitHate
sentences), generated personal-information snippets (checksum-valid cards, IBANs, SSNs, ...),
sentences in eight other languages and code; then times, in the same run:

1. the local engine on 1 worker (the baseline) and on 2 workers (process pool);
2. the Dask engine on a LocalCluster with 1 and with 2 worker processes (cluster start excluded);
3. toxicity on a small sample with a linear probe on the packaged sentence encoder, 1 and 2 workers;
4. the cost of each per-document analyser (microseconds per document, one process).

Every configuration must produce the same digest as the baseline (checked and printed).

Usage: ``PYTHONPATH=src python benchmarks/bench_audit.py [--docs 20000] [--tox-sample 0.01]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from figures import figure

T = TypeVar("T")

OTHER_LANGUAGES = {
    "de": [
        "Die Stadt plant einen neuen Park am Flussufer.",
        "Im Winter fahren viele Familien in die Berge.",
        "Der Bericht wurde gestern im Parlament vorgestellt.",
        "Unsere Schule bietet jetzt auch Abendkurse an.",
    ],
    "fr": [
        "La ville prévoit un nouveau parc au bord du fleuve.",
        "En hiver, beaucoup de familles partent à la montagne.",
        "Le rapport a été présenté hier au Parlement.",
        "Notre école propose désormais des cours du soir.",
    ],
    "es": [
        "La ciudad planea un nuevo parque junto al río.",
        "En invierno muchas familias viajan a la montaña.",
        "El informe se presentó ayer en el Parlamento.",
        "Nuestra escuela ahora ofrece clases nocturnas.",
    ],
    "it": [
        "La città progetta un nuovo parco lungo il fiume.",
        "In inverno molte famiglie vanno in montagna.",
        "Il rapporto è stato presentato ieri in Parlamento.",
    ],
    "pt": [
        "A cidade planeja um novo parque à beira do rio.",
        "No inverno muitas famílias viajam para as montanhas.",
        "O relatório foi apresentado ontem no Parlamento.",
    ],
    "nl": [
        "De stad plant een nieuw park aan de rivier.",
        "In de winter gaan veel gezinnen naar de bergen.",
        "Het rapport werd gisteren in het parlement gepresenteerd.",
    ],
    "ru": [
        "Город планирует новый парк на берегу реки.",
        "Зимой многие семьи едут в горы.",
        "Доклад был представлен вчера в парламенте.",
    ],
    "zh": ["这座城市计划在河边建一个新公园。", "冬天很多家庭去山里度假。", "报告昨天在议会上发表。"],
    "ja": [
        "市は川沿いに新しい公園を計画している。",
        "冬には多くの家族が山へ出かける。",
        "報告書は昨日議会で発表された。",
    ],
}
CODE = [
    "def area(r):\n    return 3.14159 * r ** 2",
    "for (int i = 0; i < n; i++) { sum += a[i]; }",
    "SELECT name, COUNT(*) FROM users GROUP BY name;",
    "import numpy as np\nx = np.zeros((3, 4))",
]


def _luhn_complete(prefix: str) -> str:
    from safetylens.audit.pii import luhn_valid

    return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))


def _pii_snippet(rng: random.Random) -> str:
    first = rng.choice(["anna", "li", "omar", "sofia", "jamal", "chen", "maria", "peter"])
    last = rng.choice(["smith", "garcia", "nguyen", "khan", "muller", "rossi", "kim", "okafor"])
    kind = rng.randrange(8)
    if kind == 0:
        return f"Contact {first}.{last}@example.org for details."
    if kind == 1:
        return f"Call +44 20 7946 {rng.randrange(1000):04d} or (212) 555-{rng.randrange(100, 200):04d}."
    if kind == 2:
        card = _luhn_complete("4" + "".join(rng.choice("0123456789") for _ in range(14)))
        return f"Card {card[:4]} {card[4:8]} {card[8:12]} {card[12:]} was charged."
    if kind == 3:
        return f"Login from 203.0.113.{rng.randrange(1, 250)} was blocked."
    if kind == 4:
        return f"She lives at {rng.randrange(1, 999)} {rng.choice(['Oak', 'Elm', 'Maple'])} Street, Springfield."
    if kind == 5:
        return f"Follow https://twitter.com/{first}{last}{rng.randrange(99)} for updates."
    if kind == 6:
        return f"SSN {rng.randrange(100, 665)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)} on file."
    return "IBAN DE89 3704 0044 0532 0130 00 for the transfer."


def _english_pool() -> list[str]:
    from safetylens.datasets.registry import DataStore

    store = DataStore()
    pool: list[str] = []
    with open(store.path("truthfulqa", "TruthfulQA.csv"), encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            pool += [row["Question"], row["Best Answer"]]
    for name in ("gender_prompt.json", "race_prompt.json", "religious_ideology_prompt.json"):
        data = json.loads(store.path("bold", name).read_text(encoding="utf-8"))
        for entities in data.values():
            for prompts in entities.values():
                pool += prompts
    for dataset, name in (("toxigen-safenlp", "toxiGen.json"), ("implicithate-safenlp", "implicitHate.json")):
        pool += [r["text"] for r in json.loads(store.path(dataset, name).read_text(encoding="utf-8"))]
    return pool


def build_corpus(root: Path, n_docs: int, seed: int = 0, files: int = 4) -> list[Path]:
    """Write the synthetic corpus; returns the JSONL files."""
    rng = random.Random(seed)
    pool = _english_pool()
    langs = sorted(OTHER_LANGUAGES)
    paths = [root / f"shard-{i:02d}.jsonl" for i in range(files)]
    handles = [open(p, "w", encoding="utf-8") for p in paths]  # noqa: SIM115
    try:
        for i in range(n_docs):
            r = rng.random()
            if r < 0.08:
                lang = rng.choice(langs)
                lines = [rng.choice(OTHER_LANGUAGES[lang]) for _ in range(rng.randint(2, 6))]
            elif r < 0.10:
                lines = [rng.choice(CODE)]
            else:
                lines = [rng.choice(pool) for _ in range(rng.randint(3, 12))]
                if rng.random() < 0.05 / 0.90:
                    lines.insert(rng.randrange(len(lines) + 1), _pii_snippet(rng))
            handles[i % files].write(json.dumps({"id": i, "text": "\n".join(lines)}, ensure_ascii=False) + "\n")
    finally:
        for h in handles:
            h.close()
    return paths


def train_probe(out: Path) -> Path:
    """A toxicity probe like the tests' (ToxiGen + ImplicitHate sentences, 150 per class each)."""
    import numpy as np

    from safetylens.datasets.registry import DataStore
    from safetylens.scorers.embeddings import SentenceEncoder
    from safetylens.scorers.probe import group_split
    from safetylens.scorers.probe import train_probe as fit

    store = DataStore()
    texts: list[str] = []
    labels: list[int] = []
    for dataset, name in (("toxigen-safenlp", "toxiGen.json"), ("implicithate-safenlp", "implicitHate.json")):
        rows = json.loads(store.path(dataset, name).read_text(encoding="utf-8"))[:2000]
        for label, value in (("hate", 1), ("neutral", 0)):
            picked = [r["text"] for r in rows if r["label"] == label][:150]
            texts += picked
            labels += [value] * len(picked)
    encoder = SentenceEncoder(threads=2, batch_size=64)
    emb = encoder.encode(texts)
    train, val = group_split([str(i) for i in range(len(texts))], 0.2, seed=0)
    probe = fit(
        emb,
        np.array(labels),
        train_mask=train,
        val_mask=val,
        probe_id="bench-toxicity-probe",
        version="bench-1",
        encoder=encoder.identity,
        training={"per_class": 150},
        description="benchmark probe",
        class_weight="balanced",
    )
    probe.save(out)
    return out


def _cpu() -> float:
    """CPU seconds of this process and its finished children (pool and cluster workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--tox-sample", type=float, default=0.01)
    parser.add_argument("--shard-mb", type=float, default=2.0)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-toxicity", action="store_true")
    args = parser.parse_args()

    from safetylens.audit import pii
    from safetylens.audit.aggregate import build_record
    from safetylens.audit.analyse import AuditSettings, ProbeFile
    from safetylens.audit.language import LanguageIdentifier
    from safetylens.audit.lexical import pronoun_categories, tokens
    from safetylens.audit.runner import load_identity_lexicon, run_audit

    print(f"cpus: {os.cpu_count()}  load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        root = Path(tmp)
        t_build, inputs = _timed(lambda: build_corpus(root, args.docs))
        size = sum(p.stat().st_size for p in inputs)
        print(f"corpus: {args.docs:,} documents in {len(inputs)} JSONL files, {size / 1e6:.1f} MB ({t_build:.1f} s)")

        cheap = AuditSettings(
            analyses=("pii", "pronouns", "identity", "language"), shard_bytes=int(args.shard_mb * 2**20)
        )
        rows: list[tuple[str, float, str]] = []
        base_digest = None
        base_rate = None
        base_cpu = None
        for workers in (1, 2):
            secs, outcome = _timed(partial(run_audit, inputs, cheap, workers=workers))
            cpu = outcome.run.cpu_seconds  # CPU time of the workers on the shards (startup excluded)
            digest = build_record(outcome)["digest"]
            base_digest = base_digest or digest
            rate = args.docs / secs
            base_rate = base_rate or rate
            base_cpu = base_cpu or cpu
            rows.append((f"local, {workers} worker(s)", rate, digest))
            print(
                f"local engine, {workers} worker(s): {secs:6.2f} s wall  {rate:8.0f} docs/s  x{rate / base_rate:.2f} | "
                f"{cpu:6.2f} worker CPU s  {args.docs / cpu:6.0f} docs/CPU s  (CPU x{cpu / base_cpu:.2f} of 1 worker)"
            )
            figure(f"audit docs/s, local engine, {workers} worker(s)", rate, "docs/s", note=f"{args.docs:,} docs")

        if not args.skip_dask:
            from distributed import Client, LocalCluster

            for workers in (1, 2):
                c0 = _cpu()
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
                with cluster, Client(cluster) as client:
                    secs, outcome = _timed(partial(run_audit, inputs, cheap, engine="dask", dask_client=client))
                cpu = _cpu() - c0  # this process and reaped children, incl. starting and stopping the cluster
                wcpu = outcome.run.cpu_seconds
                digest = build_record(outcome)["digest"]
                rate = args.docs / secs
                rows.append((f"dask, {workers} worker(s)", rate, digest))
                print(
                    f"dask LocalCluster, {workers} worker(s): {secs:6.2f} s wall  {rate:8.0f} docs/s  "
                    f"x{rate / base_rate:.2f} of local 1-worker  | {wcpu:6.2f} worker CPU s  "
                    f"{args.docs / wcpu:6.0f} docs per CPU s  ({cpu:6.2f} CPU s of the client and cluster processes)"
                )

        if not args.skip_toxicity:
            probe = train_probe(root / "probe.json")
            tox = AuditSettings(
                analyses=("language", "toxicity"),
                toxicity_sample=args.tox_sample,
                shard_bytes=int(args.shard_mb * 2**20),
            )
            tox_base = None
            for workers in (1, 2):
                secs, outcome = _timed(
                    partial(run_audit, inputs, tox, classifier=ProbeFile(str(probe)), workers=workers)
                )
                part = outcome.partial
                rate = part.tox_docs / secs
                tox_base = tox_base or rate
                digest = build_record(outcome)["digest"]
                wcpu = outcome.run.cpu_seconds
                print(
                    f"toxicity ({args.tox_sample:g} sample), {workers} worker(s): {wcpu:6.2f} worker CPU s "
                    f"({part.tox_lines / wcpu:6.1f} lines per CPU s); wall {secs:6.2f} s for {part.tox_docs} "
                    f"documents / {part.tox_lines} lines scored: {rate:6.1f} scored docs/s, "
                    f"{part.tox_lines / secs:6.1f} lines/s  x{rate / tox_base:.2f}  digest {digest[:12]}"
                )

        # Per-analyser cost on one process.
        docs = []
        for p in inputs:
            with open(p, encoding="utf-8") as fh:
                docs += [json.loads(line)["text"] for line in fh]
        docs = docs[:5000]
        lid = LanguageIdentifier()
        lex = load_identity_lexicon()
        lid.identify("warm up")
        costs = {}
        t0 = time.process_time()
        for d in docs:
            pii.detect(d)
        costs["pii.detect"] = time.process_time() - t0
        t0 = time.process_time()
        for d in docs:
            toks = tokens(d)
            ts = set(toks)
            pronoun_categories(ts)
            lex.match(toks, ts)
        costs["tokens + pronouns + identity"] = time.process_time() - t0
        t0 = time.process_time()
        for d in docs:
            lid.identify(d)
        costs["language (fastText)"] = time.process_time() - t0
        print(f"per-document CPU cost on {len(docs):,} documents (one process):")
        for name, secs in costs.items():
            print(f"  {name:30s} {1e6 * secs / len(docs):8.1f} CPU us/doc")

    digests = {d for _, _, d in rows}
    print(f"digests identical across engines and worker counts: {len(digests) == 1} ({min(digests)[:16]})")
    figure("audit digests identical across engines and workers", float(len(digests) == 1), "", ">= 1")
    print(f"load average at end: {os.getloadavg()}")
    if len(digests) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
