"""Layout on generated PDFs: reading order, headers/footers, headings, de-hyphenation."""

from __future__ import annotations

from pathlib import Path

from ingest.config import IngestConfig
from ingest.layout import Block, Line, assign_sections, join_lines
from ingest.parse import parse_file
from ingest.records import TextChunk

from .builders import info_of, report_pdf, two_column_pdf


def _texts(path: Path, cfg: IngestConfig, media: Path) -> list[TextChunk]:
    return [i for i in parse_file(info_of(path), cfg, media).items if isinstance(i, TextChunk)]


def test_two_columns_read_left_then_right(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    left = ["Left alpha paragraph opens the first column.", "Left beta paragraph closes the first column."]
    right = ["Right gamma paragraph opens the second column.", "Right delta paragraph ends the page."]
    chunks = _texts(two_column_pdf(tmp_path / "cols.pdf", left, right), cfg, media)
    text = "\n".join(c.text for c in chunks)
    marks = ("Quarterly review", "Left alpha", "Left beta", "Right gamma", "Right delta")
    order = [text.index(w) for w in marks]
    assert order == sorted(order)


def test_headers_and_footers_are_removed(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    chunks = _texts(report_pdf(tmp_path / "r.pdf"), cfg, media)
    text = "\n".join(c.text for c in chunks)
    assert "Confidential" not in text
    assert "of 5" not in text
    assert "Costs fell slightly" in text


def test_headings_become_sections(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    chunks = _texts(report_pdf(tmp_path / "r.pdf", pages=3), cfg, media)
    by_page = {c.page: c for c in chunks if "measured" in c.text}
    assert by_page[2].section == ["Chapter 2 Results"]
    assert by_page[2].text.startswith("Chapter 2 Results\n")


def test_dehyphenation() -> None:
    assert join_lines(["the inter-", "national team"]) == "the international team"
    assert join_lines(["a well-", "Known brand"]) == "a well- Known brand"
    assert join_lines(["no hyphen", "here"]) == "no hyphen here"


def test_pdf_text_is_dehyphenated(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    # report_pdf writes "inter-national" on one line: a real hyphen inside a line stays.
    chunks = _texts(report_pdf(tmp_path / "r.pdf", pages=1), cfg, media)
    assert "inter-national" in chunks[-1].text


def _block(text: str, y: float, size: float, bold: bool = False) -> Block:
    return Block(lines=[Line(text=text, bbox=(72, y, 400, y + size * 1.2), size=size, bold=bold)])


def test_wrapped_title_is_one_heading_and_levels_nest() -> None:
    page = [
        _block("A very long document title that", 60, 20),
        _block("wraps onto a second block", 84, 20),
        _block("Methods", 130, 14),
        _block("Body text of the methods section, long enough to be body.", 150, 10),
        _block("Sampling", 180, 10, bold=True),
        _block("We sampled forty sites across the region in spring.", 195, 10),
    ]
    assign_sections([page])
    title = "A very long document title that wraps onto a second block"
    assert page[0].section == page[1].section == (title,)
    assert page[3].section == (title, "Methods")
    assert page[5].section == (title, "Methods", "Sampling")
