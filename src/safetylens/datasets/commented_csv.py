"""CSV files that may open with ``#`` comment lines (PyRIT's scorer-evaluation files), row by row.

Every row comes with the line it starts on (comment lines counted), so a reader can name the file and
line of any bad row; a file that is missing, not UTF-8 or not CSV is a :class:`~safetylens.errors.DataError`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetylens.errors import DataError


@dataclass
class CommentedCsv:
    """A parsed header and the rows after it.

    Attributes:
        path: The file.
        header: Column names.
        skipped: Leading comment and blank lines.
    """

    path: Path
    header: list[str]
    skipped: int
    _reader: Any

    def rows(self) -> Iterator[tuple[int, dict[Any, Any]]]:
        """``(line, row)`` for every data row; a row with too many fields keeps them under the key None.

        Raises:
            DataError: The CSV itself is malformed (the message names the line).
        """
        start = 2 + self.skipped  # the header is the first line after the comments
        try:
            for row in self._reader:
                line, start = start, self.skipped + self._reader.line_num + 1
                yield line, row
        except csv.Error as exc:
            raise DataError(f"{self.path}, line {self.skipped + self._reader.line_num}: {exc}") from None


def open_commented_csv(path: Path) -> CommentedCsv:
    """Read a UTF-8 CSV (a byte-order mark allowed) after its leading ``#`` and blank lines.

    Raises:
        DataError: The file cannot be read or is not UTF-8.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.splitlines(keepends=True)
    skipped = 0
    while skipped < len(lines) and (lines[skipped].lstrip().startswith("#") or not lines[skipped].strip()):
        skipped += 1
    reader = csv.DictReader(io.StringIO("".join(lines[skipped:]), newline=""))
    return CommentedCsv(path, list(reader.fieldnames or []), skipped, reader)
