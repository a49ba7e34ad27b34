"""Header/footer removal never takes a page's only text (issue: 20 pages of one line near the top
margin lost all their text, were all OCR'd, and the file was ingested with 0 text chunks)."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from ingest.config import IngestConfig
from ingest.parse import parse_file
from ingest.records import TextChunk

from .builders import info_of, needs_tesseract, report_pdf, save, scanned_pdf


def _log_pdf(path: Path, pages: int = 20) -> Path:
    """Every page holds one line, at the same height in the top margin: "Page i: ... ITEM-0000i ..."."""
    doc = pymupdf.open()
    for i in range(1, pages + 1):
        doc.new_page().insert_text((72, 40), f"Page {i}: inspection log ITEM-0000{i} valve checked and sealed",
                                   fontsize=10)
    return save(doc, path)


def test_a_pages_only_line_is_not_a_header(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    items = parse_file(info_of(_log_pdf(tmp_path / "log.pdf")), cfg, media).items
    text = " ".join(i.text for i in items if isinstance(i, TextChunk))
    for i in range(1, 21):
        assert f"ITEM-0000{i} " in text, i
    assert sorted({i.page for i in items if isinstance(i, TextChunk)}) == list(range(1, 21))


@needs_tesseract
def test_text_only_pages_are_not_ocrd(tmp_path: Path, media: Path) -> None:
    # A page whose text layer reads and that shows nothing else has nothing more to give to OCR.
    cfg = IngestConfig(ocr="tesseract", render_pages=False)
    parsed = parse_file(info_of(_log_pdf(tmp_path / "log.pdf")), cfg, media)
    assert parsed.seconds.get("ocr", 0.0) == 0.0
    assert len([i for i in parsed.items if isinstance(i, TextChunk)]) >= 20


def test_real_headers_still_go(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    items = parse_file(info_of(report_pdf(tmp_path / "r.pdf", pages=5)), cfg, media).items
    text = " ".join(i.text for i in items if isinstance(i, TextChunk))
    assert "Globex Confidential" not in text and "Page 3 of 5" not in text
    assert "chapter 3" in text


@needs_tesseract
def test_scans_with_a_typed_header_are_still_ocrd(tmp_path: Path, media: Path) -> None:
    doc = pymupdf.open()
    for i in range(3):
        src, _ = scanned_pdf(tmp_path / f"s{i}.pdf", f"Scanned minutes of meeting number {i + 1} about pumps.")
        doc.insert_pdf(pymupdf.open(src))
        doc[-1].insert_text((72, 30), "ACME Corporation internal correspondence archive copy", fontsize=9)
    path = save(doc, tmp_path / "scans.pdf")
    cfg = IngestConfig(ocr="tesseract", render_pages=False, ocr_dpi=150)
    items = parse_file(info_of(path), cfg, media).items
    text = " ".join(i.text for i in items if isinstance(i, TextChunk)).lower()
    assert "meeting number 2" in text and "archive copy" not in text
