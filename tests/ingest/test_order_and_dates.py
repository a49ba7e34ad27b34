"""Chunks carry their reading-order position; PDFs carry their stated creation date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pymupdf
import pytest

from ingest.config import IngestConfig
from ingest.parse import parse_file
from ingest.pdf import pdf_date
from tests.ingest.builders import info_of, report_pdf, save


def test_text_chunks_are_numbered_in_reading_order(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    parsed = parse_file(info_of(report_pdf(tmp_path / "r.pdf", pages=4)), cfg, media)
    chunks = [it for it in parsed.items if it.kind == "text"]
    assert [c.order for c in chunks] == list(range(len(chunks)))
    assert [c.page for c in chunks] == sorted(c.page for c in chunks)  # order follows the pages
    assert all(it.order is None for it in parsed.items if it.kind != "text")


@pytest.mark.parametrize(("raw", "expected"), [
    ("D:20230115103000+05'30'", datetime(2023, 1, 15, 10, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
    ("D:20220301120000Z", datetime(2022, 3, 1, 12, tzinfo=UTC)),
    ("D:20210704", datetime(2021, 7, 4, tzinfo=UTC)),
    ("20191231235959-08'00", datetime(2019, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=8)))),
    ("D:2023", datetime(2023, 1, 1, tzinfo=UTC)),
    ("D:20231345", None),  # month 13
    ("yesterday", None),
    ("", None),
    (None, None),
])
def test_pdf_dates(raw: str | None, expected: datetime | None) -> None:
    assert pdf_date(raw) == expected


def test_creation_date_comes_from_the_pdf_metadata(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Dated document.")
    doc.set_metadata({"creationDate": "D:20200229083000Z", "title": "Leap"})
    parsed = parse_file(info_of(save(doc, tmp_path / "dated.pdf")), cfg, media)
    assert parsed.document.created == datetime(2020, 2, 29, 8, 30, tzinfo=UTC)
    undated = parse_file(info_of(report_pdf(tmp_path / "undated.pdf", pages=1)), cfg, media)
    assert undated.document.created is None
