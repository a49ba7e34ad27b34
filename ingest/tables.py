"""Tables: PyMuPDF's ``find_tables`` → header + rows → markdown, split by rows to a budget."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pymupdf

from ingest.chunk import count_tokens, strip_leaders
from ingest.layout import Block, Rect
from ingest.table_headers import first_row_is_data, is_figure, names_columns

log = logging.getLogger(__name__)

MAX_TABLE_DRAWINGS = 5000  # a page-sized plot, not a table; find_tables would take minutes


@dataclass
class TableRegion:
    """A table found on a page: its cells as text and the boxes of its rows."""

    bbox: Rect
    header: list[str]
    rows: list[list[str]]
    header_box: Rect | None
    row_boxes: list[Rect]


def _cell(value: object) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return text.replace("|", "\\|")


Word = tuple[float, float, float, float, str]


def cell_text(box: Sequence[float] | None, words: Sequence[Word]) -> str:
    """Words whose centre lies in ``box``, in line then x order.

    Cell text is taken from the page's words rather than ``Table.extract()``, which in
    PyMuPDF 2.0 splits numbers like "201.3" into "2013" and "." across lines.
    """
    if box is None:
        return ""
    x0, y0, x1, y1 = box
    inside = [w for w in words if x0 <= (w[0] + w[2]) / 2 <= x1 and y0 <= (w[1] + w[3]) / 2 <= y1]
    inside.sort(key=lambda w: (round((w[1] + w[3]) / 2 / 3), w[0]))
    return _cell(" ".join(w[4] for w in inside))


def _rule_positions(drawings: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Distinct y positions of horizontal rules and x positions of vertical ones (>= 10 pt)."""
    hs: set[int] = set()
    vs: set[int] = set()
    for d in drawings:
        for item in d.get("items", []):
            if item[0] == "l":
                a, b = item[1], item[2]
                if abs(a.y - b.y) < 1 and abs(a.x - b.x) >= 10:
                    hs.add(round(a.y))
                elif abs(a.x - b.x) < 1 and abs(a.y - b.y) >= 10:
                    vs.add(round(a.x))
            elif item[0] == "re":
                r = item[1]
                if r.width >= 10:
                    hs.update((round(r.y0), round(r.y1)))
                if r.height >= 10:
                    vs.update((round(r.x0), round(r.x1)))
    return len(hs), len(vs)


def may_have_tables(drawings: Sequence[dict[str, Any]]) -> bool:
    """Cheap pre-check before ``find_tables`` (~0.3-1 s a page): a ruled table needs several
    horizontal rules, and either column rules or many row rules (booktabs-style tables).
    A page frame alone (2 verticals, a few horizontals) does not qualify."""
    if len(drawings) > MAX_TABLE_DRAWINGS:
        return False
    h, v = _rule_positions(drawings)
    return h >= 3 and (v >= 3 or h >= 8)


HEADING_SIZE = 1.15
"""Text above a table set this much larger than its first row is a heading, not column names."""


def _font_size(page: pymupdf.Page, box: Rect) -> float:
    """The largest font size of the text in ``box`` (0 when none)."""
    blocks = page.get_text("dict", clip=pymupdf.Rect(box), flags=pymupdf.TEXTFLAGS_TEXT)["blocks"]
    return max((s["size"] for b in blocks for ln in b.get("lines", []) for s in ln["spans"] if s["text"].strip()),
               default=0.0)


def _larger_text(page: pymupdf.Page, above: Rect, top_row: Rect) -> bool:
    """Whether the text in ``above`` is set larger than the table's first row: a section heading
    ("1. Hotel and per diem limits", 13 pt over 9.5 pt cells) that PyMuPDF took for a header."""
    row = _font_size(page, top_row)
    return row > 0 and _font_size(page, above) >= HEADING_SIZE * row


def find_tables(page: pymupdf.Page) -> list[TableRegion]:
    """Tables on ``page`` with at least two rows and two columns of mostly non-empty cells.

    The header is text above the table only when it names the columns (a heading there, which
    fills one cell or is set larger than the cells, does not); else the first row, unless that
    row is data of a key/value table (the header is left empty then).
    ``find_tables`` also fires on ruled boxes and chart grids; requiring half the cells to
    hold text filters most of those out.
    """
    try:
        # use_layout=False: PyMuPDF 2.0 otherwise gates tables by an ONNX layout model that
        # costs 2-8 s per page on a CPU; the cell-fill filter below removes most false hits.
        found = page.find_tables(use_layout=False)
    except Exception as exc:  # table detection is best effort on odd pages
        log.debug("find_tables failed on page %s: %s", page.number + 1, exc)
        return []
    if not found.tables:
        return []
    words: list[Word] = [tuple(w[:5]) for w in page.get_text("words")]
    regions: list[TableRegion] = []
    for t in found.tables:
        cells = [[cell_text(c, words) for c in row.cells] for row in t.rows]
        row_boxes = [tuple(r.bbox) for r in t.rows]
        if not cells:
            continue
        external = [cell_text(c, words) for c in t.header.cells] if t.header.external else []
        if external and names_columns(external, cells[0]) and not _larger_text(
                page, tuple(t.header.bbox), row_boxes[0]):
            header, rows = external, cells
            header_box: Rect | None = tuple(t.header.bbox)
        elif first_row_is_data(cells[0], cells[1:]):
            # A key/value table ("일시 | 2025년 3월 12일"): no header row, every row is data.
            header, rows = [""] * len(cells[0]), cells
            header_box = None
        else:
            # PyMuPDF also takes a heading right above the table for an "external" header;
            # the table's own first row holds the column names then.
            header, rows = cells[0], cells[1:]
            header_box, row_boxes = row_boxes[0], row_boxes[1:]
        ncols = max([len(header)] + [len(r) for r in rows])
        filled = sum(1 for r in [header, *rows] for c in r if c)
        if not rows or ncols < 2 or filled < 0.5 * ncols * (len(rows) + 1):
            continue
        regions.append(TableRegion(tuple(t.bbox), header, rows, header_box, row_boxes))
    return regions


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table; short rows are padded to the header's width; dot
    leaders are dropped from cells."""
    width = max([len(header)] + [len(r) for r in rows])

    def line(cells: Sequence[str]) -> str:
        padded = [strip_leaders(c) for c in cells] + [""] * (width - len(cells))
        return "| " + " | ".join(padded) + " |"

    return "\n".join([line(header), "|" + "---|" * width, *(line(r) for r in rows)])


def split_rows(header: Sequence[str], rows: Sequence[Sequence[str]], budget: int) -> list[range]:
    """Row ranges whose markdown (header repeated in each) fits ``budget`` tokens.

    A single row larger than the budget still gets its own part: rows are never cut.
    """
    head = count_tokens(markdown(header, []))
    parts: list[range] = []
    start, size = 0, head
    for i, row in enumerate(rows):
        cost = len(row) + 1 + sum(count_tokens(c) for c in row)  # "| a | b |": pipes + words
        if i > start and size + cost > budget:
            parts.append(range(start, i))
            start, size = i, head
        size += cost
    if start < len(rows) or not parts:
        parts.append(range(start, len(rows)))
    return parts


TITLE_GAP = 60.0
"""Points between a table's top and the title lines above it ("CONSOLIDATED BALANCE SHEETS")."""
TITLE_LINE_GAP = 24.0
"""Points between two title lines (company name over statement name, "(in millions)" below)."""
MAX_TITLE_WORDS = 16
MAX_TITLE_LINES = 3


def _title_like(text: str) -> bool:
    """A short line that is no sentence and no row of figures."""
    words = text.split()
    end = text.rstrip()[-1:] if words else ""
    sentence = end in ";," or (end == "." and len(words) > 4)  # "Adobe Inc." is a title line
    return 0 < len(words) <= MAX_TITLE_WORDS and not sentence and not is_figure(text)


def _stack(blocks: Sequence[Block], edge: float, first_gap: float) -> list[str]:
    """Title-like blocks stacked upwards from ``edge`` (``blocks`` nearest first), top to bottom."""
    lines: list[str] = []
    for b in blocks:
        if edge - b.bbox[3] > (first_gap if not lines else TITLE_LINE_GAP) or not _title_like(b.text):
            break
        lines.append(" ".join(b.text.split()))
        edge = b.bbox[1]
        if len(lines) == MAX_TITLE_LINES:
            break
    return lines[::-1]


def title_above(blocks: Sequence[Block], box: Rect) -> str:
    """The title of the table at ``box``, joined by " / ": up to ``MAX_TITLE_LINES`` short blocks
    stacked right above it (the first within ``TITLE_GAP`` points of its top, each within
    ``TITLE_LINE_GAP`` of the next); when a longer block sits right above the table instead, the
    short blocks at the top of the page above it. A financial statement's title ("ADOBE SYSTEMS
    INCORPORATED / CONSOLIDATED STATEMENTS OF CASH FLOWS / (In thousands)") sits there, not in a
    "Table 3:" caption; split into parts, every part carries it. Empty when nothing fits."""
    above = sorted((b for b in blocks if b.bbox[3] <= box[1] + 2), key=lambda b: -b.bbox[3])
    near = _stack(above, box[1], TITLE_GAP)
    if near or not above or box[1] - above[0].bbox[3] > TITLE_GAP:
        return " / ".join(near)
    top = sorted(above, key=lambda b: b.bbox[1])
    lines: list[str] = []
    edge = 0.0
    for b in top:
        if not _title_like(b.text) or (lines and b.bbox[1] - edge > TITLE_LINE_GAP):
            break
        lines.append(" ".join(b.text.split()))
        edge = b.bbox[3]
        if len(lines) == MAX_TITLE_LINES:
            break
    return " / ".join(lines)


def item_text(label: str, md: str) -> str:
    """A table item's text: its caption or title, a blank line, its markdown."""
    return f"{label}\n\n{md}" if label else md
