"""Fixtures of the ingest tests: a fast config and a media folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import IngestConfig


@pytest.fixture
def cfg() -> IngestConfig:
    """No OCR, no page renders: the fast path most tests need."""
    return IngestConfig(ocr="none", render_pages=False, page_dpi=36)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """Where parsed images go."""
    return tmp_path / "media"
