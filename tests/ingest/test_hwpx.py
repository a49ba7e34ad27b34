"""HWPX (OWPML zip) files: text in reading order, tables, pictures, headers left out, locations."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from pydantic import TypeAdapter

from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.parse import parse_file
from ingest.records import Figure, Item, Table
from ingest.samples import HwpxPart, build_hwpx

from .builders import info_of, photo_png

REPORT: list[HwpxPart] = [
    ("header", "주식회사 한빛 내부 문서"),
    ("heading", "2025년 사업보고서"),
    ("text", "영업이익은 전년 대비 12% 증가한 482억 원이다. 주력 제품은 HX-7720-K이다."),
    ("table", [["지역", "2024년", "2025년"], ["서울", "120", "135"], ["부산", "80", "91"]]),
    ("page_break", None),
    ("heading", "부록"),
    ("image", photo_png(220, 160)),
    ("text", "사진은 신축 공장의 전경이다."),
]


def _write(tmp_path: Path, parts: list[HwpxPart], name: str = "report.hwpx", **kw: object) -> Path:
    path = tmp_path / name
    path.write_bytes(build_hwpx(parts, **kw))  # type: ignore[arg-type]
    return path


def test_table_image_and_sections(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    parsed = parse_file(info_of(_write(tmp_path, REPORT, title="사업보고서")), cfg, media)
    assert parsed.document.title == "사업보고서" and parsed.document.mime == "application/hwp+zip"
    text = [i for i in parsed.items if i.kind == "text"]
    assert "영업이익은 전년 대비 12% 증가한 482억 원이다." in text[0].text
    assert text[0].section == ["2025년 사업보고서"]
    assert all("한빛 내부 문서" not in i.text for i in parsed.items)  # the running header is left out
    (table,) = [i for i in parsed.items if isinstance(i, Table)]
    assert table.text.splitlines()[0] == "| 지역 | 2024년 | 2025년 |"
    assert "| 부산 | 80 | 91 |" in table.text and table.section == ["2025년 사업보고서"]
    (fig,) = [i for i in parsed.items if isinstance(fig := i, Figure)]
    assert Path(fig.image_path).is_file() and fig.section == ["부록"]


def test_location_is_section_and_paragraph_without_a_layout(tmp_path: Path, cfg: IngestConfig,
                                                             media: Path) -> None:
    parsed = parse_file(info_of(_write(tmp_path, REPORT)), cfg, media)
    (table,) = [i for i in parsed.items if i.kind == "table"]
    assert table.location is not None
    assert (table.location.kind, table.location.section, table.location.paragraph) == ("paragraph", 1, 4)
    assert table.page == 1 and parsed.document.pages == 1  # page holds the section number


def test_location_is_the_page_with_a_recorded_layout(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    parsed = parse_file(info_of(_write(tmp_path, REPORT, layout=True)), cfg, media)
    assert parsed.document.pages == 2
    (fig,) = [i for i in parsed.items if i.kind == "figure"]
    assert fig.page == 2 and fig.location is not None and fig.location.kind == "page"
    appendix = next(i for i in parsed.items if i.kind == "text" and "신축 공장" in i.text)
    # The chunk starts at its heading, paragraph 5 (1 holds the running header).
    assert appendix.page == 2 and appendix.location is not None and appendix.location.paragraph == 5


def test_corrupt_and_encrypted_hwpx(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "bad.hwpx").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(IngestError, match="corrupt HWPX file"):
        parse_file(info_of(tmp_path / "bad.hwpx"), cfg, media)
    locked = _write(tmp_path, REPORT, name="locked.hwpx")
    with zipfile.ZipFile(locked, "a") as zf:
        zf.writestr("META-INF/manifest.xml", '<odf:manifest xmlns:odf="urn:oasis:names:tc:opendocument:xmlns:'
                    'manifest:1.0"><odf:file-entry odf:full-path="Contents/section0.xml"><odf:encryption-data/>'
                    "</odf:file-entry></odf:manifest>")
    with pytest.raises(IngestError, match="password-protected HWPX") as exc:
        parse_file(info_of(locked), cfg, media)
    assert str(locked) in str(exc.value)


def test_items_round_trip_with_their_location(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    parsed = parse_file(info_of(_write(tmp_path, REPORT, layout=True)), cfg, media)
    adapter: TypeAdapter[Item] = TypeAdapter(Item)
    for item in parsed.items:  # how the store keeps them: JSON payloads
        assert adapter.validate_python(item.model_dump(mode="json")) == item


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
def test_figure_bridge_text_is_ocr(tmp_path: Path, media: Path) -> None:
    img = Image.new("RGB", (900, 220), "white")
    ImageDraw.Draw(img).text((30, 60), "QUARTERLY SALES CHART", fill="black",
                             font=ImageFont.load_default(size=64))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    path = _write(tmp_path, [("heading", "매출 현황"), ("text", "분기별 매출은 아래 그림과 같다."),
                             ("image", buf.getvalue())])
    cfg = IngestConfig(ocr="tesseract", ocr_languages="eng")
    (fig,) = [i for i in parse_file(info_of(path), cfg, media).items if isinstance(i, Figure)]
    assert fig.text.splitlines()[0] == "매출 현황" and "QUARTERLY SALES CHART" in fig.text


def test_a_key_value_table_keeps_its_first_row_as_data(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    # 회의록 tables list 일시 / 참석자 / 장소 with their values: there is no header row to take.
    rows = [["일시", "2025년 3월 12일(수) 14:00 ~ 16:00"], ["참석자", "박서연 대표이사, 김도윤 상무"],
            ["장소", "본사 12층 대회의실"]]
    parsed = parse_file(info_of(_write(tmp_path, [("heading", "회의록"), ("table", rows)])), cfg, media)
    (table,) = [i for i in parsed.items if isinstance(i, Table)]
    lines = table.text.splitlines()
    assert lines[0].replace(" ", "") == "|||"  # empty header cells
    assert "| 일시 | 2025년 3월 12일(수) 14:00 ~ 16:00 |" in lines
    assert "| 참석자 | 박서연 대표이사, 김도윤 상무 |" in lines
