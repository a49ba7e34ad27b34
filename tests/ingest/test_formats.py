"""Formats beyond PDF: text (and its encodings), markdown, HTML, office files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from ingest import registry
from ingest.config import IngestConfig
from ingest.discover import discover
from ingest.errors import IngestError
from ingest.parse import parse_file
from ingest.records import Figure
from ingest.textenc import decode_text

from .builders import info_of


def test_markdown_sections(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    md = "# Guide\n\nIntro text here.\n\n## Setup\n\nInstall the XK-9 driver first.\n"
    (tmp_path / "n.md").write_text(md)
    parsed = parse_file(info_of(tmp_path / "n.md"), cfg, media)
    assert parsed.document.title == "Guide" and parsed.document.mime == "text/markdown"
    setup = next(i for i in parsed.items if "XK-9" in i.text)
    assert setup.section == ["Guide", "Setup"] and setup.page == 1 and setup.kind == "text"


def test_html_text_without_scripts(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    html = ("<html><head><style>p{color:red}</style><script>var secret=1;</script></head><body>"
            "<h1>Policy</h1><p>Refunds take <b>14 days</b>.</p><h2>Returns</h2>"
            "<p>Keep the receipt.</p></body></html>")
    (tmp_path / "p.html").write_text(html)
    items = parse_file(info_of(tmp_path / "p.html"), cfg, media).items
    text = " ".join(i.text for i in items)
    assert "Refunds take 14 days." in text and "secret" not in text and "color" not in text
    assert next(i for i in items if "receipt" in i.text).section == ["Policy", "Returns"]


def test_plain_text_in_legacy_encoding(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "old.txt").write_bytes("Café prices rose.\n\nNext paragraph.".encode("cp1252"))
    parsed = parse_file(info_of(tmp_path / "old.txt"), cfg, media)
    assert parsed.items[0].text == "Café prices rose.\nNext paragraph."
    assert "guessed as cp1252" in parsed.warnings[0].detail


def test_euc_kr_text_decoded_without_a_guess(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    text = "영업이익은 전년 대비 12% 증가했다.\n\n회의는 금요일에 열린다."
    (tmp_path / "ko.txt").write_bytes(text.encode("euc-kr"))
    parsed = parse_file(info_of(tmp_path / "ko.txt"), cfg, media)
    assert parsed.items[0].text == "영업이익은 전년 대비 12% 증가했다.\n회의는 금요일에 열린다."
    assert parsed.warnings == []  # CP949/EUC-KR is in the fixed order: not a guess


def test_guessed_encoding_is_a_warning(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "ru.txt").write_bytes("Привет, это проверка кодировки текста.".encode("cp1251"))
    parsed = parse_file(info_of(tmp_path / "ru.txt"), cfg, media)
    assert parsed.items[0].text == "Привет, это проверка кодировки текста."
    (warning,) = parsed.warnings
    assert warning.page is None and warning.reason == "encoding guessed"
    assert warning.detail.startswith(f"{tmp_path / 'ru.txt'}: text encoding guessed as cp1251")


@pytest.mark.parametrize(("data", "codec"), [
    ("\ufeff보고서".encode(), "utf-8-sig"), ("보고서".encode("utf-16"), "utf-16"),
    ("보고서".encode(), "utf-8"), ("보고서".encode("cp949"), "cp949"),
])
def test_decode_order(data: bytes, codec: str) -> None:
    decoded = decode_text(data)
    assert (decoded.text, decoded.encoding, decoded.guessed) == ("보고서", codec, False)


def test_office_files_skipped_without_their_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_installed", lambda _module: False)
    (tmp_path / "deck.pptx").write_bytes(b"PK\x03\x04")
    d = discover([tmp_path], IngestConfig())
    assert d.files == []
    assert d.skipped[0].reason == "unsupported type .pptx (pip install python-pptx)"


def test_docx(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    docx = pytest.importorskip("docx")
    doc = docx.Document()
    doc.add_heading("Safety manual", level=1)
    doc.add_paragraph("Always wear gloves near the XK-4471-B press.")
    table = doc.add_table(rows=2, cols=2)
    for r, row in enumerate([("Zone", "Limit"), ("A", "85 dB")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    buf = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 30, 30)).save(buf, format="PNG")
    doc.add_picture(io.BytesIO(buf.getvalue()))
    doc.save(tmp_path / "m.docx")
    items = parse_file(info_of(tmp_path / "m.docx"), cfg, media).items
    text = next(i for i in items if i.kind == "text" and "gloves" in i.text)
    assert text.section == ["Safety manual"]
    (tbl,) = [i for i in items if i.kind == "table"]
    assert tbl.text == "| Zone | Limit |\n|---|---|\n| A | 85 dB |"
    (fig,) = [i for i in items if isinstance(i, Figure)]
    assert Path(fig.image_path).is_file()


def test_pptx(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    pptx = pytest.importorskip("pptx")
    from pptx.util import Inches

    pres = pptx.Presentation()
    for n in range(2):
        slide = pres.slides.add_slide(pres.slide_layouts[5])  # title only
        slide.shapes.title.text = f"Roadmap {2026 + n}"
        box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1))
        box.text_frame.text = f"Ship release {n + 7} with offline mode."
        slide.notes_slide.notes_text_frame.text = f"Mention partner number {n}."
    rows = pres.slides[1].shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table
    for r, row in enumerate([("Quarter", "Goal"), ("Q1", "beta")]):
        for c, text in enumerate(row):
            rows.cell(r, c).text = text
    pres.save(tmp_path / "d.pptx")
    parsed = parse_file(info_of(tmp_path / "d.pptx"), cfg, media)
    assert parsed.document.pages == 2
    text = {i.page: i for i in parsed.items if i.kind == "text"}
    assert "release 8" in text[2].text and "partner number 1" in text[2].text
    assert text[2].section == ["Roadmap 2027"]
    (tbl,) = [i for i in parsed.items if i.kind == "table"]
    assert tbl.page == 2 and "| Q1 | beta |" in tbl.text


def test_xlsx(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Prices"
    for row in [("Part", "Price"), ("XK-4471-B", 1299.5), ("XK-10", 80)]:
        ws.append(row)
    wb.save(tmp_path / "p.xlsx")
    (tbl,) = parse_file(info_of(tmp_path / "p.xlsx"), cfg, media).items
    assert tbl.kind == "table" and tbl.section == ["Prices"] and tbl.page == 1
    assert "| XK-4471-B | 1299.5 |" in tbl.text and tbl.text.startswith("Sheet: Prices")


def test_corrupt_office_file(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    pytest.importorskip("docx")
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(IngestError, match="corrupt docx file"):
        parse_file(info_of(tmp_path / "bad.docx"), cfg, media)


def test_multi_frame_tiff_is_one_page_per_frame(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    frames = [Image.new("RGB", (300, 200), c) for c in ((10, 200, 30), (200, 0, 0))]
    frames[0].save(tmp_path / "scan.tif", save_all=True, append_images=frames[1:])
    cfg = cfg.model_copy(update={"render_pages": True})
    parsed = parse_file(info_of(tmp_path / "scan.tif"), cfg, media)
    assert parsed.document.pages == 2 and parsed.document.mime == "image/tiff"
    assert [(i.kind, i.page) for i in parsed.items] == [("page", 1), ("page", 2)]
