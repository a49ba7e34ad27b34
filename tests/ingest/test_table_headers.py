"""Which row names a table's columns: a heading above a ruled table is not its header; a key/value
table has no header row. On generated PDFs through the real parser, and on the helpers."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from ingest.config import IngestConfig
from ingest.parse import parse_file
from ingest.records import Table
from ingest.table_headers import first_row_is_data, is_key_value, names_columns, split_header

from .builders import info_of, save

HOTELS = [["City", "Hotel per night", "Per diem"], ["New York", "250 USD", "75 USD"],
          ["London", "250 USD", "75 USD"], ["Other cities", "180 USD", "60 USD"]]
MINUTES = [["일시", "2025년 3월 12일(수) 14:00 ~ 16:00"], ["장소", "본사 12층 대회의실"],
           ["참석자", "박서연 대표이사, 김도윤 상무, 이하은 팀장, 정민재 책임"], ["작성자", "최유진 선임"]]


def ruled_table_pdf(path: Path, rows: list[list[str]], widths: list[float], heading: str = "") -> Path:
    """One page with ``heading`` set right above a ruled table (as a numbered section title
    usually is), cells in PyMuPDF's CJK font so Hangul renders."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    top = 102.0
    if heading:
        page.insert_text((60, top - 6), heading, fontsize=13, fontname="korea")
    for r, row in enumerate(rows):
        x = 60.0
        for c, cell in enumerate(row):
            rect = pymupdf.Rect(x, top + r * 22, x + widths[c], top + (r + 1) * 22)
            page.draw_rect(rect, color=(0, 0, 0), width=0.6)
            page.insert_text((rect.x0 + 5, rect.y0 + 15), cell, fontsize=9.5, fontname="korea")
            x += widths[c]
    page.insert_text((60, 400), "Travel must be approved by the department head before departure.",
                     fontsize=10.5, fontname="korea")
    return save(doc, path)


def _tables(path: Path, cfg: IngestConfig, media: Path) -> tuple[list[Table], str]:
    items = parse_file(info_of(path), cfg, media).items
    prose = "\n".join(i.text for i in items if i.kind == "text")
    return [i for i in items if isinstance(i, Table)], prose


@pytest.mark.parametrize("heading", ["1. Hotel and per diem limits", "1. Hotel limits"])
def test_a_heading_right_above_a_ruled_table_is_not_its_header_row(tmp_path: Path, cfg: IngestConfig,
                                                                   media: Path, heading: str) -> None:
    # PyMuPDF takes the heading for an "external" header row: the long one's words fall in two
    # columns' cells, the short one fits in the first cell.
    path = ruled_table_pdf(tmp_path / "policy.pdf", HOTELS, [220, 150, 120], heading)
    (table,), prose = _tables(path, cfg, media)
    lines = [ln for ln in table.text.splitlines() if ln.startswith("|")]
    assert lines[0] == "| City | Hotel per night | Per diem |"  # the real column names
    assert "| New York | 250 USD | 75 USD |" in lines
    assert "1. Hotel" not in "\n".join(lines)  # no cell holds the heading
    assert table.text.startswith(f"{heading}\n\n")  # it is the table's title (issue 18)
    assert heading in prose  # the heading stays a heading of the text


def test_a_key_value_table_has_no_header_row(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    path = ruled_table_pdf(tmp_path / "minutes.pdf", MINUTES, [90, 330])
    (table,), _ = _tables(path, cfg, media)
    lines = table.text.splitlines()
    assert lines[:3] == ["|  |  |", "|---|---|", "| 일시 | 2025년 3월 12일(수) 14:00 ~ 16:00 |"]
    assert "| 참석자 | 박서연 대표이사, 김도윤 상무, 이하은 팀장, 정민재 책임 |" in lines


def test_named_columns_of_a_key_value_table_stay_its_header(tmp_path: Path, cfg: IngestConfig,
                                                             media: Path) -> None:
    path = ruled_table_pdf(tmp_path / "minutes.pdf", [["항목", "내용"], *MINUTES], [90, 330])
    (table,), _ = _tables(path, cfg, media)
    assert table.text.splitlines()[:3] == ["| 항목 | 내용 |", "|---|---|",
                                           "| 일시 | 2025년 3월 12일(수) 14:00 ~ 16:00 |"]


@pytest.mark.parametrize(("grid", "kv", "data"), [
    (MINUTES, True, True),
    ([["항목", "내용"], *MINUTES], True, False),
    ([["Date", "12 March 2025"], ["Place", "Board room, floor 12"], ["Chair", "J. Park"]], True, True),
    # Figures on the right: the column name says what they measure.
    ([["Region", "Revenue"], ["Europe", "146.2"], ["Asia", "107.6"]], False, False),
    ([["Year", "Revenue"], ["2024", "10.1 M"], ["2025", "12.5 M"]], False, False),
    (HOTELS, False, False),
])
def test_key_value_tables_and_their_first_row(grid: list[list[str]], kv: bool, data: bool) -> None:
    assert is_key_value(grid[0], grid[1:]) is kv
    assert first_row_is_data(grid[0], grid[1:]) is data
    header, rows = split_header(grid)
    assert (header, rows) == ((["", ""], grid) if data else (grid[0], grid[1:]))


def test_text_above_a_table_names_columns_only_when_it_fills_them() -> None:
    assert not names_columns(["1. Hotel and per diem limits", "", ""], HOTELS[0])
    assert names_columns(["City", "Hotel", "Per diem"], HOTELS[1])
    assert names_columns(["", "2024", "2025"], ["Europe", "132.0", "146.2"])
