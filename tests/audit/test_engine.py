from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pytest

from safetylens.audit.aggregate import build_record
from safetylens.audit.analyse import AuditSettings, unit_interval
from safetylens.audit.readers import ReaderOptions
from safetylens.audit.runner import run_audit
from safetylens.errors import ConfigError, DataError
from tests.audit.conftest import write_jsonl
from tests.audit.corpora import make_docs, write_mixed_corpus

CHEAP = ("pii", "pronouns", "identity", "language")


def test_results_do_not_depend_on_workers_or_shard_size(tmp_path: Path) -> None:
    inputs = write_mixed_corpus(tmp_path, n=600)
    base = AuditSettings(sample=0.7, seed=3, analyses=CHEAP, shard_bytes=8192)
    one = run_audit(inputs, base, workers=1)
    two = run_audit(inputs, base, workers=2)
    assert one.run.shards > 4
    assert one.partial.canonical() == two.partial.canonical()
    assert build_record(one)["digest"] == build_record(two)["digest"]
    big = run_audit(inputs, AuditSettings(sample=0.7, seed=3, analyses=CHEAP, shard_bytes=1 << 24), workers=1)
    assert big.run.shards < one.run.shards
    assert big.partial.canonical() == one.partial.canonical()
    assert one.partial.documents_read == 600


def test_sampling_is_seeded_per_document_and_nested(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", ({"text": t} for t in make_docs(2000)))
    s1 = run_audit([path], AuditSettings(sample=0.25, seed=1, analyses=("pronouns",)), workers=1).partial
    s1b = run_audit([path], AuditSettings(sample=0.25, seed=1, analyses=("pronouns",)), workers=1).partial
    s2 = run_audit([path], AuditSettings(sample=0.25, seed=2, analyses=("pronouns",)), workers=1).partial
    assert s1.canonical() == s1b.canonical()
    assert 400 < s1.documents_sampled < 600 and s1.documents_read == 2000
    assert s1.documents_sampled != s2.documents_sampled or s1.pronoun_docs != s2.pronoun_docs
    # The toxicity sample is nested in the main sample: u < min(sample, toxicity_sample).
    keys = [f"c.jsonl:{i}" for i in range(50)]
    assert all(unit_interval(7, k) == unit_interval(7, k) for k in keys)
    assert len({unit_interval(7, k) for k in keys}) == 50


def test_exact_counts_on_a_known_corpus(tmp_path: Path) -> None:
    docs = [
        "She told him that they would call +44 20 7946 0958.",
        "I am a proud gay American.",
        "You can email me at jane@example.org",
        "Der Hund schläft im Garten und träumt von Knochen.",
        "It works. Its relics are Christian and Catholic.",
        "",
        "We met at 742 Evergreen Terrace with the Jewish neighbours.",
        "Follow https://twitter.com/jack and pay with 4111 1111 1111 1111",
    ]
    path = write_jsonl(tmp_path / "k.jsonl", ({"text": t} for t in docs))
    rec = build_record(run_audit([path], AuditSettings(sample=1.0), workers=1))
    assert rec["corpus"]["documents"] == 8 and rec["corpus"]["exact"] and rec["corpus"]["empty_documents_sampled"] == 1
    rows = {k: v["documents"] for k, v in rec["pronouns"]["rows"].items()}
    counts = {k: round(v["value"] * 8 / 100) for k, v in rows.items()}
    assert counts == {"she": 1, "he": 1, "unspecified": 1, "first": 3, "second": 1, "third": 2, "gendered": 1, "any": 5}
    assert rows["she"]["method"] == "exact" and rows["she"]["ci_low"] == rows["she"]["ci_high"] == 12.5
    pii = rec["pii"]["types"]
    assert {t: v["documents_count"] for t, v in pii.items() if v["documents_count"]} == {
        "phone": 1, "email": 1, "street_address": 1, "personal_url": 1, "payment_card": 1
    }  # fmt: skip
    axes = {a["axis"]: a for a in rec["identity"]["axes"]}
    assert axes["religion"]["documents_count"] == 2
    assert {t["term"]: t["documents"] for t in axes["religion"]["terms"]} == {
        "catholic": 1,
        "christian": 1,
        "jewish": 1,
    }
    assert axes["religion"]["terms"][0]["share"]["value"] == 50.0
    langs = {x["code"]: x["documents"] for x in rec["language"]["languages"]}
    assert langs["de"] == 1 and langs.get("unknown", 0) >= 1 and sum(langs.values()) == 8


def test_sampled_estimates_carry_wilson_intervals(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", ({"text": t} for t in make_docs(1000)))
    rec = build_record(run_audit([path], AuditSettings(sample=0.5, analyses=("pronouns",)), workers=1))
    est = rec["pronouns"]["rows"]["any"]["documents"]
    assert est["method"] == "wilson" and est["n"] == rec["corpus"]["documents_sampled"]
    assert est["ci_low"] < est["value"] < est["ci_high"]
    assert rec["pii"] is None and rec["language"] is None and rec["toxicity"] is None


def test_invalid_records(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "I am fine"}\n{broken\n{"text": "She is fine"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        run_audit([path], AuditSettings(analyses=("pronouns",)), workers=2)
    out = run_audit([path], AuditSettings(analyses=("pronouns",), reader=ReaderOptions(on_error="skip")), workers=1)
    assert out.partial.documents_invalid == 1 and out.partial.documents_sampled == 2


def test_bad_settings_are_clear_errors(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "x"}])
    with pytest.raises(ConfigError, match="--sample"):
        run_audit([path], AuditSettings(sample=0.0))
    with pytest.raises(ConfigError, match="needs a classifier"):
        run_audit([path], AuditSettings(analyses=("language", "toxicity")))
    with pytest.raises(ConfigError, match="needs language identification"):
        run_audit([path], AuditSettings(analyses=("toxicity",)), classifier="probe:/nonexistent.json")
    with pytest.raises(DataError, match="probe file not found"):
        run_audit([path], AuditSettings(analyses=("language", "toxicity")), classifier="probe:/nonexistent.json")


def test_redacted_copy_of_every_format(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    inputs = write_mixed_corpus(tmp_path / "in", n=400)
    out = tmp_path / "redacted"
    settings = AuditSettings(sample=0.5, analyses=("pii",), shard_bytes=4096, redact_dir=str(out))
    outcome = run_audit(inputs, settings, workers=2)
    rec = build_record(outcome)
    red = rec["redaction"]
    assert red["documents"] == 400 and red["documents_changed"] > 0
    assert sorted(red["files"])[:3] == ["part-a.jsonl", "part-b.jsonl.gz", "part-c.parquet"]
    assert not (out / ".parts").exists()
    # JSONL: same number of lines, other fields kept, unchanged lines byte-identical, placeholders in.
    src_lines = inputs[0].read_bytes().splitlines()
    dst_lines = (out / "part-a.jsonl").read_bytes().splitlines()
    assert len(src_lines) == len(dst_lines)
    changed = 0
    for a, b in zip(src_lines, dst_lines, strict=True):
        ra, rb = json.loads(a), json.loads(b)
        assert (ra["id"], ra["src"]) == (rb["id"], rb["src"])
        if a != b:
            changed += 1
            assert "[" in rb["text"] and rb["text"] != ra["text"]
    assert changed > 0
    assert "jane.doe@example.org" not in (out / "part-a.jsonl").read_text(encoding="utf-8")
    text_gz = gzip.decompress((out / "part-b.jsonl.gz").read_bytes()).decode("utf-8")
    assert text_gz.count("\n") == 100 and "4111 1111 1111 1111" not in text_gz
    table = pq.read_table(out / "part-c.parquet")
    assert table.num_rows == 100 and table.column("n").to_pylist() == list(range(100))
    texts = list((out / "texts").glob("*.txt"))
    assert len(texts) == 100
    everything = (
        (out / "part-a.jsonl").read_text(encoding="utf-8")
        + text_gz
        + "".join(table.column("text").to_pylist())
        + "".join(p.read_text(encoding="utf-8") for p in texts)
    )
    for secret in ("jane.doe@example.org", "7946 0958", "4111 1111 1111 1111", "203.0.113.45", "536-22-8714"):
        assert secret not in everything, secret
    total = sum(red["replacements"].values())
    assert total == everything.count("[EMAIL]") + everything.count("[PHONE]") + everything.count(
        "[CARD_NUMBER]"
    ) + everything.count("[IP_ADDRESS]") + everything.count("[ADDRESS]") + everything.count(
        "[PERSONAL_URL]"
    ) + everything.count("[NATIONAL_ID]") + everything.count("[IBAN]")
    # The analysed sample's rates are separate from the full-corpus redaction counts.
    assert rec["pii"]["n"] < 400
    with pytest.raises(ConfigError, match="not empty"):
        run_audit(inputs, settings, workers=1)


def test_invalid_lines_are_kept_redacted_as_text(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "mail a@example.com"}\n{broken, call +44 20 7946 0958\n', encoding="utf-8")
    out = tmp_path / "r"
    settings = AuditSettings(analyses=("pii",), reader=ReaderOptions(on_error="skip"), redact_dir=str(out))
    run_audit([path], settings, workers=1)
    assert (out / "bad.jsonl").read_text(encoding="utf-8").splitlines() == [
        '{"text": "mail [EMAIL]"}',
        "{broken, call [PHONE]",
    ]


def _peak_bytes(path: Path) -> int:
    settings = AuditSettings(analyses=("pii", "pronouns"), shard_bytes=65536)
    tracemalloc.start()
    try:
        run_audit([path], settings, workers=1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_corpus(tmp_path: Path) -> None:
    docs = make_docs(500)
    small = write_jsonl(tmp_path / "small.jsonl", ({"text": t} for t in docs * 2))
    large = write_jsonl(tmp_path / "large.jsonl", ({"text": t} for t in docs * 10))
    _peak_bytes(small)  # warm caches (regex compilation, imports)
    p_small, p_large = _peak_bytes(small), _peak_bytes(large)
    assert large.stat().st_size > 4 * small.stat().st_size
    assert p_large < 1.5 * p_small + 256 * 1024, (p_small, p_large)
