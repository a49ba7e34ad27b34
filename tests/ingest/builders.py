"""Small PDFs built with PyMuPDF for the ingest tests (each a few milliseconds to make)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw

from ingest.discover import sha256_file
from ingest.records import FileInfo

W, H = 612, 792


def text_box(page: pymupdf.Page, rect: tuple[float, float, float, float], text: str, size: float = 10,
             font: str = "helv") -> None:
    """Write ``text`` from the top of ``rect``, growing it downwards until the text fits."""
    r = pymupdf.Rect(rect)
    while page.insert_textbox(r, text, fontsize=size, fontname=font) < 0:
        r.y1 += size
        assert r.y1 < H, text[:40]


def save(doc: pymupdf.Document, path: Path, **kw: object) -> Path:
    """Save deterministically."""
    doc.save(path, garbage=3, deflate=True, no_new_id=True, **kw)
    return path


def photo_png(w: int = 200, h: int = 150, seed: int = 0) -> bytes:
    """A colourful synthetic photo (PNG)."""
    img = Image.new("RGB", (w, h), (20 + seed * 40 % 200, 90, 160))
    draw = ImageDraw.Draw(img)
    for i in range(0, w, 10):
        draw.line([(i, 0), (w - i, h)], fill=(255 - i % 255, (i * 3) % 255, 80), width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def table_pdf(path: Path, rows: list[tuple[str, ...]], caption: str = "Table 3: Unit sales by quarter",
              top: float = 150.0) -> tuple[Path, tuple[float, float, float, float]]:
    """One page with a caption and a ruled table; returns the path and the table's box."""
    doc = pymupdf.open()
    page = doc.new_page(width=W, height=H)
    text_box(page, (72, 72, 540, 120), "The table below lists unit sales. Figures are in thousands.")
    text_box(page, (72, top - 24, 540, top - 4), caption, size=9)
    col_w, row_h = 110.0, 20.0
    ncols = len(rows[0])
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_text((72 + c * col_w + 5, top + r * row_h + 14), cell, fontsize=9, fontname="helv")
    x1, y1 = 72 + ncols * col_w, top + len(rows) * row_h
    for r in range(len(rows) + 1):
        page.draw_line((72, top + r * row_h), (x1, top + r * row_h), width=0.7)
    for c in range(ncols + 1):
        page.draw_line((72 + c * col_w, top), (72 + c * col_w, y1), width=0.7)
    return save(doc, path), (72.0, top, x1, y1)


def unruled_table_pdf(path: Path, rows: list[tuple[str, ...]], top: float = 150.0,
                      caption: str = "Table 2: Revenue by region") -> tuple[Path, tuple[float, float, float, float]]:
    """One page with prose, a caption and a table set in aligned columns without any rule:
    labels left-aligned, figures right-aligned as in financial statements. Returns the path
    and the box of the table's words."""
    doc = pymupdf.open()
    page = doc.new_page(width=W, height=H)
    text_box(page, (72, 72, 540, 110), "Revenue grew in every region. The table below gives the totals in millions.")
    text_box(page, (72, top - 24, 540, top - 6), caption, size=9)
    for r, row in enumerate(rows):
        y = top + r * 16 + 9
        page.insert_text((72, y), row[0], fontsize=9, fontname="helv")
        for c, cell in enumerate(row[1:], start=1):
            right = 260 + c * 80
            page.insert_text((right - pymupdf.get_text_length(cell, "helv", 9), y), cell, fontsize=9, fontname="helv")
    text_box(page, (72, top + len(rows) * 16 + 20, 540, top + len(rows) * 16 + 60),
             "Totals include acquisitions made during the year. Currency effects were small.")
    words = [w for w in page.get_text("words") if top - 2 <= w[1] <= top + len(rows) * 16]
    box = (min(w[0] for w in words), min(w[1] for w in words), max(w[2] for w in words), max(w[3] for w in words))
    return save(doc, path), box


def bar_chart_pdf(path: Path) -> tuple[Path, tuple[float, float, float, float]]:
    """A vector bar chart (axes, four bars, labels) with a caption; returns its drawn box."""
    doc = pymupdf.open()
    page = doc.new_page(width=W, height=H)
    text_box(page, (72, 72, 540, 110), "Sales grew in every quarter of the year, as the chart shows.")
    x0, base = 120.0, 420.0
    page.draw_line((x0, 200), (x0, base))
    page.draw_line((x0, base), (x0 + 320, base))
    for i, h in enumerate([80, 120, 150, 190]):
        left = x0 + 20 + i * 75
        bar = pymupdf.Rect(left, base - h, left + 50, base)
        page.draw_rect(bar, color=None, fill=(0.2, 0.3 + i * 0.1, 0.7))
        page.insert_text((left + 12, base + 14), f"Q{i + 1}", fontsize=8)
    text_box(page, (120, base + 26, 480, base + 44), "Figure 4: Quarterly sales in 2025", size=9)
    return save(doc, path), (x0, 200.0, x0 + 320, base)


def photo_pdf(path: Path, pages: int = 3) -> Path:
    """The same photo on every page (a logo-like repeat) plus a different one on page 1 and
    a tiny icon that must be ignored."""
    doc = pymupdf.open()
    same = photo_png(seed=1)
    for i in range(pages):
        page = doc.new_page(width=W, height=H)
        text_box(page, (72, 72, 540, 110), f"Page {i + 1} shows our plant and its surroundings in detail.")
        page.insert_image(pymupdf.Rect(72, 150, 272, 300), stream=same)
        page.insert_image(pymupdf.Rect(500, 40, 516, 56), stream=photo_png(16, 16, seed=3))
        if i == 0:
            page.insert_image(pymupdf.Rect(300, 150, 500, 300), stream=photo_png(seed=2))
            text_box(page, (300, 306, 540, 320), "Figure 1: The new plant", size=9)
    return save(doc, path)


def scanned_pdf(path: Path, text: str, rotation: int = 0) -> tuple[Path, tuple[float, float, float, float]]:
    """A page that is only an image of ``text`` (no text layer), shown upright with ``/Rotate
    rotation``; returns the path and the box of the drawn words in page (unrotated) points."""
    displayed = (W, H) if rotation % 180 == 0 else (H, W)
    src = pymupdf.open()
    sp = src.new_page(width=displayed[0], height=displayed[1])
    text_box(sp, (72, 100, 540, 400), text, size=14)
    words = sp.get_text("words")
    drawn = pymupdf.Rect(min(w[0] for w in words), min(w[1] for w in words),
                         max(w[2] for w in words), max(w[3] for w in words))
    pix = sp.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
    doc = pymupdf.open()
    page = doc.new_page(width=W, height=H)
    page.set_rotation(rotation)
    # Turned with the page, so that the displayed page reads upright, as a rotated scan does.
    page.insert_image(pymupdf.Rect(0, 0, W, H), stream=pix.tobytes("png"), rotate=rotation)
    box = drawn * page.derotation_matrix
    return save(doc, path), (box.x0, box.y0, box.x1, box.y1)


def two_column_pdf(path: Path, left: list[str], right: list[str], title: str = "Quarterly review") -> Path:
    """A full-width title over two columns of paragraphs."""
    doc = pymupdf.open()
    page = doc.new_page(width=W, height=H)
    text_box(page, (72, 60, 540, 90), title, size=18, font="hebo")
    for texts, x0, x1 in ((left, 72, 290), (right, 322, 540)):
        y = 110.0
        for t in texts:
            text_box(page, (x0, y, x1, y + 70), t)
            y += 80
    return save(doc, path)


def report_pdf(path: Path, pages: int = 5) -> Path:
    """Pages with a running header, a numbered footer, a heading and prose."""
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=W, height=H)
        page.insert_text((72, 40), "Globex Confidential - Internal Use Only", fontsize=8)
        page.insert_text((280, 760), f"Page {i + 1} of {pages}", fontsize=8)
        text_box(page, (72, 80, 540, 110), f"Chapter {i + 1} Results", size=16, font="hebo")
        text_box(page, (72, 120, 540, 300), (
            f"In chapter {i + 1} the inter-national team measured output. The results were stable. "
            "Costs fell slightly while quality improved across all sites."
        ))
    return save(doc, path)


needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")


def info_of(path: Path) -> FileInfo:
    """A FileInfo as discovery would make it."""
    st = path.stat()
    return FileInfo(path=str(path.resolve()), size=st.st_size, mtime=st.st_mtime, sha256=sha256_file(path))
