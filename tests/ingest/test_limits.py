"""Resource limits and per-page isolation: oversized pages, images and zip members cost neither
the file nor gigabytes; every hit names the file, the page and the limit."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.parse import parse_file
from ingest.records import PageImage, TextChunk

from .builders import info_of, needs_tesseract, photo_png, save, text_box


def _three_pages_huge_middle(path: Path) -> Path:
    doc = pymupdf.open()
    for i, side in enumerate(((612, 792), (14400, 14400), (612, 792))):
        page = doc.new_page(width=side[0], height=side[1])
        if i != 1:
            text_box(page, (72, 80, 540, 200), f"Page {i + 1} reports the pump inspection of depot {i + 1}.")
    return save(doc, path)


@needs_tesseract
def test_huge_blank_middle_page_becomes_a_page_warning(tmp_path: Path, media: Path) -> None:
    # Today the OCR render of page 2 (1.6 billion pixels at 200 dpi) runs outside the per-page
    # guard and fails the whole file: "Overly large image".
    path = _three_pages_huge_middle(tmp_path / "three.pdf")
    cfg = IngestConfig(ocr="tesseract", render_pages=True, page_dpi=96)
    parsed = parse_file(info_of(path), cfg, media)
    assert sorted({i.page for i in parsed.items if isinstance(i, TextChunk)}) == [1, 3]
    assert "depot 3" in " ".join(i.text for i in parsed.items if isinstance(i, TextChunk))
    on_page_2 = [w for w in parsed.warnings if w.page == 2]
    assert on_page_2 and all("ingest.max_render_pixels = 40,000,000" in w.detail for w in on_page_2)
    assert any("OCR render skipped" in w.detail for w in on_page_2)
    pages = {i.page: i for i in parsed.items if isinstance(i, PageImage)}
    assert pages[2].width * pages[2].height <= cfg.max_render_pixels  # rendered smaller, not dropped


@needs_tesseract
def test_a_page_whose_ocr_fails_is_a_warning_not_a_lost_file(tmp_path: Path, media: Path) -> None:
    # With the limit raised past what MuPDF renders, the OCR render itself fails: the per-page
    # guard, not the limit, must keep the file.
    path = _three_pages_huge_middle(tmp_path / "three.pdf")
    cfg = IngestConfig(ocr="tesseract", render_pages=False, max_render_pixels=2_000_000_000)
    parsed = parse_file(info_of(path), cfg, media)
    assert sorted({i.page for i in parsed.items}) == [1, 3]
    (warning,) = parsed.warnings
    assert (warning.page, warning.reason) == (2, "OCR failed") and "Overly large image" in warning.detail


@needs_tesseract
def test_large_page_renders_within_the_pixel_limit(tmp_path: Path, media: Path) -> None:
    # The 868-byte PDF that cost 1.37 GB: one 5000 pt page, rendered for OCR at 200 dpi (193 Mpx).
    doc = pymupdf.open()
    doc.new_page(width=5000, height=5000).insert_text((100, 100), "Site plan", fontsize=40)
    path = save(doc, tmp_path / "plan.pdf")
    assert path.stat().st_size < 2000
    cfg = IngestConfig(ocr="tesseract", render_pages=True, max_render_pixels=2_000_000)
    parsed = parse_file(info_of(path), cfg, media)
    (page,) = [i for i in parsed.items if isinstance(i, PageImage)]
    assert page.width * page.height <= 2_000_000
    details = [w.detail for w in parsed.warnings if w.page == 1 and w.reason == "render limited"]
    assert any(d.startswith("page render at 20 dpi instead of 96") for d in details), details
    assert all("ingest.max_render_pixels = 2,000,000" in d for d in details)


def test_limit_plan_shrinks_then_skips() -> None:
    from ingest import limits

    assert limits.plan_render(612, 792, 96, 40_000_000, what="page render").dpi == 96
    shrunk = limits.plan_render(14400, 14400, 96, 40_000_000, what="page render")
    assert shrunk.dpi == 31 and "14,400×14,400 pt at 96 dpi" in shrunk.note
    skipped = limits.plan_render(14400, 14400, 200, 40_000_000, what="OCR render", min_dpi=72)
    assert skipped.dpi is None and skipped.note.startswith("OCR render skipped")


def test_oversized_png_is_refused_before_decoding(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    # 20000×20000 pixels in ~76 KB: today MuPDF decodes it (1.2 GB for RGB) before failing.
    path = tmp_path / "huge.png"
    Image.new("1", (20000, 20000), 1).save(path, optimize=True)
    assert path.stat().st_size < 200_000
    with pytest.raises(IngestError) as exc:
        parse_file(info_of(path), cfg, media)
    assert exc.value.reason == "image too large"
    assert "400,000,000 pixels > ingest.max_image_pixels = 100,000,000" in exc.value.detail
    assert str(path.resolve()) in str(exc.value)


def test_multipage_tiff_counts_every_frame(tmp_path: Path, media: Path) -> None:
    path = tmp_path / "scans.tiff"
    frames = [Image.new("L", (1000, 1000), 255) for _ in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(IngestError) as exc:
        parse_file(info_of(path), IngestConfig(ocr="none", max_image_pixels=2_500_000), media)
    assert "3,000,000 pixels > ingest.max_image_pixels = 2,500,000" in exc.value.detail


def test_page_with_an_oversized_embedded_image_keeps_its_text(tmp_path: Path, media: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    text_box(page, (72, 72, 540, 120), "The site photograph below was taken from the north tower.")
    page.insert_image(pymupdf.Rect(72, 150, 472, 450), stream=photo_png(1200, 900))
    path = save(doc, tmp_path / "photo.pdf")
    cfg = IngestConfig(ocr="tesseract", render_pages=True, max_image_pixels=1_000_000)
    parsed = parse_file(info_of(path), cfg, media)
    assert [i.kind for i in parsed.items] == ["text"]  # no page render, no figure: both decode the image
    (warning,) = parsed.warnings
    assert warning.page == 1 and warning.reason == "image too large"
    assert "1200×900 = 1,080,000 pixels > ingest.max_image_pixels = 1,000,000" in warning.detail


def _docx_with(tmp_path: Path, name: str, member: str, data: bytes,
               compression: int = zipfile.ZIP_DEFLATED) -> Path:
    docx = pytest.importorskip("docx")
    base = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Pump maintenance schedule for the north depot.")
    document.save(base)
    path = tmp_path / name
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info.filename) if info.filename != member else data)
        if member not in src.namelist():
            out.writestr(zipfile.ZipInfo(member), data, compress_type=compression)
    return path


def test_docx_bomb_member_is_refused_from_the_central_directory(tmp_path: Path, cfg: IngestConfig,
                                                                 media: Path) -> None:
    path = _docx_with(tmp_path, "bomb.docx", "word/media/image1.png", bytes(50 * 2**20))
    assert path.stat().st_size < 200_000
    with pytest.raises(IngestError) as exc:
        parse_file(info_of(path), cfg, media)
    assert exc.value.reason == "compression ratio too high"
    assert "member word/media/image1.png" in exc.value.detail
    assert "ingest.max_zip_ratio = 100" in exc.value.detail


def test_docx_of_repeated_paragraphs_is_refused(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    # 62 KB holding 20 MB of paragraphs took python-docx 209 s; the ratio gives it away at once.
    para = "<w:p><w:r><w:t>The same sentence about pumps, repeated again and again.</w:t></w:r></w:p>"
    body = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            + para * 40_000 + "</w:body></w:document>")
    path = _docx_with(tmp_path, "paragraphs.docx", "word/document.xml", body.encode())
    with pytest.raises(IngestError) as exc:
        parse_file(info_of(path), cfg, media)
    assert exc.value.reason == "compression ratio too high"
    assert "member word/document.xml" in exc.value.detail


def test_unpacked_size_limit(tmp_path: Path, media: Path) -> None:
    noise = Image.effect_noise((1200, 1200), 90).tobytes()  # incompressible: ratio ~1
    path = _docx_with(tmp_path, "big.docx", "word/media/noise.bin", noise, zipfile.ZIP_STORED)
    with pytest.raises(IngestError) as exc:
        parse_file(info_of(path), IngestConfig(ocr="none", max_unpacked_mb=1), media)
    assert exc.value.reason == "unpacks too large"
    assert "MB decompressed > ingest.max_unpacked_mb = 1" in exc.value.detail


def test_ordinary_office_file_passes(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    path = _docx_with(tmp_path, "plain.docx", "word/media/photo.png", photo_png())
    items = parse_file(info_of(path), cfg, media).items
    assert "north depot" in " ".join(i.text for i in items)


def test_an_oversized_image_inside_a_docx_is_skipped_before_decoding(tmp_path: Path, media: Path) -> None:
    # Office and word-processor parsers decode embedded images themselves: the pixel limit must hold
    # there too (Pillow's own bomb check only fires past ~179 million pixels).
    docx = pytest.importorskip("docx")
    doc = docx.Document()
    doc.add_paragraph("The pump manual holds two pictures.")
    small, huge = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (120, 90), (200, 30, 30)).save(small, format="PNG")
    Image.new("1", (3000, 3000), 1).save(huge, format="PNG", optimize=True)
    doc.add_picture(io.BytesIO(small.getvalue()))
    doc.add_picture(io.BytesIO(huge.getvalue()))
    doc.save(tmp_path / "pictures.docx")
    cfg = IngestConfig(ocr="none", max_image_pixels=5_000_000)
    parsed = parse_file(info_of(tmp_path / "pictures.docx"), cfg, media)
    figures = [i for i in parsed.items if i.kind == "figure"]
    assert len(figures) == 1  # the small picture; the huge one never decoded
    assert any("pump manual" in i.text for i in parsed.items if i.kind == "text")
