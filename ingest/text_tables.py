"""Tables drawn without ruling lines: financial statements, aligned columns of figures.

``find_tables(strategy="text")`` on a whole page calls every page of prose a table and costs
0.1-0.2 s a page. So a cheap pass over the words first finds runs of rows that break into
columns with figures in them; only those regions go to ``find_tables``, and what comes back
is kept only if it still reads as a table of data: enough rows and columns, mostly filled,
a column of numbers, short cells.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pymupdf

from ingest.layout import Rect
from ingest.table_headers import is_figure
from ingest.tables import MAX_TABLE_DRAWINGS, TableRegion, Word, cell_text

log = logging.getLogger(__name__)

MIN_ROWS = 3  # header included
MIN_COLS = 2
MIN_FILLED = 0.5  # share of non-empty cells
MIN_NUMERIC = 0.7  # share of a column's cells that must be figures for it to count as numeric
MIN_LABELLED = 0.6  # share of rows with a text label first: chart axes have figures there
MAX_WORDS_PER_CELL = 6.0  # on average: more is prose set in columns
MAX_MARKS = 4  # chart marks (curves, slanted lines, bars) in a region: more is a chart's tick labels


def _rows(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped into visual rows (centres within a third of the word height), left to right."""
    rows: list[list[Word]] = []
    for w in sorted(words, key=lambda w: ((w[1] + w[3]) / 2, w[0])):
        if rows and abs((w[1] + w[3]) / 2 - (rows[-1][0][1] + rows[-1][0][3]) / 2) <= (w[3] - w[1]) / 3:
            rows[-1].append(w)
        else:
            rows.append([w])
    return [sorted(r, key=lambda w: w[0]) for r in rows]


def _segments(row: list[Word]) -> list[Word]:
    """The row's runs of words, split where a gap is wider than about an em (a column gap)."""
    gap = 0.9 * max(w[3] - w[1] for w in row)
    out: list[Word] = []
    for w in row:
        if out and w[0] - out[-1][2] <= gap:
            x0, y0, _, y1, text = out[-1]
            out[-1] = (x0, min(y0, w[1]), w[2], max(y1, w[3]), f"{text} {w[4]}")
        else:
            out.append(w)
    return out


def _cover(boxes: Iterable[Sequence[Any]]) -> Rect:
    x0s, y0s, x1s, y1s = zip(*(b[:4] for b in boxes), strict=True)
    return (min(x0s), min(y0s), max(x1s), max(y1s))


def _close(upper: list[Word], lower: list[Word]) -> bool:
    """Whether ``lower`` follows ``upper`` within one and a half line heights (rows of one table)."""
    return min(s[1] for s in lower) - max(s[3] for s in upper) <= 1.5 * (lower[0][3] - lower[0][1])


def _run(rows: list[list[Word]], data: list[bool], start: int) -> list[int]:
    """The data rows that follow data row ``start`` closely. Up to two short label rows
    ("Current assets:") may sit between them if they end left of every figure."""
    run = [start]
    figures_x0 = min(s[0] for s in rows[start][1:])
    for j in range(start + 1, len(rows)):
        if not _close(rows[j - 1], rows[j]):
            break
        if data[j]:
            run.append(j)
            figures_x0 = min(figures_x0, *(s[0] for s in rows[j][1:]))
        elif j - run[-1] > 2 or len(rows[j]) > 1 or len(rows[j][0][4].split()) > 5 or rows[j][0][2] >= figures_x0:
            break
    return run


def _header_like(row: list[Word], below: list[Word]) -> bool:
    """A column header: two or more short segments, close above the next row."""
    return len(row) >= 2 and all(len(s[4].split()) <= MAX_WORDS_PER_CELL for s in row) and _close(row, below)


def candidate_regions(words: Sequence[Word]) -> list[Rect]:
    """Regions of at least ``MIN_ROWS`` close rows that split into columns holding figures.

    A data row has two or more segments (runs of words split by a column gap) and a figure
    after the first; up to two multi-column rows right above a run of them are its header.
    """
    rows = [_segments(r) for r in _rows(words)]
    data = [len(r) >= 2 and any(is_figure(s[4]) for s in r[1:]) for r in rows]
    regions: list[Rect] = []
    i = done = 0  # rows before ``done`` belong to an earlier region
    while i < len(rows):
        if not data[i]:
            i += 1
            continue
        run = _run(rows, data, i)
        top = run[0]
        while top > done and run[0] - top < 2 and not data[top - 1] and _header_like(rows[top - 1], rows[top]):
            top -= 1
        if len(run) + run[0] - top >= MIN_ROWS:
            regions.append(_cover(s for k in range(top, run[-1] + 1) for s in rows[k]))
        i = done = run[-1] + 1
    return regions


def _tidy(row: list[str]) -> list[str]:
    """Put signs set apart from their figures back on them.

    Text strategy gives a column's leading currency sign to the cell on its left ("Cash $" |
    "4,236" becomes "Cash" | "$4,236"), and a spaced-out percent sign reads as a column of its
    own ("10" | "%" becomes "10%" | "").
    """
    out = [re.sub(r"(?<=\d) +%", "%", c) for c in row]
    for j in range(len(out) - 1):
        m = re.fullmatch(r"(.*?)\s*([$€£¥])", out[j])
        if m and out[j + 1][:1] in "0123456789(":
            out[j], out[j + 1] = m.group(1), m.group(2) + out[j + 1]
        if out[j + 1] == "%" and out[j]:
            out[j], out[j + 1] = out[j] + "%", ""
    return out


def _numeric_columns(grid: Sequence[Sequence[str]]) -> list[list[str]]:
    """Columns after the first whose body cells are mostly figures (with digits)."""
    out: list[list[str]] = []
    for j in range(1, max(len(r) for r in grid)):
        column = [r[j] for r in grid[1:] if j < len(r) and r[j]]
        figures = [c for c in column if is_figure(c) and any(ch.isdigit() for ch in c)]
        if len(figures) >= 2 and len(figures) >= MIN_NUMERIC * len(column):
            out.append(column)
    return out


def _page_numbers(column: Sequence[str]) -> bool:
    """Whole numbers that never decrease: the page column of a table of contents."""
    return all(c.isdigit() for c in column) and all(int(a) <= int(b) for a, b in itertools.pairwise(column))


def is_data_table(grid: Sequence[Sequence[str]]) -> bool:
    """Strict checks on a candidate (first row = header): ``MIN_ROWS`` rows, ``MIN_COLS``
    columns, mostly filled, short cells, rows labelled by text in the first column, and a
    column after the first that holds figures, other than the page numbers of a contents list."""
    ncols = max((len(r) for r in grid), default=0)
    if len(grid) < MIN_ROWS or ncols < MIN_COLS:
        return False
    filled = [c for r in grid for c in r if c]
    if len(filled) < MIN_FILLED * len(grid) * ncols:
        return False
    if sum(len(c.split()) for c in filled) > MAX_WORDS_PER_CELL * len(filled):
        return False
    labels = [r[0] for r in grid[1:] if r and r[0] and not is_figure(r[0])]
    if len(labels) < MIN_LABELLED * (len(grid) - 1):
        return False
    numeric = _numeric_columns(grid)
    return bool(numeric) and not (len(numeric) == 1 and _page_numbers(numeric[0]))


def _merge_labels(grid: list[list[str]]) -> list[list[str]]:
    """One label column out of the leading columns that hold no figure in the body: indented
    labels ("Cash | flows from investing activities:") are cut into several by text strategy."""
    lead = 0
    while lead < len(grid[0]) - 1 and not any(is_figure(r[lead]) for r in grid[1:] if r[lead]):
        lead += 1
    if lead < 2:
        return grid
    return [[" ".join(c for c in r[:lead] if c), *r[lead:]] for r in grid]


def _fit(box: Rect, words: Sequence[Word]) -> Rect:
    """``box`` grown to the words centred in it: text strategy's rows cut through glyph tops."""
    x0, y0, x1, y1 = box
    inside = [w for w in words if x0 <= (w[0] + w[2]) / 2 <= x1 and y0 <= (w[1] + w[3]) / 2 <= y1]
    return _cover([box, *inside])


def _grid(table: Any, words: Sequence[Word]) -> tuple[list[list[str]], list[Rect]]:
    """Cell texts and row boxes of a ``find_tables`` table, empty rows and columns dropped.

    An "external" header is left out: PyMuPDF looks for it above the clip, where the text
    is prose; the candidate region already holds the header rows.
    """
    rows = [([cell_text(c, words) for c in r.cells], _fit(tuple(r.bbox), words)) for r in table.rows]
    ncols = max((len(cells) for cells, _ in rows), default=0)
    rows = [(_tidy(cells + [""] * (ncols - len(cells))), box) for cells, box in rows if any(cells)]
    keep = [j for j in range(ncols) if any(cells[j] for cells, _ in rows)]
    grid = [[cells[j] for j in keep] for cells, _ in rows]
    return (_merge_labels(grid) if grid and keep else grid), [box for _, box in rows]


def chart_marks(drawings: Sequence[dict[str, Any]], region: Rect) -> int:
    """Path items centred in ``region`` that draw data rather than rules: curves, slanted lines,
    and boxes that are neither thin nor as wide as half the region (bars, markers). Tables
    draw only rules and row shading."""
    x0, y0, x1, y1 = region
    marks = 0
    for d in drawings:
        r = d["rect"]
        if not (x0 <= (r.x0 + r.x1) / 2 <= x1 and y0 <= (r.y0 + r.y1) / 2 <= y1):
            continue
        for item in d.get("items", []):
            if item[0] == "l":
                a, b = item[1], item[2]
                marks += abs(a.y - b.y) >= 1 and abs(a.x - b.x) >= 1
            elif item[0] == "re":
                q = item[1]
                marks += min(q.width, q.height) >= 3 and q.width <= (x1 - x0) / 2
            else:
                marks += 1
    return marks


def find_text_tables(page: pymupdf.Page, drawings: Sequence[dict[str, Any]]) -> list[TableRegion]:
    """Unruled tables on ``page`` that pass ``is_data_table`` and hold no chart (``drawings``
    are the page's paths); cell text from the page's words."""
    if len(drawings) > MAX_TABLE_DRAWINGS:  # a page-sized plot: find_tables would take minutes
        return []
    words: list[Word] = [tuple(w[:5]) for w in page.get_text("words")]
    regions: list[TableRegion] = []
    for x0, y0, x1, y1 in candidate_regions(words):
        if chart_marks(drawings, (x0, y0, x1, y1)) > MAX_MARKS:
            continue
        clip = pymupdf.Rect(x0 - 1, y0 - 1, x1 + 1, y1 + 1)
        try:
            found = page.find_tables(clip=clip, strategy="text", use_layout=False)
        except Exception as exc:  # table detection is best effort on odd pages
            log.debug("find_tables(text) failed on page %s: %s", page.number + 1, exc)
            continue
        for table in found.tables:
            grid, boxes = _grid(table, words)
            if is_data_table(grid):
                regions.append(TableRegion(_cover(boxes), grid[0], grid[1:], boxes[0], boxes[1:]))
    return regions
