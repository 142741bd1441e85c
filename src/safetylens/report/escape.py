"""Escaping of untrusted text for every output format.

Model outputs, prompts, labels and any text read from a manifest are adversarial by design: they
must stay inert in every format the report writes. One function per format; every renderer uses
these and never interpolates raw text.
"""

from __future__ import annotations

import html
import re

from safetylens.util import csv_cell

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control(text: str) -> str:
    """Remove C0 control characters other than tab, newline and carriage return."""
    return _CONTROL.sub("", text)


def html_text(value: object) -> str:
    """Escape for HTML element content and quoted attribute values (``& < > " '``)."""
    return html.escape(strip_control(str(value)), quote=True)


# Enough to keep text literal inside a table cell or a list item: emphasis, code, links and images
# (``[`` is escaped, so ``](`` and ``![`` cannot form), strikethrough and cell separators. ``< > &``
# are replaced by entities before this runs.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_text(value: object) -> str:
    """Escape for a Markdown table cell or inline text.

    HTML is neutralised with entities (Markdown renders raw HTML), Markdown punctuation is
    backslash-escaped, and newlines become spaces so a value cannot break a table row.
    """
    text = strip_control(str(value)).replace("\r", " ").replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_code_block(value: object) -> str:
    """A fenced code block whose fence is longer than any backtick run in the text."""
    text = strip_control(str(value))
    longest = max((len(m.group(0)) for m in re.finditer(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


_LATEX = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX))


def latex_text(value: object) -> str:
    """Escape for LaTeX text mode (all ten special characters plus ``< > |``; newlines become spaces)."""
    text = strip_control(str(value)).replace("\r", " ").replace("\n", " ")
    return _LATEX_RE.sub(lambda m: _LATEX[m.group(0)], text)


def csv_text(value: object) -> str:
    """Neutralise spreadsheet formula injection in a CSV text cell.

    Control characters are removed and carriage returns become spaces; then a cell that starts like
    a formula gets a leading single quote (the project's one rule, :func:`safetylens.util.csv_cell`).
    Numbers are written by the caller as numbers and never pass through here.
    """
    return str(csv_cell(strip_control(str(value)).replace("\r", " ")))
