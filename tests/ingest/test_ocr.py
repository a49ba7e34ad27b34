"""OCR: scanned pages, image files, figure crops, and running without Tesseract."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from pydantic import ValidationError

from ingest import ocr
from ingest.config import IngestConfig
from ingest.errors import ConfigError
from ingest.parse import parse_file
from ingest.records import Figure, PageImage, TextChunk

from .builders import info_of, needs_tesseract, scanned_pdf

SCAN_TEXT = ("Quarterly inspection report. The turbine bearings showed minimal wear. "
             "Maintenance is scheduled for November.")


@pytest.fixture
def ocr_cfg() -> IngestConfig:
    return IngestConfig(ocr="tesseract", render_pages=True, page_dpi=36, ocr_dpi=150)


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    # Engines are cached per process: a test that hides Tesseract must not leak its
    # "none" fallback into later tests.
    ocr.get_ocr_engine.cache_clear()
    ocr._warn_once.cache_clear()
    yield
    ocr.get_ocr_engine.cache_clear()
    ocr._warn_once.cache_clear()


def _text_png(text: str) -> bytes:
    img = Image.new("L", (900, 160), 255)
    ImageDraw.Draw(img).text((20, 50), text, fill=0, font=ImageFont.load_default(size=36))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("name", ["none", "tesseract"])
def test_engines_follow_the_protocol(name: str) -> None:
    engine = ocr.get_ocr_engine(name)
    assert isinstance(engine, ocr.OcrEngine)
    lines = engine.ocr_lines(_text_png("hello"), "eng")
    assert all(isinstance(line, ocr.OcrLine) for line in lines)
    assert ocr.text_of(lines).strip() in ("", "hello")


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown OCR engine backend 'paddle'; known: none, tesseract"):
        ocr.get_ocr_engine("paddle")


@needs_tesseract
@pytest.mark.parametrize("rotation", [0, 90])
def test_scanned_page_gets_ocr_text_page_and_bbox(
    tmp_path: Path, ocr_cfg: IngestConfig, media: Path, rotation: int
) -> None:
    path, (x0, y0, x1, y1) = scanned_pdf(tmp_path / "scan.pdf", SCAN_TEXT, rotation=rotation)
    items = parse_file(info_of(path), ocr_cfg, media).items
    (chunk,) = [i for i in items if isinstance(i, TextChunk)]
    text = chunk.text.lower()
    for word in ("quarterly inspection report", "turbine", "bearings", "november"):
        assert word in text
    assert chunk.page == 1
    assert chunk.bbox is not None
    b = chunk.bbox
    # OCR boxes hug the glyphs, inside the font's line boxes (ascent, descent): 6 pt of slack.
    assert b.x0 <= x0 + 6 and b.y0 <= y0 + 6 and b.x1 >= x1 - 6 and b.y1 >= y1 - 6  # covers the words
    assert b.x0 >= x0 - 6 and b.y0 >= y0 - 6 and b.x1 <= x1 + 6 and b.y1 <= y1 + 6  # and no more
    (page,) = [i for i in items if isinstance(i, PageImage)]
    assert "turbine" in page.text.lower()
    assert not [i for i in items if isinstance(i, Figure)]  # the scan itself is not a figure


def test_tsv_lines_boxes_and_paragraphs() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t1000\t800\t-1\t",
        "4\t1\t1\t1\t1\t0\t100\t200\t300\t30\t-1\t",
        "5\t1\t1\t1\t1\t1\t100\t205\t120\t25\t96.1\tTurbine",
        "5\t1\t1\t1\t1\t2\t240\t200\t160\t30\t95.0\tbearings",
        "5\t1\t1\t1\t1\t3\t420\t200\t10\t30\t30.0\t ",
        "5\t1\t1\t1\t2\t1\t100\t240\t90\t28\t93.2\twore.",
        "5\t1\t2\t1\t1\t1\t100\t400\t50\t20\t91.0\tNext",
    ]
    lines = ocr.parse_tsv("\n".join([header, *rows]))
    assert lines == [
        ocr.OcrLine("Turbine bearings", (100, 200, 400, 230), 0, pytest.approx(95.55)),  # its words' mean
        ocr.OcrLine("wore.", (100, 240, 190, 268), 0, 93.2),
        ocr.OcrLine("Next", (100, 400, 150, 420), 1, 91.0),
    ]
    assert ocr.text_of(lines) == "Turbine bearings\nwore.\n\nNext"


@needs_tesseract
def test_image_file_is_a_page_with_ocr_text(tmp_path: Path, ocr_cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "note.png").write_bytes(_text_png("Invoice number 88231 approved"))
    parsed = parse_file(info_of(tmp_path / "note.png"), ocr_cfg, media)
    assert parsed.document.mime == "image/png"
    assert "88231" in " ".join(i.text for i in parsed.items if i.kind == "text")
    assert [i.kind for i in parsed.items].count("page") == 1


@needs_tesseract
def test_raster_figure_bridge_text_has_ocr(tmp_path: Path, ocr_cfg: IngestConfig, media: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "The dashboard screenshot below shows the alert we received on Monday.")
    page.insert_image(pymupdf.Rect(72, 100, 522, 180), stream=_text_png("PRESSURE ALARM 7"))
    doc.save(tmp_path / "shot.pdf")
    items = parse_file(info_of(tmp_path / "shot.pdf"), ocr_cfg, media).items
    (fig,) = [i for i in items if isinstance(i, Figure)]
    assert "PRESSURE" in fig.text.upper() and "dashboard" in fig.text


def test_missing_tesseract_warns_once_and_goes_on(
    tmp_path: Path, media: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ocr.shutil, "which", lambda _name: None)
    cfg = IngestConfig(ocr="tesseract", render_pages=False)
    path, _ = scanned_pdf(tmp_path / "scan.pdf", SCAN_TEXT)
    with caplog.at_level(logging.WARNING, logger="ingest.ocr"):
        first = parse_file(info_of(path), cfg, media)
        parse_file(info_of(path), cfg, media)
    warnings = [r for r in caplog.records if "continuing without OCR" in r.getMessage()]
    assert len(warnings) == 1
    assert not [i for i in first.items if i.kind == "text"]


# -- Korean scans --------------------------------------------------------------------------------

KOREAN_LINES = ["정보보호 관리체계 인증 심사 결과", "개인정보 처리방침을 2024년 3월에 개정하였다.",
                "영업이익은 전년 대비 12% 증가했다.", "Model HX-7720 점검 완료"]


def _korean_png(lines: list[str], width: float = 595, height: float = 300, size: float = 14) -> bytes:
    """``lines`` set in PyMuPDF's built-in Korean font, rendered to a grey PNG at 200 dpi."""
    import pymupdf

    page = pymupdf.open().new_page(width=width, height=height)
    writer = pymupdf.TextWriter(page.rect)
    font = pymupdf.Font("korea")
    for i, line in enumerate(lines):
        writer.append((72, 60 + 2 * size * i), line, font=font, fontsize=size)
    writer.write_text(page)
    return page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY).tobytes("png")


def test_default_ocr_languages_read_korean_first() -> None:
    import yaml

    assert IngestConfig().ocr_languages == "kor+eng"
    for profile in sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml")):
        ingest = yaml.safe_load(profile.read_text()).get("ingest", {})
        assert ingest.get("ocr_languages", IngestConfig().ocr_languages) == "kor+eng", profile.name


def test_tsv_syllables_take_their_spacing_from_the_text_output() -> None:
    # Tesseract's TSV gives Korean one "word" per syllable; its text output spaces real words.
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    syllables = [("정", 100), ("보", 150), ("보", 200), ("호", 250), ("관", 320), ("리", 370)]
    rows = [f"5\t1\t1\t1\t1\t{n}\t{x}\t200\t40\t44\t93.0\t{s}" for n, (s, x) in enumerate(syllables, start=1)]
    rows.append("5\t1\t1\t1\t2\t1\t100\t260\t200\t44\t91.0\tHX-7720")
    tsv = "\n".join([header, *rows])
    lines = ocr.parse_tsv(tsv, "정보보호 관리\nHX-7720\n\n")
    assert [ln.text for ln in lines] == ["정보보호 관리", "HX-7720"]
    assert lines[0].box == (100, 200, 410, 244)
    # A line the text output lacks keeps the TSV's words.
    assert [ln.text for ln in ocr.parse_tsv(tsv, "HX-7720\n")] == ["정 보 보 호 관 리", "HX-7720"]


@needs_tesseract
def test_korean_scan_reads_exact_words(tmp_path: Path, media: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=595, height=300)  # an image only: no text layer
    page.insert_image(page.rect, stream=_korean_png(KOREAN_LINES))
    doc.save(tmp_path / "scan-ko.pdf")
    cfg = IngestConfig(ocr="tesseract", render_pages=False, ocr_dpi=200)  # default languages: kor+eng
    items = parse_file(info_of(tmp_path / "scan-ko.pdf"), cfg, media).items
    text = " ".join(i.text for i in items if isinstance(i, TextChunk))
    for line in KOREAN_LINES:
        assert line in text, text
    assert "정 보" not in text


@needs_tesseract
def test_korean_figure_crop_reads_exact_words(tmp_path: Path, media: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "The notice below was posted at the north depot entrance.")
    page.insert_image(pymupdf.Rect(72, 100, 540, 236), stream=_korean_png(KOREAN_LINES[:2], 468, 136, 13))
    doc.save(tmp_path / "notice.pdf")
    cfg = IngestConfig(ocr="tesseract", render_pages=False, ocr_dpi=200)
    items = parse_file(info_of(tmp_path / "notice.pdf"), cfg, media).items
    (fig,) = [i for i in items if isinstance(i, Figure)]
    for word in ("정보보호", "관리체계", "개인정보", "처리방침을"):
        assert word in fig.text.split(), fig.text


def test_ocr_engines_are_registered_and_the_config_knows_them() -> None:
    assert ocr.OCR_ENGINES.names() == ["none", "tesseract"]
    with pytest.raises(ValidationError, match="unknown OCR engine 'paddle'; known: none, tesseract"):
        IngestConfig(ocr="paddle")
