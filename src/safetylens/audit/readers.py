"""Corpus readers: JSON lines (plain or gzip), Parquet, and directories of text files, streamed in shards.

An input is a file or a directory (walked recursively in sorted order, hidden entries skipped).
Files are read by their extension:

- ``.jsonl``, ``.ndjson``, ``.jsonl.gz``, ``.ndjson.gz``: one JSON object per line; the text is the
  ``text_field`` (a dotted path such as ``meta.body`` reaches nested objects);
- ``.parquet``: the ``text_field`` column;
- ``.txt``, ``.text``, ``.md``, ``.rst``: one document per file (UTF-8; undecodable bytes are
  replaced and counted).

Other files inside a directory are skipped and listed in the audit; a file named explicitly with an
unknown extension is an error.

**Shards** are the unit of parallel work, the same for the local process pool and for Dask: byte
ranges of a plain JSON-lines file (a line belongs to the range in which it starts), groups of
Parquet row groups, a whole gzip file, or a group of text files. The plan depends only on the inputs
and ``shard_bytes``, never on the number of workers, which is what makes results independent of it.

**Document keys** identify documents for sampling: ``<rel>:<byte offset of the line>`` for JSON
lines (offsets in the uncompressed stream and ``rel`` without ``.gz``, so a gzip copy samples
like the plain file),
``<rel>:<row>`` for Parquet, ``<rel>`` for a text file, or the ``id_field`` value when one is given.
``rel`` is the file name for a file input and ``<directory name>/<relative path>`` inside a
directory input (also the file's path in a redacted copy).
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from safetylens.errors import ConfigError, DataError

Format = Literal["jsonl", "jsonl.gz", "parquet", "text"]

TEXT_SUFFIXES = (".txt", ".text", ".md", ".rst")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
GZ_SUFFIXES = (".jsonl.gz", ".ndjson.gz")

DEFAULT_SHARD_BYTES = 32 * 1024 * 1024
TEXT_FILES_PER_SHARD = 512


def detect_format(path: Path) -> Format | None:
    """The reader for a file name, or None when no reader applies."""
    name = path.name.lower()
    if name.endswith(GZ_SUFFIXES):
        return "jsonl.gz"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    return None


@dataclass(frozen=True)
class Source:
    """One input file.

    Attributes:
        path: Absolute path.
        rel: Relative name (document-key prefix and path in a redacted copy).
        format: Reader.
        size: Size in bytes.
    """

    path: str
    rel: str
    format: Format
    size: int


@dataclass(frozen=True)
class Shard:
    """A unit of work: part of one file, or a group of text files.

    Attributes:
        index: Position in the plan (orders redaction parts).
        format: Reader.
        sources: The files (one, except for text-file groups).
        start: First byte (plain JSON lines) or first row group (Parquet).
        stop: End byte / end row group (exclusive); None = to the end.
        part: Index of this shard among the shards of the same file (redaction parts).
        parts: Number of shards of that file.
    """

    index: int
    format: Format
    sources: tuple[Source, ...]
    start: int = 0
    stop: int | None = None
    part: int = 0
    parts: int = 1

    @property
    def nbytes(self) -> int:
        """Approximate size of the shard's input in bytes (for progress)."""
        if self.format == "jsonl":
            stop = self.sources[0].size if self.stop is None else self.stop
            return max(0, stop - self.start)
        if self.format == "parquet":
            return self.sources[0].size // max(1, self.parts)
        return sum(s.size for s in self.sources)


@dataclass(frozen=True)
class Document:
    """One document.

    Attributes:
        key: Stable identity for sampling (see the module docstring).
        text: The text (empty when the record is invalid).
        record: The parsed JSON object (JSON lines), for writing a redacted copy.
        raw: The raw line (JSON lines), written back unchanged when nothing is redacted.
        error: Why the record is invalid (malformed JSON, missing or non-string text), else None.
        source: Index of the source within the shard (text-file groups).
        replaced: Undecodable bytes were replaced (text files).
    """

    key: str
    text: str
    record: Any = None
    raw: bytes | None = None
    error: str | None = None
    source: int = 0
    replaced: bool = False


@dataclass(frozen=True)
class ReaderOptions:
    """How documents are read.

    Attributes:
        text_field: Field (dotted path) or column holding the text.
        id_field: Field or column whose value is the document key (None: file + offset).
        on_error: ``fail``: an invalid record stops the audit; ``skip``: it is counted and skipped
            (in a redacted copy its raw line is redacted as plain text, so no data is lost).
    """

    text_field: str = "text"
    id_field: str | None = None
    on_error: Literal["fail", "skip"] = "fail"


def collect_sources(inputs: list[Path]) -> tuple[list[Source], list[str]]:
    """Expand inputs into files with readers.

    Returns:
        ``(sources, skipped)``: the readable files in order, and files skipped inside directories.

    Raises:
        DataError: An input does not exist, a named file has no reader, nothing is readable, or two
            inputs map to the same relative name.
    """
    sources: list[Source] = []
    skipped: list[str] = []
    for inp in inputs:
        if not inp.exists():
            raise DataError(f"corpus input not found: {inp}")
        if inp.is_file():
            fmt = detect_format(inp)
            if fmt is None:
                raise DataError(
                    f"{inp}: no reader for this file type",
                    hint="use .jsonl/.ndjson (optionally .gz), .parquet, or .txt/.md files (or a directory of them)",
                )
            sources.append(Source(str(inp.resolve()), inp.name, fmt, inp.stat().st_size))
            continue
        root = inp.resolve()
        found = 0
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                p = Path(dirpath) / name
                rel = f"{root.name}/{p.relative_to(root).as_posix()}"
                fmt = detect_format(p)
                if fmt is None:
                    skipped.append(rel)
                    continue
                sources.append(Source(str(p), rel, fmt, p.stat().st_size))
                found += 1
        if not found:
            raise DataError(
                f"{inp}: no readable files in this directory", hint="expected .jsonl, .parquet or .txt files"
            )
    seen: dict[str, str] = {}
    for s in sources:
        if s.rel in seen and seen[s.rel] != s.path:
            raise DataError(
                f"two inputs have the same name {s.rel!r} ({seen[s.rel]} and {s.path})",
                hint="rename one, or pass their parent directories instead",
            )
        seen[s.rel] = s.path
    return sources, skipped


def _parquet_row_groups(path: str) -> list[tuple[int, int]]:
    """``(rows, bytes)`` of each row group."""
    pq = _pyarrow_parquet()
    meta = pq.ParquetFile(path).metadata
    return [(meta.row_group(i).num_rows, meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups)]


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        from safetylens.errors import BackendUnavailable

        raise BackendUnavailable("reading Parquet needs pyarrow", "pip install 'safetylens[audit]'") from exc
    return pq


def plan_shards(sources: list[Source], shard_bytes: int = DEFAULT_SHARD_BYTES) -> list[Shard]:
    """Split sources into shards (independent of the number of workers).

    Args:
        sources: From :func:`collect_sources`.
        shard_bytes: Target input bytes per shard.
    """
    if shard_bytes < 4096:
        raise ConfigError(f"shard size must be at least 4096 bytes, got {shard_bytes}")
    shards: list[Shard] = []
    text_group: list[Source] = []

    def flush_text() -> None:
        if text_group:
            shards.append(Shard(len(shards), "text", tuple(text_group)))
            text_group.clear()

    for src in sources:
        if src.format == "text":
            text_group.append(src)
            if len(text_group) >= TEXT_FILES_PER_SHARD or sum(s.size for s in text_group) >= shard_bytes:
                flush_text()
            continue
        flush_text()
        if src.format == "jsonl":
            n = max(1, -(-src.size // shard_bytes))
            for k in range(n):
                stop = None if k == n - 1 else (k + 1) * shard_bytes
                shards.append(Shard(len(shards), "jsonl", (src,), k * shard_bytes, stop, k, n))
        elif src.format == "parquet":
            groups = _parquet_row_groups(src.path)
            spans: list[tuple[int, int]] = []
            first, acc = 0, 0
            for i, (_, nbytes) in enumerate(groups):
                acc += nbytes
                if acc >= shard_bytes:
                    spans.append((first, i + 1))
                    first, acc = i + 1, 0
            if first < len(groups) or not spans:
                spans.append((first, len(groups)))
            for k, (a, b) in enumerate(spans):
                shards.append(Shard(len(shards), "parquet", (src,), a, b, k, len(spans)))
        else:
            shards.append(Shard(len(shards), src.format, (src,)))
    flush_text()
    return shards


def _field(record: Any, path: str) -> Any:
    cur = record
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _from_record(rel: str, offset: int, record: Any, raw: bytes, opts: ReaderOptions) -> Document:
    key = f"{rel}:{offset}"
    if not isinstance(record, dict):
        return Document(key, "", None, raw, "line is not a JSON object")
    text = _field(record, opts.text_field)
    if opts.id_field is not None:
        ident = _field(record, opts.id_field)
        if ident is None:
            return Document(key, "", record, raw, f"no {opts.id_field!r} field")
        key = str(ident)
    if not isinstance(text, str):
        what = "missing" if text is None else f"not a string ({type(text).__name__})"
        return Document(key, "", record, raw, f"text field {opts.text_field!r} {what}")
    return Document(key, text, record, raw)


def _parse_line(rel: str, offset: int, raw: bytes, opts: ReaderOptions) -> Document:
    try:
        record = json.loads(raw)
    except ValueError as exc:
        return Document(f"{rel}:{offset}", "", None, raw, f"not valid JSON ({exc})")
    return _from_record(rel, offset, record, raw, opts)


def _iter_jsonl(shard: Shard, opts: ReaderOptions) -> Iterator[Document]:
    src = shard.sources[0]
    with open(src.path, "rb") as fh:
        pos = shard.start
        if pos > 0:
            # A line belongs to the shard in which it starts: skip the tail of the previous one.
            fh.seek(pos - 1)
            pos = pos - 1 + len(fh.readline())
        stop = src.size if shard.stop is None else shard.stop
        while pos < stop:
            raw = fh.readline()
            if not raw:
                break
            offset = pos
            pos += len(raw)
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            yield _parse_line(src.rel, offset, line, opts)


def _iter_jsonl_gz(shard: Shard, opts: ReaderOptions) -> Iterator[Document]:
    src = shard.sources[0]
    key_rel = src.rel[:-3] if src.rel.lower().endswith(".gz") else src.rel  # samples like the plain file
    try:
        with gzip.open(src.path, "rb") as gz:
            fh = io.BufferedReader(gz, buffer_size=1 << 20)
            pos = 0
            for raw in fh:
                offset = pos
                pos += len(raw)
                line = raw.rstrip(b"\r\n")
                if not line.strip():
                    continue
                yield _parse_line(key_rel, offset, line, opts)
    except (OSError, EOFError) as exc:
        raise DataError(f"{src.path}: cannot decompress ({exc})", hint="the gzip file is corrupt or truncated") from exc


def _iter_parquet(shard: Shard, opts: ReaderOptions, batch_rows: int = 1024) -> Iterator[Document]:
    src = shard.sources[0]
    pq = _pyarrow_parquet()
    pf = pq.ParquetFile(src.path)
    names = pf.schema_arrow.names
    top = opts.text_field.split(".")[0]
    if top not in names:
        raise DataError(
            f"{src.path}: no column {opts.text_field!r}",
            hint=f"columns: {', '.join(names)}; choose one with --text-field",
        )
    if opts.id_field is not None and opts.id_field.split(".")[0] not in names:
        raise DataError(f"{src.path}: no column {opts.id_field!r}", hint=f"columns: {', '.join(names)}")
    meta = pf.metadata
    row = sum(meta.row_group(i).num_rows for i in range(shard.start))
    groups = list(range(shard.start, meta.num_row_groups if shard.stop is None else shard.stop))
    if not groups:
        return
    for batch in pf.iter_batches(batch_size=batch_rows, row_groups=groups):
        records = batch.to_pylist()
        for rec in records:
            key = f"{src.rel}:{row}"
            row += 1
            yield _from_record_parquet(key, rec, opts)


def _from_record_parquet(key: str, rec: dict[str, Any], opts: ReaderOptions) -> Document:
    text = _field(rec, opts.text_field)
    if opts.id_field is not None:
        ident = _field(rec, opts.id_field)
        if ident is None:
            return Document(key, "", rec, None, f"no {opts.id_field!r} value")
        key = str(ident)
    if not isinstance(text, str):
        what = "missing" if text is None else f"not a string ({type(text).__name__})"
        return Document(key, "", rec, None, f"text column {opts.text_field!r} {what}")
    return Document(key, text, rec)


def _iter_text(shard: Shard) -> Iterator[Document]:
    for i, src in enumerate(shard.sources):
        data = Path(src.path).read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            yield Document(src.rel, data.decode("utf-8"), source=i)
        except UnicodeDecodeError:
            # Still a document: the undecodable bytes become U+FFFD and the audit counts the file.
            yield Document(src.rel, data.decode("utf-8", errors="replace"), source=i, replaced=True)


def iter_documents(shard: Shard, opts: ReaderOptions) -> Iterator[Document]:
    """Stream a shard's documents in order.

    Raises:
        DataError: An unreadable file, or (``on_error="fail"``) an invalid record.
    """
    if shard.format == "text":
        yield from _iter_text(shard)
        return
    if shard.format == "jsonl":
        it = _iter_jsonl(shard, opts)
    elif shard.format == "jsonl.gz":
        it = _iter_jsonl_gz(shard, opts)
    else:
        it = _iter_parquet(shard, opts)
    for doc in it:
        if doc.error and opts.on_error == "fail":
            where = (
                f"{shard.sources[0].path} (the line at byte {doc.key.rsplit(':', 1)[1]})"
                if opts.id_field is None and shard.format != "parquet"
                else f"{shard.sources[0].path} (document {doc.key})"
            )
            raise DataError(
                f"invalid record in {where}: {doc.error}",
                hint="fix the record, choose the field with --text-field, or skip invalid records with "
                "--on-error skip (they are counted in the audit)",
            )
        yield doc
