"""Small shared helpers (safetylens.util)."""

from __future__ import annotations

from safetylens.util import chunks


def test_chunks_cover_the_sequence_in_order_without_overlap() -> None:
    seq = list(range(2501))
    parts = list(chunks(seq, 1000))
    assert [len(p) for p in parts] == [1000, 1000, 501]
    assert [x for p in parts for x in p] == seq
    assert list(chunks([], 3)) == []
