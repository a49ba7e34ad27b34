"""Small generated PDFs with known facts on known pages, shared by integration tests."""

from __future__ import annotations

from pathlib import Path

import pymupdf

FACTS = {
    1: "The Oslo plant produced 4,200 turbines in 2025. Production rose because the second assembly "
       "line opened in March.",
    2: "Warranty claims fell to 1.3 percent of units shipped. The quality team traced most claims to "
       "gearbox bearings.",
    3: "The replacement part number for the cooling pump is QZ-7781-K. Order it from the Hamburg depot.",
}


def write_report(path: Path, facts: dict[int, str] = FACTS, title: str = "Operations review") -> Path:
    """A PDF with one fact paragraph per page (page numbers are the dict keys, 1-based)."""
    doc = pymupdf.open()
    for page_no in sorted(facts):
        page = doc.new_page(width=595, height=842)
        page.insert_text((72, 72), f"{title} - section {page_no}", fontsize=16)
        page.insert_textbox(pymupdf.Rect(72, 100, 523, 400), facts[page_no], fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    doc.close()
    return path


def write_encrypted(path: Path, password: str = "s3cret") -> Path:
    """A PDF that needs a password to open."""
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Confidential salary table")
    doc.save(str(path), encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=password, owner_pw=password + "o")
    doc.close()
    return path


def write_corrupt(path: Path) -> Path:
    """Bytes that start like a PDF and then are garbage."""
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    return path


def write_pages(path: Path, pages: list[str]) -> Path:
    """A PDF with one line of text per page, in order."""
    doc = pymupdf.open()
    for text in pages:
        doc.new_page().insert_text((72, 72), text)
    doc.save(str(path))
    doc.close()
    return path


def write_chart_scan(path: Path, title: str, bars: dict[str, float]) -> Path:
    """Page 1: prose. Page 2: a bar chart with ``title`` and labelled bars, as one raster image
    (a scan: no text layer on the page)."""
    src = pymupdf.open()
    chart = src.new_page(width=595, height=842)
    chart.insert_text((72, 90), title, fontsize=22)
    top = max(bars.values())
    for i, (label, value) in enumerate(bars.items()):
        x = 100 + i * 120
        height = 400 * value / top
        chart.draw_rect(pymupdf.Rect(x, 600 - height, x + 70, 600), color=(0, 0, 0), fill=(0.3, 0.4, 0.8))
        chart.insert_text((x, 630), label, fontsize=16)
    pix = chart.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
    doc = pymupdf.open()
    doc.new_page(width=595, height=842).insert_textbox(
        pymupdf.Rect(72, 72, 523, 400), "Board minutes. The board approved the budget and the hiring plan.",
        fontsize=11)
    page = doc.new_page(width=595, height=842)
    page.insert_image(page.rect, stream=pix.tobytes("png"))
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    doc.close()
    src.close()
    return path
