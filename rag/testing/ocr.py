"""The OCR engine contract: what every OCR engine must do, as a test class to subclass.

A backend's test module subclasses :class:`OcrEngineContract` and provides the ``engine`` fixture.
Needs pytest (the ``dev`` extra).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageFont

from ingest.ocr import OCR_ENGINES, OcrEngine


def text_png(text: str, size: tuple[int, int] = (900, 160)) -> bytes:
    """A white PNG with ``text`` in black, large enough to read."""
    img = Image.new("L", size, 255)
    ImageDraw.Draw(img).text((20, 50), text, fill=0, font=ImageFont.load_default(size=36))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class OcrEngineContract:
    """Tests every :class:`~ingest.ocr.OcrEngine` passes. Subclass and provide ``engine``."""

    @pytest.fixture
    def engine(self) -> OcrEngine:
        raise NotImplementedError("an OcrEngineContract subclass provides the `engine` fixture")

    def test_is_a_registered_engine(self, engine: OcrEngine) -> None:
        assert isinstance(engine, OcrEngine)
        assert engine.name in OCR_ENGINES.names()

    def test_a_blank_image_has_no_lines(self, engine: OcrEngine) -> None:
        blank = io.BytesIO()
        Image.new("L", (400, 200), 255).save(blank, format="PNG")
        assert [line for line in engine.ocr_lines(blank.getvalue(), "kor+eng") if line.text.strip()] == []

    def test_lines_sit_inside_the_image(self, engine: OcrEngine) -> None:
        for line in engine.ocr_lines(text_png("Quarterly inspection report"), "eng"):
            x0, y0, x1, y1 = line.box
            assert 0 <= x0 <= x1 <= 900 and 0 <= y0 <= y1 <= 160

    def test_garbage_bytes_never_raise(self, engine: OcrEngine) -> None:
        assert engine.ocr_lines(b"not an image", "eng") == []
