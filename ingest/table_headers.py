"""Which row of a table names its columns: figures, key/value tables, headers found above a table.

Shared by the table finders (``ingest.tables``, ``ingest.text_tables``) and by whoever reads a
table's markdown back (the extractive answerer): a key/value table ("일시 | 2025년 3월 12일",
"참석자 | 박서연 대표이사, …") has no header row, and its first row is data like the others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_CURRENCY = frozenset("$€£¥")
_FIGURE = re.compile(r"[(+\-–]?[$€£¥]?\(?\d[\d,.]*\)?%?[*†]?|[-–—*]+|n/?a|n/?m", re.I)

MAX_KEY_WORDS = 4
"""A key of a key/value table is a short label: "일시", "참석자", "Date and time"."""
MAX_NAME_WORDS = 3
"""A column name is short: "내용", "Description", "Hotel per night"."""
MAX_NAME_CHARS = 20


def is_figure(text: str) -> bool:
    """Whether a cell reads as a figure: "1,234", "(31)", "$ 4.2", "12 %", "—", "N/A"."""
    tokens = [t for t in text.split() if t not in _CURRENCY and t != "%"]
    return bool(tokens) and all(_FIGURE.fullmatch(t) for t in tokens)


def _is_key(cell: str) -> bool:
    return bool(cell) and not is_figure(cell) and len(cell.split()) <= MAX_KEY_WORDS


def is_key_value(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bool:
    """Whether a table (``header`` = its first row as found) is a key/value list: two columns,
    short text labels on the left, values that are mostly not figures on the right.

    A two-column table of figures ("Region | Revenue") is not one: its column name says what
    the figures measure, so its rows read "Region: Europe; Revenue: 146.2"."""
    if len(header) != 2 or len(rows) < 1 or any(len(r) != 2 for r in rows):
        return False
    if not all(_is_key(r[0]) for r in rows):
        return False
    values = [r[1] for r in rows if r[1]]
    return bool(values) and sum(is_figure(v) for v in values) < 0.5 * len(values)


def _reads_as_value(cell: str) -> bool:
    """A cell no column would be named: digits, a list, or longer than a name."""
    return (any(ch.isdigit() for ch in cell) or "," in cell or len(cell.split()) > MAX_NAME_WORDS
            or len(cell) > MAX_NAME_CHARS)


def first_row_is_data(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bool:
    """Whether the first row of a key/value table is one more pair rather than column names:
    "일시 | 2025년 3월 12일(수) 14:00 ~ 16:00" is data, "항목 | 내용" names the columns."""
    return is_key_value(header, rows) and _is_key(header[0]) and _reads_as_value(header[1])


def split_header(grid: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of a table's cell grid: the first row, unless the table is a key/value
    list whose first row is data; then the header is empty cells and every row is data."""
    head, body = list(grid[0]), [list(r) for r in grid[1:]]
    if first_row_is_data(head, body):
        return [""] * len(head), [head, *body]
    return head, body


def names_columns(header: Sequence[str], top_row: Sequence[str]) -> bool:
    """Whether text found right above a ruled table (PyMuPDF's "external" header) names its
    columns: it fills at least two cells and at least as many as half the table's first row.
    A heading above the table ("1. Hotel and per diem limits") lands in one cell only."""
    filled = sum(1 for c in header if c)
    return filled >= 2 and filled >= 0.5 * sum(1 for c in top_row if c)
