"""The generated sample folder: deterministic, and every planted fact comes out as an item."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.config import IngestConfig
from ingest.discover import discover
from ingest.parse import parse_file
from ingest.records import Figure, ParsedFile, Table
from ingest.samples import FACTS, REPORT, SHEET, write_sample_folder


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ParsedFile:
    root = tmp_path_factory.mktemp("samples")
    write_sample_folder(root / "docs")
    ocr = "tesseract" if shutil.which("tesseract") else "none"
    cfg = IngestConfig(ocr=ocr, page_dpi=36, ocr_dpi=150)
    (info,) = [f for f in discover([root / "docs"], cfg).files if f.path.endswith(REPORT)]
    return parse_file(info, cfg, root / "media")


def test_deterministic(tmp_path: Path) -> None:
    a = write_sample_folder(tmp_path / "a")
    b = write_sample_folder(tmp_path / "b")
    assert [p.name for p in a] == [REPORT, SHEET, "release_notes.md"]
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


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
