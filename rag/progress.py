"""Ingest progress in pages: the numbers (:class:`PageProgress`), a page count found before
parsing (:func:`estimate_pages`) and the terminal line (:class:`PageBar`).

The total is known up front for PDFs (PyMuPDF's ``page_count`` opens only the cross-reference
table: about a millisecond a file) and counted as one page for other formats until the file is
parsed; every parsed file then corrects it to the pages it really has, and a file that fails to
parse leaves the total. So the total is exact for PDF folders from the start and exact for every
folder once parsing ends.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

import pymupdf
from pydantic import BaseModel, ConfigDict

from ingest.records import FileInfo
from rag.cli_progress import ProgressLine

log = logging.getLogger(__name__)


class PageProgress(BaseModel):
    """Where an ingest run stands, as handed to ``on_pages`` hooks."""

    model_config = ConfigDict(extra="forbid")

    files_done: int = 0
    """Files finished (stored, or failed) out of ``files_total``."""
    files_total: int = 0
    pages_parsed: int = 0
    """Pages of the files parsed so far (taken from the parse queue)."""
    pages_done: int = 0
    """Pages of the files finished: embedded and stored (or failed)."""
    pages_total: int = 0
    """Pages of the files to parse: see the module doc for how it is known."""
    seconds: float = 0.0
    """Since parsing started."""

    @property
    def pages_per_s(self) -> float:
        return self.pages_done / self.seconds if self.seconds > 0 else 0.0


def estimate_pages(info: FileInfo) -> int:
    """Pages of a file before parsing: a PDF's page count, else 1 (corrected once parsed)."""
    if Path(info.path).suffix.lower() != ".pdf":
        return 1
    try:
        with pymupdf.open(info.path) as doc:
            return max(int(doc.page_count), 1)
    except Exception as exc:  # a broken PDF fails later, with its reason; here it only counts 1
        log.debug("%s: no page count (%s)", info.path, exc)
        return 1


class PageBar:
    """``ingest  1,234/8,681 pages  41 p/s  eta 3:01`` on a terminal, drawn by the command's
    :class:`~rag.cli_progress.ProgressLine` (off when not a TTY unless forced, off when ``disable``)."""

    def __init__(self, total: int, *, disable: bool | None, file: TextIO | None = None) -> None:
        stream = file or sys.stderr
        on = not disable if disable is not None else bool(getattr(stream, "isatty", lambda: False)())
        self._line = ProgressLine(stream, unit="pages") if on else None

    def show(self, progress: PageProgress) -> None:
        if self._line is not None:
            self._line(progress.pages_done, progress.pages_total, elapsed=progress.seconds)

    def close(self) -> None:
        if self._line is not None:
            self._line.close()
