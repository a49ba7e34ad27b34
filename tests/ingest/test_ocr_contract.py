"""Every registered OCR engine passes the OCR engine contract (:mod:`rag.testing.ocr`)."""

from __future__ import annotations

import pytest

from ingest.ocr import NoOcr, OcrEngine, TesseractOcr
from rag.testing.ocr import OcrEngineContract, text_png

from .builders import needs_tesseract


class TestNoOcr(OcrEngineContract):
    @pytest.fixture
    def engine(self) -> OcrEngine:
        return NoOcr()


@needs_tesseract
class TestTesseract(OcrEngineContract):
    @pytest.fixture
    def engine(self) -> OcrEngine:
        return TesseractOcr()

    def test_reads_printed_text(self, engine: OcrEngine) -> None:
        lines = engine.ocr_lines(text_png("Quarterly inspection report"), "eng")
        assert "inspection" in " ".join(line.text for line in lines).lower()
