"""Rating data for agreement statistics: raw ratings, subject x category counts, 2-rater tables.

Every coefficient in :mod:`safetylens.stats.irr` works on the ``n x q`` matrix ``r_ik`` (number of
raters who put subject ``i`` in category ``k``), Gwet's (2014) "distribution of raters by subject and
category". Conger's kappa, Cohen's kappa and Scott's pi also need to know *which* rater gave each
rating, so raw input keeps an ``n x r`` matrix of category codes as well.

The category set is always explicit in the result: pass the full scale (e.g. ``1..5``) so that an
unused category still counts in ``q`` and in the weights (irrCAC's docs "strongly advise" it; see
human-eval.md §1.2).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from safetylens.errors import ConfigError, DataError

Category = int | float | str
"""A rating category: a number on a scale, or a text label."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_MAX_SHOWN = 5


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return math.isnan(float(v))
    return False


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _display_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _frozen(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Ratings:
    """Ratings ready for agreement statistics.

    Build with :meth:`from_raw`, :meth:`from_counts` or :meth:`from_table`; the arrays are read-only.

    Attributes:
        counts: ``n x q`` float array ``r_ik``; only subjects with at least one rating are kept.
        categories: The ``q`` categories in scale order (numbers ascending, labels as declared).
        values: Numeric value of each category for distance-based weights: the numbers themselves,
            ranks ``1..q`` for labels whose order was declared, ``None`` for labels in no declared order.
        codes: ``n x r`` category index per subject and rater (``-1`` = missing), only for raw data
            and 2-rater tables; ``None`` for count tables (rater identity unknown).
        rater_names: One name per column of ``codes`` (empty for count tables).
        n_raters: Number of raters who gave at least one rating (count tables: the largest ``r_i``).
        n_dropped_subjects: Subjects in the input without any rating (excluded, as irrCAC advises).
    """

    counts: FloatArray
    categories: tuple[Category, ...]
    values: FloatArray | None
    codes: IntArray | None
    rater_names: tuple[str, ...]
    n_raters: int
    n_dropped_subjects: int = 0

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_raw(
        cls,
        ratings: ArrayLike | Sequence[Sequence[Any]],
        categories: Sequence[Category] | None = None,
        *,
        rater_names: Sequence[str] | None = None,
    ) -> Ratings:
        """Build from raw ratings: one row per subject, one column per rater.

        Args:
            ratings: A 2-D array or list of rows. Missing ratings are ``None``, ``NaN`` or blank strings.
                Values are either all numbers or all text labels.
            categories: The full category set (recommended). Numbers are sorted; labels keep the
                given order, which then defines their ranks ``1..q`` for ordinal/distance weights.
                ``None`` uses the categories that occur in the data.
            rater_names: Optional names of the rater columns (for messages).

        Raises:
            DataError: Not a 2-D table, mixed numbers and labels, or a rating outside ``categories``.
            ConfigError: Categories of the wrong type or with duplicates.
        """
        fast = isinstance(ratings, np.ndarray) and ratings.dtype.kind in "fiu"
        try:
            # Numeric arrays skip the per-cell type checks (the common case for platform exports).
            arr: np.ndarray[Any, Any] = np.asarray(ratings, dtype=float) if fast else np.array(ratings, dtype=object)
        except (TypeError, ValueError) as exc:  # ragged nested sequences
            raise DataError(f"ratings are not a rectangular table: {exc}") from None
        if arr.ndim != 2:
            raise DataError(
                f"ratings must be a 2-D table (subjects x raters), got {arr.ndim} dimension(s)",
                hint="one row per subject, one column per rater; use None or NaN for a missing rating",
            )
        n_rows, n_cols = arr.shape
        names = tuple(rater_names) if rater_names is not None else tuple(f"rater {j + 1}" for j in range(n_cols))
        if len(names) != n_cols:
            raise DataError(f"{len(names)} rater names for {n_cols} rater columns")
        flat = arr.ravel()
        if fast:
            missing = np.isnan(flat)
            present = flat[~missing]
            numeric = True
        else:
            missing = np.fromiter((_is_missing(v) for v in flat), dtype=bool, count=flat.size)
            present = flat[~missing]
            numeric = _check_kinds(present)
        if not present.size:
            raise DataError("the ratings contain no rating at all")

        codes_flat = np.full(flat.size, -1, dtype=np.intp)
        if numeric:
            vals = present.astype(float) if fast else np.array([float(v) for v in present], dtype=float)
            if not np.all(np.isfinite(vals)):
                raise DataError("ratings contain an infinite value")
            cats_num = _numeric_categories(categories) if categories is not None else np.unique(vals)
            idx = np.searchsorted(cats_num, vals)
            idx_c = np.minimum(idx, cats_num.size - 1)
            ok = (idx < cats_num.size) & (cats_num[idx_c] == vals)
            if not ok.all():
                _raise_outside(np.flatnonzero(~missing)[~ok], flat, n_cols, names, cats_num.tolist())
            codes_flat[~missing] = idx_c
            cats: tuple[Category, ...] = tuple(_display_number(x) for x in cats_num)
            values: FloatArray | None = cats_num
        else:
            labels = [str(v).strip() for v in present]
            if categories is not None:
                cat_labels = _label_categories(categories)
                values = np.arange(1.0, len(cat_labels) + 1.0)
            else:
                cat_labels = sorted(set(labels))
                values = None  # alphabetical order is not a scale
            lookup = {c: i for i, c in enumerate(cat_labels)}
            mapped = np.array([lookup.get(s, -1) for s in labels], dtype=np.intp)
            if np.any(mapped < 0):
                _raise_outside(np.flatnonzero(~missing)[mapped < 0], flat, n_cols, names, list(cat_labels))
            codes_flat[~missing] = mapped
            cats = tuple(cat_labels)
        codes = codes_flat.reshape(n_rows, n_cols)
        return cls._from_codes(codes, cats, values, names)

    @classmethod
    def from_counts(cls, counts: ArrayLike, categories: Sequence[Category] | None = None) -> Ratings:
        """Build from a subjects x categories table of rater counts (Gwet's "distribution" format).

        Args:
            counts: ``n x q`` non-negative integers; entry ``(i, k)`` is the number of raters who put
                subject ``i`` in category ``k``. Columns are in scale order.
            categories: One category per column. ``None`` means ``1..q`` (irrCAC's default), i.e. the
                columns are an ordered scale with unit spacing.

        Raises:
            DataError: Not a 2-D non-negative integer table.
            ConfigError: ``categories`` does not match the number of columns.
        """
        try:
            c = np.array(counts, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(f"counts are not a numeric table: {exc}") from None
        if c.ndim != 2:
            raise DataError(f"counts must be a 2-D table (subjects x categories), got {c.ndim} dimension(s)")
        if not np.all(np.isfinite(c)) or np.any(c < 0) or not np.array_equal(c, np.round(c)):
            raise DataError("counts must be non-negative whole numbers (raters per subject and category)")
        q = c.shape[1]
        if categories is None:
            cats: tuple[Category, ...] = tuple(range(1, q + 1))
            values: FloatArray | None = np.arange(1.0, q + 1.0)
        else:
            if len(categories) != q:
                raise ConfigError(f"{len(categories)} categories given for a count table with {q} columns")
            if all(_is_number(x) for x in categories):
                values = np.array([float(x) for x in categories])
                if np.any(np.diff(values) <= 0):
                    raise ConfigError("numeric categories of a count table must be given in increasing order")
                cats = tuple(_display_number(x) for x in values)
            else:
                cats = tuple(_label_categories(categories))
                values = np.arange(1.0, q + 1.0)
        ri = c.sum(axis=1)
        keep = ri > 0
        kept = c[keep]
        return cls(
            counts=_frozen(kept),
            categories=cats,
            values=_frozen(values) if values is not None else None,
            codes=None,
            rater_names=(),
            n_raters=int(kept.sum(axis=1).max()) if kept.size else 0,
            n_dropped_subjects=int((~keep).sum()),
        )

    @classmethod
    def from_table(cls, table: ArrayLike, categories: Sequence[Category] | None = None) -> Ratings:
        """Build from a ``q x q`` contingency table of two raters (rows: rater A, columns: rater B).

        The table is expanded to raw ratings, so every coefficient (including Cohen's kappa and
        Scott's pi) can be computed from it.

        Args:
            table: Square table of non-negative whole numbers.
            categories: One category per row/column; ``None`` means ``1..q``.

        Raises:
            DataError: The table is not square or has invalid counts.
        """
        try:
            t = np.array(table, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(f"contingency table is not numeric: {exc}") from None
        if t.ndim != 2 or t.shape[0] != t.shape[1]:
            raise DataError(f"a 2-rater contingency table must be square, got shape {t.shape}")
        if not np.all(np.isfinite(t)) or np.any(t < 0) or not np.array_equal(t, np.round(t)):
            raise DataError("contingency table entries must be non-negative whole numbers")
        q = t.shape[0]
        cats_in: Sequence[Category] = categories if categories is not None else list(range(1, q + 1))
        if len(cats_in) != q:
            raise ConfigError(f"{len(cats_in)} categories given for a {q} x {q} table")
        reps = t.astype(np.intp).ravel()
        k, l_ = np.divmod(np.arange(q * q), q)
        codes = np.stack([np.repeat(k, reps), np.repeat(l_, reps)], axis=1).astype(np.intp)
        if all(_is_number(x) for x in cats_in):
            values = np.array([float(x) for x in cats_in])
            if np.any(np.diff(values) <= 0):
                raise ConfigError("numeric categories of a table must be given in increasing order")
            cats: tuple[Category, ...] = tuple(_display_number(x) for x in values)
        else:
            cats = tuple(_label_categories(cats_in))
            values = np.arange(1.0, q + 1.0)
        return cls._from_codes(codes, cats, values, ("rater A", "rater B"))

    @classmethod
    def _from_codes(
        cls, codes: IntArray, cats: tuple[Category, ...], values: FloatArray | None, names: tuple[str, ...]
    ) -> Ratings:
        n = codes.shape[0]
        q = len(cats)
        rated = codes >= 0
        keep = rated.any(axis=1)
        codes = codes[keep]
        rated = rated[keep]
        rows = np.broadcast_to(np.arange(codes.shape[0])[:, None], codes.shape)
        flat = rows[rated] * q + codes[rated]
        counts = np.bincount(flat, minlength=codes.shape[0] * q).reshape(codes.shape[0], q).astype(float)
        return cls(
            counts=_frozen(counts),
            categories=cats,
            values=_frozen(np.asarray(values, dtype=float)) if values is not None else None,
            codes=_frozen(codes),
            rater_names=names,
            n_raters=int(rated.any(axis=0).sum()),
            n_dropped_subjects=int(n - codes.shape[0]),
        )

    # ------------------------------------------------------------------ properties

    @property
    def n_subjects(self) -> int:
        """Subjects with at least one rating."""
        return int(self.counts.shape[0])

    @property
    def q(self) -> int:
        """Number of categories."""
        return len(self.categories)

    @property
    def rater_counts(self) -> FloatArray:
        """``r_i``: number of ratings per subject."""
        return np.asarray(self.counts.sum(axis=1), dtype=float)

    @property
    def n_ratings(self) -> int:
        """Total number of ratings."""
        return int(self.counts.sum())

    @property
    def ordered(self) -> bool:
        """Whether the categories form a scale (numbers, or labels in a declared order)."""
        return self.values is not None

    def contingency_table(self) -> FloatArray:
        """The ``q x q`` table of the two raters over subjects rated by both.

        Raises:
            DataError: The data is a count table, or does not have exactly two raters.
        """
        codes = self.two_rater_codes()
        q = self.q
        both = (codes >= 0).all(axis=1)
        pair = codes[both]
        return np.bincount(pair[:, 0] * q + pair[:, 1], minlength=q * q).reshape(q, q).astype(float)

    def two_rater_codes(self) -> IntArray:
        """The two columns of codes of the raters who rated something (exactly two are required)."""
        codes = self.rater_codes("Cohen's kappa and Scott's pi")
        if codes.shape[1] != 2:
            raise DataError(
                f"Cohen's kappa and Scott's pi are defined for exactly 2 raters; this data has {codes.shape[1]}",
                hint="use Conger's kappa (Cohen's generalised) or Fleiss' kappa for more raters",
            )
        return codes

    def rater_codes(self, purpose: str) -> IntArray:
        """Codes of the raters who rated at least one subject.

        Args:
            purpose: The coefficient that needs rater identities (for the error message).

        Raises:
            DataError: The data is a count table (no rater identities).
        """
        if self.codes is None:
            raise DataError(
                f"{purpose} needs to know which rater gave each rating; a subjects x categories count table "
                "does not say",
                hint="pass raw ratings (one column per rater) instead of counts",
            )
        active = (self.codes >= 0).any(axis=0)
        return np.asarray(self.codes[:, active], dtype=np.intp)


def _check_kinds(present: NDArray[Any]) -> bool:
    """Whether the non-missing ratings are all numbers (True) or all text (False); else raise."""
    numeric_flags = np.fromiter((_is_number(v) for v in present), dtype=bool, count=present.size)
    if numeric_flags.all():
        return True
    if not numeric_flags.any():
        bad = next((v for v in present if not isinstance(v, str)), None)
        if bad is not None:
            raise DataError(f"unsupported rating value {bad!r} ({type(bad).__name__})", hint="use numbers or text")
        return False
    first_num = present[numeric_flags][0]
    first_txt = present[~numeric_flags][0]
    raise DataError(
        f"ratings mix numbers ({first_num!r}) and text ({first_txt!r})",
        hint="use one kind: either a numeric scale or text labels",
    )


def _numeric_categories(categories: Sequence[Category]) -> FloatArray:
    out: list[float] = []
    for c in categories:
        if _is_number(c):
            out.append(float(c))
            continue
        if isinstance(c, str):
            try:
                out.append(float(c))
                continue
            except ValueError:
                pass
        raise ConfigError(
            f"ratings are numbers but category {c!r} is not",
            hint="declare numeric categories such as 1,2,3,4,5, or rate with the text labels",
        )
    arr = np.array(out, dtype=float)
    if arr.size == 0:
        raise ConfigError("the category set is empty")
    if not np.all(np.isfinite(arr)):
        raise ConfigError("categories must be finite numbers")
    uniq = np.unique(arr)
    if uniq.size != arr.size:
        raise ConfigError(f"duplicate categories in {[_display_number(x) for x in arr]}")
    return uniq


def _label_categories(categories: Sequence[Category]) -> list[str]:
    if any(_is_number(c) for c in categories):
        raise ConfigError(
            "ratings are text labels but the declared categories include numbers",
            hint="declare the labels exactly as they appear in the ratings",
        )
    labels = [str(c).strip() for c in categories]
    if not labels:
        raise ConfigError("the category set is empty")
    if any(not s for s in labels):
        raise ConfigError("a declared category is blank (blank cells mean 'missing')")
    if len(set(labels)) != len(labels):
        raise ConfigError(f"duplicate categories in {labels}")
    return labels


def _raise_outside(
    positions: NDArray[np.intp], flat: NDArray[Any], n_cols: int, names: tuple[str, ...], cats: list[Any]
) -> None:
    shown = []
    for p in positions[:_MAX_SHOWN]:
        row, col = divmod(int(p), n_cols)
        shown.append(f"{flat[p]!r} (subject row {row + 1}, {names[col]})")
    more = f" and {positions.size - _MAX_SHOWN} more" if positions.size > _MAX_SHOWN else ""
    cat_txt = ", ".join(str(_display_number(c)) if isinstance(c, float) else str(c) for c in cats)
    raise DataError(
        f"{positions.size} rating(s) outside the declared categories [{cat_txt}]: {'; '.join(shown)}{more}",
        hint="fix the ratings, or declare the full category set",
    )


#: First-column names that mark a subject-id column rather than a rater (case-insensitive).
ID_COLUMNS: frozenset[str] = frozenset({"unit", "units", "subject", "subjects", "item", "items", "id", "ids"})


@dataclass(frozen=True)
class RatingsTable:
    """A ratings file as read from disk, before categories are applied.

    Attributes:
        rows: One list per subject, one cell per rater; ``None`` marks a missing rating. Cells are
            floats when the file is numeric, otherwise stripped strings.
        subject_ids: Subject ids from the id column, or ``1..n`` (line order) without one.
        rater_names: Column headers of the rater columns.
        numeric: Whether every rating parsed as a number.
    """

    rows: list[list[float | str | None]]
    subject_ids: list[str]
    rater_names: list[str]
    numeric: bool

    def to_ratings(self, categories: Sequence[Category] | None = None) -> Ratings:
        """Build :class:`Ratings` (see :meth:`Ratings.from_raw`)."""
        return Ratings.from_raw(self.rows, categories, rater_names=self.rater_names)


def parse_categories(text: str) -> list[Category]:
    """Parse a comma-separated category list: numbers when every item is a number, labels otherwise.

    Args:
        text: E.g. ``"1,2,3,4,5"`` or ``"safe,borderline,unsafe"``.

    Raises:
        ConfigError: Empty list, blank item or duplicates.
    """
    items = [s.strip() for s in text.split(",")]
    if not items or any(not s for s in items):
        raise ConfigError(f"invalid category list {text!r}", hint="comma-separated, e.g. 1,2,3,4,5")
    nums = [_parse_float(s) for s in items]
    if all(x is not None for x in nums):
        vals = [_display_number(float(x)) for x in nums if x is not None]
        if len(set(vals)) != len(vals):
            raise ConfigError(f"duplicate categories in {text!r}")
        return list(vals)
    if len(set(items)) != len(items):
        raise ConfigError(f"duplicate categories in {text!r}")
    return list(items)


def _parse_float(s: str) -> float | None:
    try:
        x = float(s)
    except ValueError:
        return None
    return x


def read_ratings_csv(
    path: str | os.PathLike[str],
    *,
    na_values: Collection[str] = ("NA",),
    delimiter: str = ",",
    header: bool = True,
    numeric: bool | None = None,
) -> RatingsTable:
    """Read raw ratings from a CSV file: one row per subject, one column per rater.

    An optional first column named ``unit``, ``subject``, ``item`` or ``id`` (or the plural) holds
    subject ids; every other column is one rater. Empty cells, and cells equal to one of ``na_values``,
    are missing ratings. Blank lines are skipped.

    Args:
        path: The CSV file.
        na_values: Extra cell texts meaning "missing" (an empty cell always does).
        delimiter: Field separator.
        header: Whether the first line names the columns (without it, raters are ``rater 1..r``).
        numeric: Force numeric (``True``: every rating must be a number) or text (``False``) ratings;
            ``None`` decides from the data (numeric when every rating parses as a number).

    Raises:
        DataError: Unreadable file, not UTF-8, no rows, ragged rows, duplicate subject ids or column
            names, fewer than two rater columns, or a non-numeric rating when ``numeric=True``.
    """
    import csv
    from pathlib import Path

    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"ratings file not found: {p}") from None
    except IsADirectoryError:
        raise DataError(f"{p} is a directory, not a ratings file") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{p} is not UTF-8 text ({exc.reason} at byte {exc.start})", hint="save it as UTF-8 CSV"
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc.strerror}") from None
    if "\x00" in text:
        raise DataError(f"{p} contains NUL bytes; it is not a CSV text file")
    try:
        lines = [(i + 1, row) for i, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter, strict=True))]
    except csv.Error as exc:
        raise DataError(f"{p} is not valid CSV: {exc}") from None
    lines = [(ln, row) for ln, row in lines if any(cell.strip() for cell in row)]
    if not lines:
        raise DataError(f"{p} is empty")
    width = len(lines[0][1])
    for ln, row in lines:
        if len(row) != width:
            raise DataError(
                f"{p}, line {ln}: {len(row)} fields, but the {'header' if header else 'first row'} has {width}",
                hint=f"every row needs one cell per column (leave a cell empty for a missing rating); "
                f"delimiter is {delimiter!r}",
            )
    if header:
        names = [c.strip() for c in lines[0][1]]
        body = lines[1:]
    else:
        names = [f"rater {j + 1}" for j in range(width)]
        body = lines
    has_id = header and names[0].lower() in ID_COLUMNS
    rater_cols = names[1:] if has_id else names
    if header:
        if any(not n for n in rater_cols):
            blank = [j + 1 + int(has_id) for j, n in enumerate(rater_cols) if not n]
            raise DataError(f"{p}: column(s) {blank} have no name in the header row")
        dup = sorted({n for n in rater_cols if rater_cols.count(n) > 1})
        if dup:
            raise DataError(f"{p}: column name(s) {dup} appear more than once in the header")
        if all(_parse_float(n) is not None for n in rater_cols):
            raise DataError(
                f"{p}: the first line ({', '.join(names)}) looks like ratings, not column names",
                hint="add a header row naming the raters (optionally 'subject' first), or pass --no-header",
            )
    if len(rater_cols) < 2:
        raise DataError(
            f"{p} has {len(rater_cols)} rater column(s); agreement needs at least 2",
            hint="one column per rater; a first column named unit, subject, item or id holds subject ids",
        )
    if not body:
        raise DataError(f"{p} has a header but no rating rows")
    na = {s.strip() for s in na_values}
    ids: list[str] = []
    seen: dict[str, int] = {}
    cells: list[list[str | None]] = []
    for k, (ln, row) in enumerate(body):
        sid = row[0].strip() if has_id else str(k + 1)
        if has_id:
            if not sid:
                raise DataError(f"{p}, line {ln}: empty subject id")
            if sid in seen:
                raise DataError(f"{p}, line {ln}: subject id {sid!r} already used on line {seen[sid]}")
            seen[sid] = ln
        ids.append(sid)
        vals = row[1:] if has_id else row
        cells.append([None if (c.strip() == "" or c.strip() in na) else c.strip() for c in vals])
    present = [(i, j, c) for i, r in enumerate(cells) for j, c in enumerate(r) if c is not None]
    parsed = {(i, j): _parse_float(c) for i, j, c in present}
    all_numeric = all(v is not None for v in parsed.values())
    if numeric is True and not all_numeric:
        bi, bj, bad = next((i, j, c) for i, j, c in present if parsed[(i, j)] is None)
        raise DataError(
            f"{p}, line {body[bi][0]}, column {rater_cols[bj]!r}: rating {bad!r} is not a number, "
            "but the categories are numeric",
            hint="fix the rating, or declare text categories",
        )
    use_numeric = all_numeric if numeric is None else numeric
    rows: list[list[float | str | None]] = []
    for i, row_cells in enumerate(cells):
        out: list[float | str | None] = []
        for j, cell in enumerate(row_cells):
            if cell is None:
                out.append(None)
            elif use_numeric:
                x = parsed[(i, j)]
                out.append(None if x is None or math.isnan(x) else x)
            else:
                out.append(cell)
        rows.append(out)
    return RatingsTable(rows=rows, subject_ids=ids, rater_names=list(rater_cols), numeric=use_numeric)
