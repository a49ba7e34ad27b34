"""Every registered format's parser passes the Parser contract (:mod:`rag.testing.parser`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.samples import build_hwpx
from rag.testing.parser import ParserContract
from tests.pdfs import write_corrupt, write_pages

PHRASE = "The XK-4471-B valve is rated for 40 bar."


class TestPdfParser(ParserContract):
    @pytest.fixture
    def sample(self, tmp_path: Path) -> Path:
        return write_pages(tmp_path / "manual.pdf", ["Valve manual", PHRASE])

    @pytest.fixture
    def broken(self, tmp_path: Path) -> Path | None:
        return write_corrupt(tmp_path / "broken.pdf")


class TestTextParsers(ParserContract):
    """Plain text, Markdown and HTML share one parser."""

    @pytest.fixture(params=["notes.txt", "notes.md", "notes.html"])
    def sample(self, request: pytest.FixtureRequest, tmp_path: Path) -> Path:
        path = tmp_path / request.param
        path.write_text(f"<h1>Maintenance notes</h1>\n\n<p>{PHRASE}</p>\n", encoding="utf-8")
        return path


class TestHwpxParser(ParserContract):
    @pytest.fixture
    def sample(self, tmp_path: Path) -> Path:
        path = tmp_path / "report.hwpx"
        path.write_bytes(build_hwpx([("heading", "점검 보고서"), ("text", "밸브 XK-4471-B의 정격 압력은 40 bar이다.")]))
        return path

    @pytest.fixture
    def broken(self, tmp_path: Path) -> Path | None:
        path = tmp_path / "broken.hwpx"
        path.write_bytes(b"PK\x03\x04 not really a zip")
        return path


class TestDocxParser(ParserContract):
    @pytest.fixture
    def sample(self, tmp_path: Path) -> Path:
        docx = pytest.importorskip("docx")
        path = tmp_path / "memo.docx"
        document = docx.Document()
        document.add_heading("Maintenance memo", level=1)
        document.add_paragraph(PHRASE)
        document.save(str(path))
        return path

    @pytest.fixture
    def broken(self, tmp_path: Path) -> Path | None:
        path = tmp_path / "broken.docx"
        path.write_bytes(b"PK\x03\x04 truncated")
        return path
