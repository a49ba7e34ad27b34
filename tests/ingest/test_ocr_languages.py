"""Which OCR languages an image is read with (``ingest.ocr_first_languages``): an English pass first,
the configured ``kor+eng`` where the image or its document holds Hangul. Real Tesseract throughout;
the recorder only notes the languages of each call and hands it on."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from ingest import ocr
from ingest.config import IngestConfig
from ingest.parse import parse_file
from ingest.records import Figure, TextChunk

from .builders import info_of, needs_tesseract, save

KOREAN_LINES = ["정보보호 관리체계 인증 심사 결과", "개인정보 처리방침을 2024년 3월에 개정하였다.",
                "영업이익은 전년 대비 12% 증가했다.", "담당자: 정보보안팀 한지우"]
ENGLISH = "Quarterly inspection report. The turbine bearings showed minimal wear."


class Recording:
    """The real Tesseract engine, noting the languages of every call."""

    name = "tesseract"
    reports_confidence = True

    def __init__(self) -> None:
        self.inner = ocr.TesseractOcr()
        self.calls: list[str] = []

    def ocr_lines(self, png: bytes, languages: str) -> list[ocr.OcrLine]:
        self.calls.append(languages)
        return self.inner.ocr_lines(png, languages)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recording]:
    if ocr.shutil.which("tesseract") is None:
        pytest.skip("tesseract not installed")
    rec = Recording()
    monkeypatch.setattr("ingest.pdf.get_ocr_engine", lambda _name: rec)
    yield rec


def _english_png(text: str = "PRESSURE ALARM 7 on line 3") -> bytes:
    img = Image.new("L", (900, 160), 255)
    ImageDraw.Draw(img).text((20, 50), text, fill=0, font=ImageFont.load_default(size=36))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _korean_png(lines: list[str], width: float = 595, height: float = 300, size: float = 14,
                left: float = 72, top: float = 60) -> bytes:
    page = pymupdf.open().new_page(width=width, height=height)
    writer = pymupdf.TextWriter(page.rect)
    for i, line in enumerate(lines):
        writer.append((left, top + 2 * size * i), line, font=pymupdf.Font("korea"), fontsize=size)
    writer.write_text(page)
    return page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY).tobytes("png")


def _scan(path: Path, pngs: list[bytes]) -> Path:
    """An image-only PDF, one page per PNG (no text layer), each page the image's shape (an image
    that leaves part of the page blank is a figure as well)."""
    doc = pymupdf.open()
    for png in pngs:
        width, height = Image.open(io.BytesIO(png)).size
        page = doc.new_page(width=595, height=595 * height / width)
        page.insert_image(page.rect, stream=png)
    return save(doc, path)


def _chunks(items: list[object]) -> str:
    return " ".join(i.text for i in items if isinstance(i, TextChunk))


@needs_tesseract
def test_english_image_keeps_the_english_pass() -> None:
    lines, full = ocr.recognise(ocr.TesseractOcr(), _english_png(), "kor+eng", "eng")
    assert not full
    assert "PRESSURE ALARM" in ocr.text_of(lines)
    assert min(line.conf for line in lines) > ocr.FIRST_PASS_MIN_CONF


@needs_tesseract
def test_korean_image_is_read_again_with_kor_eng() -> None:
    png = _korean_png(KOREAN_LINES)
    lines, full = ocr.recognise(ocr.TesseractOcr(), png, "kor+eng", "eng")
    assert full
    text = ocr.text_of(lines)
    for line in KOREAN_LINES:
        assert line in text, text
    # the first pass alone would have lost the Hangul: it is the check that caught it
    assert not ocr.confident(ocr.TesseractOcr().ocr_lines(png, "eng"))


@needs_tesseract
@pytest.mark.parametrize(("lines", "width", "height", "size"), [
    (KOREAN_LINES[3:], 250, 30, 10),  # one short line of a crop: both read it
    (KOREAN_LINES[1:3], 360, 70, 12),  # two lines of a crop: both read them
    (KOREAN_LINES[:2], 595, 300, 14),  # two lines on a large page: neither finds text
    (["안전 주의"], 100, 40, 20),  # two words: neither finds text
])
def test_where_eng_finds_nothing_kor_eng_finds_nothing(lines: list[str], width: float, height: float,
                                                        size: float) -> None:
    engine = ocr.TesseractOcr()
    png = _korean_png(lines, width, height, size, *((72, 60) if width > 500 else (10, 10 + size)))
    first = engine.ocr_lines(png, "eng")
    if not first:  # kept as the reading: it must not lose Hangul that kor+eng would read
        assert engine.ocr_lines(png, "kor+eng") == []
    else:
        assert not ocr.confident(first)


def test_confident_takes_no_text_as_sure_but_needs_confidences() -> None:
    assert ocr.confident([])  # nothing found: nothing for kor+eng either (the test below)
    assert not ocr.confident([ocr.OcrLine("no confidence given", (0, 0, 9, 9), 0)])
    sure, unsure = ocr.OcrLine("Quarterly report", (0, 0, 9, 9), 0, 92.0), ocr.OcrLine("x~", (0, 9, 9, 18), 0, 20.0)
    assert ocr.confident([sure, unsure])  # 15 characters at 92 outweigh 2 at 20
    assert not ocr.confident([unsure])


def test_other_script_reads_the_text_layer() -> None:
    assert ocr.other_script("한빛전자 정보보안팀 " * 3 + "Hanbit Electronics annual report " * 5)
    assert not ocr.other_script("Hanbit Electronics annual report, café résumé naïve " * 20)
    assert not ocr.other_script("The α and β coefficients of the model are estimated jointly. " * 40)
    assert not ocr.other_script("회사")  # a stray word is not a Korean document


def test_an_engine_without_confidences_reads_once_with_ocr_languages() -> None:
    calls: list[str] = []

    class Plain:
        name = "plain"

        def ocr_lines(self, png: bytes, languages: str) -> list[ocr.OcrLine]:
            calls.append(languages)
            return [ocr.OcrLine("Quarterly report", (0, 0, 9, 9), 0)]

    lines, full = ocr.recognise(Plain(), b"png", "kor+eng", "eng")
    assert full and calls == ["kor+eng"] and lines[0].text == "Quarterly report"


def test_first_pass_is_off_by_default_on_in_the_english_profile_and_off_is_reachable() -> None:
    assert IngestConfig().ocr_first_languages is None
    assert IngestConfig(ocr_first_languages="eng").ocr_first_languages == "eng"
    for off in (None, "", "none", "off"):
        assert IngestConfig(ocr_first_languages=off).ocr_first_languages is None
    import yaml

    for profile in sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml")):
        ingest = yaml.safe_load(profile.read_text()).get("ingest", {})
        if ingest.get("ocr", "tesseract") != "none":  # every OCR profile says it, explicitly
            assert "ocr_first_languages" in ingest, profile.name
            want = "eng" if profile.stem == "cpu-en" else None  # Korean-first profiles read kor+eng at once
            assert ingest["ocr_first_languages"] == want, profile.name


ENG_FIRST = IngestConfig(ocr="tesseract", render_pages=False, ocr_first_languages="eng")
"""The first pass on, as the ``cpu-en`` profile has it."""


def test_english_scan_is_read_in_english_only(tmp_path: Path, media: Path, engine: Recording) -> None:
    path = _scan(tmp_path / "scan.pdf", [_english_png(ENGLISH[:40]), _english_png(ENGLISH[40:])])
    items = parse_file(info_of(path), ENG_FIRST, media).items
    assert engine.calls == ["eng", "eng"]
    assert "turbine" in _chunks(items).lower()


def test_korean_scan_reads_exact_words_and_tells_the_rest_of_the_document(
        tmp_path: Path, media: Path, engine: Recording) -> None:
    path = _scan(tmp_path / "scan-ko.pdf", [_korean_png(KOREAN_LINES[:3]), _korean_png(KOREAN_LINES[1:])])
    items = parse_file(info_of(path), ENG_FIRST, media).items
    # page 1 tried in English, found unsure, read as kor+eng; page 2 read as kor+eng at once
    assert engine.calls == ["eng", "kor+eng", "kor+eng"]
    text = _chunks(items)
    for line in KOREAN_LINES:
        assert line in text, text


def test_first_pass_off_reads_with_ocr_languages_only(tmp_path: Path, media: Path, engine: Recording) -> None:
    path = _scan(tmp_path / "scan.pdf", [_english_png(ENGLISH[:40])])
    cfg = IngestConfig(ocr="tesseract", render_pages=False, ocr_first_languages=None)
    parse_file(info_of(path), cfg, media)
    assert engine.calls == ["kor+eng"]


def test_korean_text_layer_sends_figures_straight_to_kor_eng(tmp_path: Path, media: Path, engine: Recording) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    writer = pymupdf.TextWriter(page.rect)
    notice = "아래 화면은 월요일에 받은 경보입니다. 정보보안팀 확인 필요."
    writer.append((72, 72), notice, font=pymupdf.Font("korea"), fontsize=11)
    writer.write_text(page)
    page.insert_image(pymupdf.Rect(72, 100, 522, 180), stream=_english_png())
    en = doc.new_page()
    en.insert_text((72, 72), "The dashboard screenshot below shows the alert we received on Monday.")
    en.insert_image(pymupdf.Rect(72, 100, 522, 180), stream=_english_png("VALVE FAULT 12 on line 9"))
    save(doc, tmp_path / "notice.pdf")
    items = parse_file(info_of(tmp_path / "notice.pdf"), ENG_FIRST, media).items
    assert engine.calls == ["kor+eng", "kor+eng"]
    assert any("PRESSURE" in f.text for f in items if isinstance(f, Figure))
