from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from safetylens.audit.readers import ReaderOptions, collect_sources, iter_documents, plan_shards
from safetylens.errors import DataError
from tests.audit.conftest import write_jsonl


def _read_all(inputs: list[Path], shard_bytes: int, opts: ReaderOptions | None = None) -> list[tuple[str, str]]:
    sources, _ = collect_sources(inputs)
    out = []
    for shard in plan_shards(sources, shard_bytes):
        out += [(d.key, d.text) for d in iter_documents(shard, opts or ReaderOptions())]
    return out


def test_jsonl_shards_cover_every_line_once_whatever_the_shard_size(tmp_path: Path) -> None:
    docs = [{"text": f"document {i} " + "x" * (i % 97)} for i in range(1500)]
    path = write_jsonl(tmp_path / "c.jsonl", docs)
    one = _read_all([path], 1 << 30)
    assert [t for _, t in one] == [d["text"] for d in docs]
    for shard_bytes in (4096, 4097, 5000, 65536):
        assert _read_all([path], shard_bytes) == one, shard_bytes
    # Keys are byte offsets of line starts.
    data = path.read_bytes()
    offsets = [0, *[i + 1 for i, b in enumerate(data) if b == 10][:-1]]
    assert [k for k, _ in one] == [f"c.jsonl:{o}" for o in offsets]


def test_gzip_copy_has_the_same_keys(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": f"t{i}"} for i in range(50)])
    gz = tmp_path / "g" / "c.jsonl.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert _read_all([gz], 4096) == _read_all([path], 4096)


def test_parquet_by_row_groups(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"row {i}" for i in range(2500)]
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": list(range(2500)), "content": texts}), path, row_group_size=300)
    opts = ReaderOptions(text_field="content")
    one = _read_all([path], 1 << 30, opts)
    assert [t for _, t in one] == texts and one[7][0] == "c.parquet:7"
    sources, _ = collect_sources([path])
    assert len(plan_shards(sources, 4096)) > 1
    assert _read_all([path], 4096, opts) == one
    by_id = _read_all([path], 4096, ReaderOptions(text_field="content", id_field="id"))
    assert by_id[5] == ("5", "row 5")
    with pytest.raises(DataError, match="no column 'text'"):
        _read_all([path], 4096)


def test_text_directories_and_skipped_files(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha", encoding="utf-8")
    (root / "sub" / "b.md").write_text("beta", encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG")
    (root / ".hidden.txt").write_text("hidden", encoding="utf-8")
    (root / "bad.txt").write_bytes(b"caf\xe9")
    sources, skipped = collect_sources([root])
    assert [s.rel for s in sources] == ["docs/a.txt", "docs/bad.txt", "docs/sub/b.md"]
    assert skipped == ["docs/image.png"]
    docs = [d for sh in plan_shards(sources) for d in iter_documents(sh, ReaderOptions())]
    assert [(d.key, d.text, d.replaced) for d in docs] == [
        ("docs/a.txt", "alpha", False),
        ("docs/bad.txt", "caf\ufffd", True),
        ("docs/sub/b.md", "beta", False),
    ]


def test_dotted_text_field_and_id_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "n.jsonl", [{"meta": {"body": "hello"}, "uid": "doc-1"}])
    assert _read_all([path], 4096, ReaderOptions(text_field="meta.body", id_field="uid")) == [("doc-1", "hello")]


def test_invalid_records_fail_with_location_or_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{not json}\n{"text": 5}\n["list"]\n\n{"other": 1}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl \(the line at byte 15\): not valid JSON") as exc:
        _read_all([path], 4096)
    assert "--on-error skip" in (exc.value.hint or "")
    sources, _ = collect_sources([path])
    docs = list(iter_documents(plan_shards(sources)[0], ReaderOptions(on_error="skip")))
    assert [d.error is None for d in docs] == [True, False, False, False, False]
    assert "not a string" in (docs[2].error or "") and "missing" in (docs[4].error or "")


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        collect_sources([tmp_path / "missing.jsonl"])
    (tmp_path / "data.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(DataError, match="no reader for this file type"):
        collect_sources([tmp_path / "data.csv"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no readable files"):
        collect_sources([tmp_path / "empty"])
    a = write_jsonl(tmp_path / "x" / "c.jsonl", [{"text": "a"}])
    b = write_jsonl(tmp_path / "y" / "c.jsonl", [{"text": "b"}])
    with pytest.raises(DataError, match="same name"):
        collect_sources([a, b])
    gz = tmp_path / "broken.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"text": "a"}\n' * 100)[:-20])
    sources, _ = collect_sources([gz])
    with pytest.raises(DataError, match="cannot decompress"):
        list(iter_documents(plan_shards(sources)[0], ReaderOptions()))
    assert json  # imported for fixtures' symmetry
