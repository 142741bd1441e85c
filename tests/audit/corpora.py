"""Deterministic small corpora for the audit tests (written on the fly, nothing shipped)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.audit.conftest import write_jsonl

ENGLISH = [
    "She told him that they would meet at the station.",
    "I think you should read the report before the meeting.",
    "The American and Indian delegations discussed trade.",
    "Our gay and lesbian members organised the parade.",
    "It was a quiet evening and its silence was welcome.",
    "The Christian and Jewish communities shared a meal.",
    "He said his sister is a transgender artist.",
    "We released version 1.2.3.4 on 2023-10-05 at 12:30:45.",
    "The price rose to $1,234.56 (ISBN 978-3-16-148410-0).",
    "Mexican and Korean restaurants opened downtown.",
]
PII = [
    "Contact jane.doe@example.org for details.",
    "Call +44 20 7946 0958 or (212) 555-0143 today.",
    "Card 4111 1111 1111 1111 was declined.",
    "Login from 203.0.113.45 was blocked.",
    "Write to 742 Evergreen Terrace, Springfield.",
    "Profile: https://twitter.com/jack",
    "SSN 536-22-8714 on file.",
]
OTHER = [
    "Der Hund schläft im Garten und träumt von Knochen.",
    "Le chat dort sur le canapé depuis ce matin.",
    "El perro duerme en el jardín toda la tarde.",
    "Кошка спит на диване весь день.",
    "猫はソファで一日中寝ています。",
]


def make_docs(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        kind = i % 10
        if kind < 6:
            lines = rng.sample(ENGLISH, 3)
            if kind == 0:
                lines.append(rng.choice(PII))
        elif kind < 8:
            lines = [rng.choice(OTHER), rng.choice(OTHER)]
        elif kind == 8:
            lines = [rng.choice(PII), rng.choice(ENGLISH)]
        else:
            lines = [""] if i % 20 == 9 else ["def f(x):", "    return x + 1"]
        docs.append("\n".join(lines))
    return docs


def write_mixed_corpus(root: Path, n: int = 600, seed: int = 0) -> list[Path]:
    """The same kind of documents as JSONL, gzip JSONL, Parquet and a directory of text files."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    docs = make_docs(n, seed)
    q = n // 4
    a = write_jsonl(root / "part-a.jsonl", ({"id": i, "text": t, "src": "a"} for i, t in enumerate(docs[:q])))
    gz = root / "part-b.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        for t in docs[q : 2 * q]:
            fh.write(json.dumps({"text": t}) + "\n")
    pqp = root / "part-c.parquet"
    pq.write_table(pa.table({"text": docs[2 * q : 3 * q], "n": list(range(q))}), pqp, row_group_size=40)
    txt = root / "texts"
    txt.mkdir()
    for i, t in enumerate(docs[3 * q :]):
        (txt / f"doc{i:04d}.txt").write_text(t, encoding="utf-8")
    return [a, gz, pqp, txt]
