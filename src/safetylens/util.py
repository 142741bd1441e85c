"""Small helpers shared across modules: canonical JSON, hashing, atomic writes, interval text, slices, CSV cells."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``seq`` in consecutive slices of at most ``size`` items (batches, bound-parameter limits)."""
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` to JSON with sorted keys and no whitespace, for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def sha256_text(text: str) -> str:
    """Return the hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_json(obj: Any) -> str:
    """Return the hex sha256 of the canonical JSON form of ``obj``."""
    return sha256_text(canonical_json(obj))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_default) + "\n")


def read_jsonl(path: Path, *, repair: bool = False) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON-lines file.

    Args:
        path: The file to read. A missing file yields nothing.
        repair: When True, a final line that is cut short (a process killed mid-write) is dropped and
            the file truncated to its last complete line. Any other malformed line is an error.

    Raises:
        DataError: A line other than a truncated last one is not valid JSON.
    """
    from safetylens.errors import DataError

    if not path.exists():
        return
    with open(path, "rb") as fh:
        data = fh.read()
    if repair and data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    for lineno, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc


class JsonlWriter:
    """Append JSON objects to a file, one per line, flushed and fsynced after each write.

    Each line is written with a single ``write`` call so a crash leaves at most one partial final
    line, which :func:`read_jsonl` with ``repair=True`` removes.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, obj: Any) -> None:
        """Append one object and make it durable."""
        self._fh.write(json.dumps(obj, ensure_ascii=False, default=_default) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def format_interval(low: float | None, high: float | None, digits: int = 2) -> str:
    """Format a confidence interval as ``[low, high]``.

    An interval that could not be estimated (one observation, so a bootstrap has nothing to
    resample) is stored as NaN, or as ``None`` once it has been through JSON; it prints as
    ``[n/a: n < 2]`` rather than crashing or pretending to a zero-width interval.

    Args:
        low: Lower bound, or None/NaN when not estimable.
        high: Upper bound, or None/NaN when not estimable.
        digits: Decimal places.
    """
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "[n/a: n < 2]"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


# OWASP's list of characters that make a spreadsheet read a cell as a formula (= + - @ tab CR), the
# pipe and percent sign that defusedcsv quotes as well, and the full-width forms of = + - @, which
# some spreadsheet applications fold into the ASCII ones when they parse a cell.
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: Any) -> Any:
    """A value made safe for a CSV cell that a spreadsheet may open (every CSV writer uses this).

    Text that starts like a formula (:data:`CSV_FORMULA_START`) gets a leading single quote, OWASP's
    advice against formula injection, so a spreadsheet shows it as text instead of evaluating it.
    Only text is touched: numbers, booleans and None are data our own code produced and pass
    unchanged, so a score of -0.5 stays the number -0.5, while a person's comment "-0.5" is text and
    is quoted.

    Args:
        value: The cell's value.

    Returns:
        The value to hand to ``csv.writer``.
    """
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START):
        return "'" + value
    return value
