"""Tables without ruling lines: found on generated pages, kept out of prose and chart labels."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from ingest import text_tables
from ingest.config import IngestConfig
from ingest.parse import parse_file
from ingest.records import Table

from .builders import info_of, two_column_pdf, unruled_table_pdf

ROWS = [("Region", "2024", "2023", "Change"), ("Americas", "10,251", "8,996", "14%"),
        ("Europe", "4,593", "4,252", "8%"), ("Asia Pacific", "2,762", "2,537", "(9)%"),
        ("Total revenue", "17,606", "15,785", "12%")]


def test_unruled_table_markdown_cells_page_bbox(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    path, (x0, y0, x1, y1) = unruled_table_pdf(tmp_path / "t.pdf", ROWS)
    items = parse_file(info_of(path), cfg, media).items
    (table,) = [i for i in items if isinstance(i, Table)]
    assert table.page == 1
    assert table.caption == "Table 2: Revenue by region"
    assert table.text.split("\n")[2:] == [
        "| Region | 2024 | 2023 | Change |",
        "|---|---|---|---|",
        "| Americas | 10,251 | 8,996 | 14% |",
        "| Europe | 4,593 | 4,252 | 8% |",
        "| Asia Pacific | 2,762 | 2,537 | (9)% |",
        "| Total revenue | 17,606 | 15,785 | 12% |",
    ]
    assert table.bbox is not None
    b = table.bbox
    assert b.x0 <= x0 + 1 and b.y0 <= y0 + 1 and b.x1 >= x1 - 1 and b.y1 >= y1 - 1  # covers the cells
    assert b.x0 >= x0 - 6 and b.y0 >= y0 - 6 and b.x1 <= x1 + 6 and b.y1 <= y1 + 6  # and no more
    prose = " ".join(i.text for i in items if i.kind == "text")
    assert "Revenue grew in every region" in prose and "Currency effects" in prose
    assert "15,785" not in prose  # cells live in the table, not repeated as prose


def test_lines_strategy_leaves_unruled_tables_as_prose(tmp_path: Path, media: Path) -> None:
    path, _ = unruled_table_pdf(tmp_path / "t.pdf", ROWS)
    cfg = IngestConfig(ocr="none", render_pages=False, table_strategy="lines")
    items = parse_file(info_of(path), cfg, media).items
    assert not [i for i in items if isinstance(i, Table)]
    assert "15,785" in " ".join(i.text for i in items if i.kind == "text")


def test_two_column_prose_is_not_a_table(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    # Lines that end in figures side by side across the gutter, as in a report's review pages.
    left = [f"Revenue in region {n} rose to 4,{n}93 million from 4,2{n}2 million, up 8% on the year "
            f"before, and margins held at 31.{n}%. Costs grew by 2.{n}% as volumes rose." for n in range(1, 7)]
    right = [f"Headcount in region {n} reached 1,{n}40 at year end against 1,2{n}5 a year before; "
             f"attrition fell to 7.{n}% and hiring rose 12%." for n in range(1, 7)]
    path = two_column_pdf(tmp_path / "prose.pdf", left, right)
    items = parse_file(info_of(path), cfg, media).items
    assert not [i for i in items if isinstance(i, Table)]
    assert len([i for i in items if i.kind == "text"]) >= 2


@pytest.mark.parametrize(("text", "figure"), [
    ("1,234", True), ("(31)", True), ("$4,236", True), ("$(112)", True), ("12%", True), ("—", True),
    ("N/A", True), ("56.6", True), ("2022-2021", False), ("Q3", False), ("in 2022", False), ("Total", False),
])
def test_is_figure(text: str, figure: bool) -> None:
    assert text_tables.is_figure(text) is figure


SENTENCE = "Revenue rose in every region we serve this year as volumes grew, prices held and costs fell back"


@pytest.mark.parametrize(("grid", "table"), [
    pytest.param([["Item", "2024", "2023"], ["Cash", "$4,236", "$3,844"], ["Debt", "500", "—"]], True, id="table"),
    pytest.param([["Item", "2024"], ["Cash", "4,236"]], False, id="two-rows"),
    pytest.param([["Method", "Acc"], ["90", "80"], ["70", "60"], ["50", "40"]], False, id="axis-ticks-no-labels"),
    pytest.param([["Contents", ""], ["Business", "3"], ["Risk factors", "20"], ["Properties", "34"]], False,
                 id="contents-page-numbers"),
    pytest.param([["Note", "Amount"], [SENTENCE, "14"], [SENTENCE, "12"]], False, id="prose-cells"),
    pytest.param([["Item", "A", "", "", ""]] + [[f"Row {k}", str(9 - 2 * k), "", "", ""] for k in range(4)], False,
                 id="mostly-empty"),
    pytest.param([["Item", "Note"], ["Cash", "see below"], ["Debt", "none"], ["Other", "n/a"]], False,
                 id="no-figures"),
])
def test_strict_checks(grid: list[list[str]], table: bool) -> None:
    assert text_tables.is_data_table(grid) is table


def test_chart_tick_labels_are_not_a_table(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Accuracy rose with model size in every series, as the chart shows.")
    for k, label in enumerate(["Small", "Medium", "Large", "Huge"]):  # labelled rows of ticks
        y = 120 + k * 16
        page.insert_text((80, y), label, fontsize=9)
        for n in range(4):
            page.insert_text((200 + n * 70, y), f"{(k + 1) * (n + 2) * 5}", fontsize=9)
    for n in range(12):  # the plotted series over the labels: slanted lines and markers
        page.draw_line((200 + n * 20, 165 - n * 4), (220 + n * 20, 161 - n * 4))
        page.draw_circle((220 + n * 20, 161 - n * 4), 2, fill=(0, 0, 0))
    doc.save(tmp_path / "chart.pdf")
    items = parse_file(info_of(tmp_path / "chart.pdf"), cfg, media).items
    assert not [i for i in items if isinstance(i, Table)]
