"""A table carries its title (the statement name above it) in every part, without dot leaders;
a page item carries its tables' text (issue 18: one statement page among hundreds of similar ones)."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from ingest.chunk import PAGE_ITEM_CHARS, page_item_text, strip_leaders
from ingest.config import IngestConfig
from ingest.layout import Block, Line
from ingest.parse import parse_file
from ingest.tables import title_above

from .builders import info_of, save

ROWS = [["Item", "2015", "2014"], *[[f"Line item {i} ........................", f"{i},100", f"{i},050"]
                                    for i in range(1, 41)]]


def statement_pdf(path: Path) -> Path:
    """A filing's statement page: company and statement name over a long ruled table."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((200, 50), "ADOBE SYSTEMS INCORPORATED", fontsize=10)
    page.insert_text((180, 64), "CONSOLIDATED STATEMENTS OF CASH FLOWS", fontsize=10)
    top = 90.0
    for r, row in enumerate(ROWS):
        x = 60.0
        for c, cell in enumerate(row):
            w = 260 if c == 0 else 100
            rect = pymupdf.Rect(x, top + r * 17, x + w, top + (r + 1) * 17)
            page.draw_rect(rect, color=(0, 0, 0), width=0.5)
            page.insert_text((rect.x0 + 3, rect.y0 + 12), cell, fontsize=8)
            x += w
    return save(doc, path)


def test_every_part_of_a_split_statement_carries_its_title(tmp_path: Path, media: Path) -> None:
    cfg = IngestConfig(ocr="none", render_pages=True, page_dpi=18, chunk_tokens=120)
    items = parse_file(info_of(statement_pdf(tmp_path / "10k.pdf")), cfg, media).items
    tables = [i for i in items if i.kind == "table"]
    assert len(tables) >= 2  # split by rows
    title = "ADOBE SYSTEMS INCORPORATED CONSOLIDATED STATEMENTS OF CASH FLOWS"  # one block here
    assert all(t.text.startswith(title + "\n\n") for t in tables)
    assert all("...." not in t.text for t in tables)
    assert "| Line item 7 | 7,100 | 7,050 |" in "\n".join(t.text for t in tables)
    (page,) = [i for i in items if i.kind == "page"]
    # the page item holds the statement's rows once (not the prose alone: there is none)
    assert page.text.count("CONSOLIDATED STATEMENTS OF CASH FLOWS") == 1
    assert "Line item 40 40,100 40,050" in page.text and page.text.count("Item 2015 2014") == 1


def test_prose_mode_keeps_the_page_item_as_before(tmp_path: Path, media: Path) -> None:
    cfg = IngestConfig(ocr="none", render_pages=True, page_dpi=18, page_item_text="prose")
    items = parse_file(info_of(statement_pdf(tmp_path / "10k.pdf")), cfg, media).items
    (page,) = [i for i in items if i.kind == "page"]
    assert "Line item 7" not in page.text


def _block(text: str, y: float, x0: float = 72, x1: float = 400) -> Block:
    return Block(lines=[Line(text=text, bbox=(x0, y, x1, y + 10), size=9, bold=False)])


def test_title_above_stacks_short_lines_and_skips_sentences_and_figures() -> None:
    box = (72.0, 200.0, 400.0, 400.0)
    blocks = [_block("Acme Corp.", 150), _block("BALANCE SHEETS", 165), _block("(In millions)", 180)]
    assert title_above(blocks, box) == "Acme Corp. / BALANCE SHEETS / (In millions)"
    assert title_above([_block("This paragraph ends like a sentence.", 180)], box) == ""
    assert title_above([_block("1,234 5,678", 180)], box) == ""
    assert title_above([_block("Far away heading", 20)], box) == ""
    # a long row right above the table: the short lines at the top of the page are the title
    long = _block("Cash flows from operating activities: Net income adjusted by all of the items "
                  "below to reconcile it with the cash provided by operations in each year", 185)
    assert title_above([_block("ACME", 40), _block("CASH FLOWS", 52), long], box) == "ACME / CASH FLOWS"


def test_page_item_text_and_leaders() -> None:
    assert strip_leaders("Net income ............ $ 629") == "Net income $ 629"
    assert strip_leaders("v2.1 and e.g. stay") == "v2.1 and e.g. stay"
    md = "T / X\n\n| a | b |\n|---|---|\n| Revenue | 1,234 |"
    two = page_item_text("Intro", [md, md.replace("Revenue", "Cost")])
    assert two == "Intro\nT / X\na b\nRevenue 1,234\nCost 1,234"
    assert page_item_text("Intro", [md], "prose") == "Intro"
    assert len(page_item_text("x" * 9000, [])) == PAGE_ITEM_CHARS
