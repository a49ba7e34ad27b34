"""Generated test PDFs: pages of plain text in a given PyMuPDF base font (``helv``; ``korea``
for Hangul), one line per 60 characters because ``insert_text`` does not wrap."""

from __future__ import annotations

from pathlib import Path

import pymupdf


def write_pages(path: Path, pages: dict[int, str], font: str) -> Path:
    """A PDF at ``path`` with one A4 page per entry of ``pages`` (in page-number order)."""
    doc = pymupdf.open()
    for no in sorted(pages):
        page = doc.new_page(width=595, height=842)
        for row, start in enumerate(range(0, len(pages[no]), 60)):
            page.insert_text((72, 90 + 16 * row), pages[no][start:start + 60], fontname=font, fontsize=11)
    doc.save(str(path))
    doc.close()
    return path
