"""The personal-information detectors on the Faker corpus (tests/audit/pii_corpus.py).

The floors are set a little below what the held-out part measured when the detectors were frozen
(``benchmarks/bench_pii_recall.py`` prints the numbers with their intervals), so that a regression
fails while a different Faker release still passes.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from safetylens.audit import pii
from safetylens.audit.aggregate import build_record
from safetylens.audit.analyse import AuditSettings
from safetylens.audit.runner import run_audit
from tests.audit import pii_corpus
from tests.audit.conftest import write_jsonl

# type: (found = removed by --redact, typed recall, precision); measured on the held-out part, 3000
# documents: found 1.000 / 0.988 / 0.994 / 0.998 / 1.000 / 1.000 / 0.980, precision 1.000 / 0.988 /
# 1.000 / 0.998 / 1.000 / 0.997 / 0.977 in the order below.
FLOORS: dict[str, tuple[float, float, float]] = {
    "email": (0.99, 0.99, 0.99),
    "phone": (0.97, 0.97, 0.97),
    "ip_address": (0.97, 0.97, 0.98),
    "payment_card": (0.98, 0.97, 0.98),
    "bank_account": (0.98, 0.98, 0.99),
    "national_id": (0.98, 0.98, 0.98),
    "street_address": (0.95, 0.95, 0.95),
}


@cache
def heldout() -> list[pii_corpus.Doc]:
    return pii_corpus.generate("heldout")


def test_heldout_recall_and_precision_floors_per_type() -> None:
    scores = pii_corpus.score(heldout(), pii.detect)
    for t, (found_min, typed_min, precision_min) in FLOORS.items():
        s = scores[t]
        assert s.n >= 250, (t, s.n)
        assert s.recall >= found_min, (t, s.recall, s.misses[:10])
        assert s.typed / s.n >= typed_min, (t, s.typed / s.n)
        assert s.precision >= precision_min, (t, s.precision, s.false_positives[:10])


def test_every_card_type_and_locale_is_found() -> None:
    by_kind = pii_corpus.score(heldout(), pii.detect, by=lambda d, k: f"{d.spans[k][0]}/{d.kinds[k]}")
    for card in pii_corpus.CARD_TYPES:
        s = by_kind[f"payment_card/{card}"]
        assert s.n >= 20 and s.recall >= 0.95, (card, s.n, s.recall, s.misses)
    by_locale = pii_corpus.score(heldout(), pii.detect, by=lambda d, k: f"{d.spans[k][0]}/{d.locale}")
    for t in ("phone", "street_address", "national_id"):
        for loc in pii_corpus.LOCALES:
            s = by_locale[f"{t}/{loc}"]
            assert s.recall >= 0.93, (t, loc, s.recall, s.misses[:10])


def test_corpus_is_deterministic_labelled_and_split() -> None:
    a = pii_corpus.generate("tuning", 120)
    assert a == pii_corpus.generate("tuning", 120)
    for doc in a + heldout()[:400]:
        ends = -1
        for typ, start, end in doc.spans:
            assert typ in pii_corpus.TYPES and 0 <= start < end <= len(doc.text)
            assert doc.text[start:end].strip() == doc.text[start:end] and start >= ends
            ends = end
    tuning_values = {d.text[a_:b] for d in pii_corpus.generate("tuning") for _, a_, b in d.spans}
    held_values = [d.text[a_:b] for d in heldout() for _, a_, b in d.spans]
    shared = sum(v in tuning_values for v in held_values)
    assert shared / len(held_values) < 0.01
    # A third of the templates is used only by the held-out part.
    for loc in pii_corpus.LOCALES:
        for kind in (*pii_corpus.TYPES, "negative"):
            only_held = set(pii_corpus.templates(loc, kind, "heldout")) - set(pii_corpus.templates(loc, kind, "tuning"))
            assert len(only_held) >= 2, (loc, kind)


def test_redacted_copy_removes_what_detection_finds(tmp_path: Path) -> None:
    docs = heldout()[:400]
    src = write_jsonl(tmp_path / "in" / "faker.jsonl", ({"id": i, "text": d.text} for i, d in enumerate(docs)))
    out = tmp_path / "redacted"
    outcome = run_audit([src], AuditSettings(analyses=("pii",), redact_dir=str(out)), workers=1)
    assert build_record(outcome)["redaction"]["documents"] == len(docs)
    lines = (out / "faker.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(docs)
    found = kept = 0
    for doc, line in zip(docs, lines, strict=True):
        red = json.loads(line)["text"]
        spans = pii.detect(doc.text)
        assert red == pii.redact(doc.text, spans)
        for typ, a, b in doc.spans:
            value = doc.text[a:b]
            if any(s.start <= a and b <= s.end for s in spans):
                found += 1
                # Short values (an IPv6 group, a card's last digits) may reappear as other text.
                assert len(value) < 8 or value not in red, (typ, value, red)
            elif value in red:
                kept += 1
    assert found >= 0.95 * sum(len(d.spans) for d in docs)
    assert kept <= 0.05 * found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The formats the corpus audit used to miss.
        ("Call 312.737.9655 or 671-472-3988x818.", [("phone", "312.737.9655"), ("phone", "671-472-3988x818")]),
        ("Paris : +33 (0)1 23 45 67 89", [("phone", "+33 (0)1 23 45 67 89")]),
        (
            "Mobile +44(0)7700 900 752, office (0161) 4960066",
            [("phone", "+44(0)7700 900 752"), ("phone", "(0161) 4960066")],
        ),
        ("Ruf an: 001-672-476-3087x3821", [("phone", "001-672-476-3087x3821")]),
        (
            "Maestro 5020 9399 5467 and JCB 213111100054228",
            [("payment_card", "5020 9399 5467"), ("payment_card", "213111100054228")],
        ),
        ("JCB 3500790617430611", [("payment_card", "3500790617430611")]),
        (
            "Ship to 17468 Jasmine Island Apt. 840, New Katiefurt, CT 38630.",
            [("street_address", "17468 Jasmine Island Apt. 840, New Katiefurt, CT 38630")],
        ),
        ("Flat 26c, Neil Rest, North Ann, N3W 8TH", [("street_address", "Flat 26c, Neil Rest, North Ann, N3W 8TH")]),
        ("PSC 3501, Box 2808\nAPO AE 75602", [("street_address", "PSC 3501, Box 2808\nAPO AE 75602")]),
        (
            "Karl-Georg-Nette-Platz 96/3\n33060 Wurzen",
            [("street_address", "Karl-Georg-Nette-Platz 96/3\n33060 Wurzen")],
        ),
        ("Adresse : rue Lagarde\n55284 Dupuy-sur-Mer", [("street_address", "rue Lagarde\n55284 Dupuy-sur-Mer")]),
        ("NIR 1 75 09 17 300 379 64", [("national_id", "1 75 09 17 300 379 64")]),
        ("RV-Nummer 65 170839 J 003", [("national_id", "65 170839 J 003")]),
        # An IBAN whose digits also form a Luhn-valid card number is the IBAN.
        ("IBAN DE74 6118 7298 9609 2871 04", [("bank_account", "DE74 6118 7298 9609 2871 04")]),
        # Not personal: barcodes, a dotted build number, a date, a road number, a SIREN, a year and a suffix word.
        ("Visa 4006381333924", [("payment_card", "4006381333924")]),
        ("Barcode 4006381333924 and build 02.2.1744.103 on 2024-07-15 02:13.", []),
        ("Die Bundesstraße 92 ist gesperrt. SIREN 732 829 320.", []),
        ("In 1990 Silicon Valley firms grew. Top 10 Summer Island Getaways.", []),
    ],
)
def test_formats(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(s.type, text[s.start : s.end]) for s in pii.detect(text)] == expected


def test_kinds_of_new_national_ids_and_cards() -> None:
    kinds = {s.kind for s in pii.detect("NIR 175091730037964, RV 65170839J003, card 213111100054228.")}
    assert kinds == {"fr_nir", "de_rvnr", "jcb"}
    assert pii.NATIONAL_ID_KINDS[-2:] == ("fr_nir", "de_rvnr")
