"""Precision and recall of the personal-information detectors on a Faker corpus, before and after.

Generates the labelled corpus of ``tests/audit/pii_corpus.py`` (Faker values in four locales, en_US,
en_GB, de_DE and fr_FR, placed in sentence templates, plus negative sentences full of numbers that are
not personal information) and scores, on the same documents in the same run:

1. the baseline detector: ``src/safetylens/audit/pii.py`` as it was at ``--baseline-rev`` (read with
   ``git show`` into a temporary module);
2. the current detector (``safetylens.audit.pii``).

Per type it prints n (labelled values), *found* (the value is removed by ``--redact``: every letter and
digit of it lies inside a detected span), *typed* (a span of the value's own type overlaps it),
precision (detected spans that overlap a labelled value of their type) with Wilson 95% intervals, and
the time per document. Report the ``heldout`` part (the default); ``tuning`` is the part the detectors
were adjusted on.

Usage: ``PYTHONPATH=src python benchmarks/bench_pii_recall.py [--split heldout] [--docs 3000]
[--baseline-rev REV] [--by locale|kind] [--misses N]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from figures import figure  # noqa: E402
from tests.audit import pii_corpus  # noqa: E402

from safetylens.stats.ci import wilson_interval  # noqa: E402

# The detector before phonenumbers, python-stdnum, 12-19 digit cards and per-locale addresses.
DEFAULT_BASELINE = "df3a9ac55d8411fe81eda090117b4bafff166cc5"


def load_baseline(rev: str) -> ModuleType:
    src = subprocess.run(
        ["git", "show", f"{rev}:src/safetylens/audit/pii.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="pii-baseline-")) / "pii_baseline.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("pii_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pii_baseline"] = module
    spec.loader.exec_module(module)
    return module


def fmt_rate(k: int, n: int) -> str:
    if n == 0:
        return f"{'n/a':>22}"
    lo, hi = wilson_interval(k, n)
    return f"{k / n:6.3f} [{lo:.3f}, {hi:.3f}]"


def table(scores: dict[str, pii_corpus.TypeScore], keys: Sequence[str]) -> list[str]:
    rows = [
        f"{'type':16s} {'n':>5s}  {'found (redacted)':>22s}  {'typed':>6s}  {'detected':>8s}  {'precision':>22s}",
    ]
    total = pii_corpus.TypeScore()
    for t in keys:
        s = scores.get(t, pii_corpus.TypeScore())
        total.n += s.n
        total.removed += s.removed
        total.typed += s.typed
        total.detected += s.detected
        total.correct += s.correct
        rows.append(_row(t, s))
    rows.append(_row("all", total))
    return rows


def _row(name: str, s: pii_corpus.TypeScore) -> str:
    typed = f"{s.typed / s.n:6.3f}" if s.n else f"{'n/a':>6s}"
    return (
        f"{name:16s} {s.n:5d}  {fmt_rate(s.removed, s.n)}  {typed}  {s.detected:8d}  {fmt_rate(s.correct, s.detected)}"
    )


def timed_score(
    docs: list[pii_corpus.Doc], detect: Callable[[str], Any]
) -> tuple[dict[str, pii_corpus.TypeScore], float]:
    t0 = time.perf_counter()
    for d in docs:
        detect(d.text)
    per_doc = (time.perf_counter() - t0) / max(1, len(docs))
    return pii_corpus.score(docs, detect), per_doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=sorted(pii_corpus.SPLITS), default="heldout")
    ap.add_argument("--docs", type=int, default=None, help="documents (default: the part's standard size)")
    ap.add_argument("--baseline-rev", default=DEFAULT_BASELINE, help="git revision of the baseline detector")
    ap.add_argument("--by", choices=("locale", "kind"), default=None, help="also break recall down by this")
    ap.add_argument("--misses", type=int, default=0, help="print this many missed values and false positives per type")
    args = ap.parse_args()

    from safetylens.audit import pii

    baseline = load_baseline(args.baseline_rev)
    docs = pii_corpus.generate(args.split, args.docs)
    locales = ", ".join(pii_corpus.LOCALES)
    print(f"corpus: {args.split} part, {len(docs)} documents, locales {locales}")
    print("found = removed by --redact; precision = detected spans overlapping a labelled value of their type")
    print("intervals: Wilson 95%\n")
    keys = pii_corpus.TYPES
    for name, detect in ((f"before ({args.baseline_rev[:10]})", baseline.detect), ("after (working tree)", pii.detect)):
        scores, per_doc = timed_score(docs, detect)
        print(f"== {name}: {per_doc * 1e6:.0f} us per document")
        print("\n".join(table(scores, keys)))
        if detect is pii.detect:
            for t in keys:
                if t in scores and scores[t].n:
                    s_t = scores[t]
                    figure(f"PII recall: {t}", s_t.removed / s_t.n, "", note=f"n={s_t.n}, {args.split}")
        if args.by:
            key: Callable[[pii_corpus.Doc, int], str]
            if args.by == "locale":
                key = lambda d, k: f"{d.spans[k][0]}/{d.locale}"  # noqa: E731
            else:
                key = lambda d, k: f"{d.spans[k][0]}/{d.kinds[k]}"  # noqa: E731
            by = pii_corpus.score(docs, detect, by=key)
            print(f"-- found by {args.by}")
            for k in sorted(by):
                s = by[k]
                print(f"   {k:32s} {s.n:5d}  {fmt_rate(s.removed, s.n)}")
        if args.misses:
            for t in keys:
                type_score = scores.get(t)
                if type_score is None:
                    continue
                for loc, kind, value in type_score.misses[: args.misses]:
                    print(f"   miss {t:14s} {loc} {kind:12s} {value!r}")
                for loc, ctx in type_score.false_positives[: args.misses]:
                    print(f"   fp   {t:14s} {loc} {ctx!r}")
        print()


if __name__ == "__main__":
    main()
