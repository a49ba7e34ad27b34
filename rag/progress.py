"""Ingest progress in pages: the numbers (:class:`PageProgress`), a page count found before
parsing (:func:`estimate_pages`) and the terminal bar (:class:`PageBar`).

The total is known up front for PDFs (PyMuPDF's ``page_count`` opens only the cross-reference
table: about a millisecond a file) and counted as one page for other formats until the file is
parsed; every parsed file then corrects it to the pages it really has, and a file that fails to
parse leaves the total. So the total is exact for PDF folders from the start and exact for every
folder once parsing ends.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, TextIO

import pymupdf
from pydantic import BaseModel, ConfigDict
from tqdm.auto import tqdm

from ingest.records import FileInfo

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


class _PageTqdm(tqdm):
    """tqdm with thousands separators and a whole pages-per-second rate in its format."""

    @property
    def format_dict(self) -> dict[str, Any]:
        d = super().format_dict
        rate = d.get("rate") or (d["n"] / d["elapsed"] if d.get("elapsed") else 0)
        d["n_comma"] = f"{int(d['n']):,}"
        d["total_comma"] = f"{int(d['total'] or 0):,}"
        d["pps"] = f"{rate:.0f}" if rate >= 1 else f"{rate:.1f}"
        return d


BAR_FORMAT = "{desc}  {n_comma}/{total_comma} pages  {pps} p/s  eta {remaining}"


class PageBar:
    """``ingest  1,234/8,681 pages  41 p/s  eta 3:01`` on a terminal (off when not a TTY unless
    forced, off when ``disable``)."""

    def __init__(self, total: int, *, disable: bool | None, file: TextIO | None = None) -> None:
        self._bar = _PageTqdm(total=total, desc="ingest", unit="page", bar_format=BAR_FORMAT,
                              disable=disable, smoothing=0.1, file=file)

    def show(self, progress: PageProgress) -> None:
        bar = self._bar
        if bar.disable:
            return
        bar.total = progress.pages_total
        bar.update(progress.pages_done - bar.n)

    def close(self) -> None:
        self._bar.close()
