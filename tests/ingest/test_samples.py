"""The generated sample folder: deterministic, and every planted fact comes out as an item."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.config import IngestConfig
from ingest.discover import discover
from ingest.parse import parse_file
from ingest.records import Figure, ParsedFile, Table
from ingest.samples import FACTS, KO_MINUTES, KO_REPORT, REPORT, SHEET, write_sample_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("samples")
    write_sample_folder(root / "docs")
    return root


def _parse(root: Path, name: str, ocr: str = "none") -> ParsedFile:
    cfg = IngestConfig(ocr=ocr, page_dpi=36, ocr_dpi=150)
    (info,) = [f for f in discover([root / "docs"], cfg).files if f.path.endswith(name)]
    return parse_file(info, cfg, root / "media")


@pytest.fixture(scope="module")
def report(folder: Path) -> ParsedFile:
    return _parse(folder, REPORT, "tesseract" if shutil.which("tesseract") else "none")


def test_deterministic(tmp_path: Path) -> None:
    a = write_sample_folder(tmp_path / "a")
    b = write_sample_folder(tmp_path / "b")
    assert [p.name for p in a] == [REPORT, SHEET, "release_notes.md", KO_REPORT, KO_MINUTES]
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_korean_report(folder: Path) -> None:
    parsed = _parse(folder, KO_REPORT)
    assert parsed.document.title == "주식회사 한빛전자 2025년 사업보고서" and parsed.document.pages == 2
    text = " ".join(i.text for i in parsed.items if i.kind == "text" and i.page == 1)
    assert str(FACTS["ko_operating_profit"]) in text and str(FACTS["ko_part_number"]) in text
    (table,) = [i for i in parsed.items if isinstance(i, Table)]
    region, value = FACTS["ko_table_cell"]
    # the table's title above it heads the item (issue 18), then the header row
    assert table.text.splitlines()[0] == "표 1. 지역별 매출 (단위: 억 원)"
    assert "| 지역 | 2024년 | 2025년 | 증감률 |" in table.text.splitlines()
    assert f"| {region} | 760 | {value} | 10.8% |" in table.text and table.page == 1


def test_korean_minutes_hwpx(folder: Path) -> None:
    parsed = _parse(folder, KO_MINUTES)
    assert parsed.document.mime == "application/hwp+zip" and parsed.document.pages == 2
    who, task = FACTS["ko_action_item"]
    (table,) = [i for i in parsed.items if isinstance(i, Table)]
    assert f"| {who} | {task} | 10월 15일 |" in table.text
    assert table.section == ["2025년 3분기 경영회의 회의록", "결정 사항"]
    assert table.location is not None and table.location.kind == "page" and table.page == 1
    (fig,) = [i for i in parsed.items if isinstance(i, Figure)]
    assert fig.page == 2 and Path(fig.image_path).is_file()
    assert all("내부 문서" not in i.text for i in parsed.items)  # the running header is left out


def test_report_facts(report: ParsedFile) -> None:
    assert report.document.pages == 4
    text = " ".join(i.text for i in report.items if i.kind == "text")
    assert FACTS["revenue_2025"] in text and FACTS["part_number"] in text
    assert "Annual Report 2025 Page" not in text and "Page 2 of 4" not in text  # running chrome removed
    (table,) = [i for i in report.items if isinstance(i, Table)]
    region, value = FACTS["table_cell"]
    assert f"| {region} | 132.0 | {value} | 10.8% |" in table.text and table.page == 2
    assert table.caption == FACTS["table_caption"]
    captions = {i.caption: i.page for i in report.items if isinstance(i, Figure)}
    assert captions[FACTS["figure_caption"]] == 3
    assert captions["Figure 2: ACME headquarters in Springfield"] == 1
    assert [i.page for i in report.items if i.kind == "page"] == [1, 2, 3, 4]


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
def test_scanned_page_words(report: ParsedFile) -> None:
    page4 = " ".join(i.text for i in report.items if i.kind == "text" and i.page == 4).lower()
    for word in FACTS["scanned_words"]:
        assert word.lower() in page4
