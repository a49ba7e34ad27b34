"""What the PDF parser's two passes share: the per-document state and the pending image items.

Pass 1 (:mod:`ingest.pdf_structure`) fills a :class:`_State`; pass 2 (:mod:`ingest.pdf_pixels`
and :func:`ingest.pdf.iter_pdf_parts`) reads it page range by page range.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pymupdf

from ingest.layout import Block, Rect
from ingest.records import BBox, ItemKind, PageWarning

log = logging.getLogger("ingest.pdf")  # the parser's logger, as before the split

CACHE_PAGES = 16
"""Pages read between two emptyings of MuPDF's resource cache (:func:`empty_mupdf_cache`)."""


def empty_mupdf_cache() -> None:
    """Empty MuPDF's store: its process-wide cache of decoded resources (images, fonts, ...).

    MuPDF keeps every decoded image it met until the store reaches its limit (256 MB): a parse
    worker reading a 1,000-page PDF with one 300x200 photo a page grew by ~180 MB in pass 1 alone
    (docs/benchmarks.md, "Peak RSS of a parse worker"). Emptied every :data:`CACHE_PAGES` pages
    and after every part, a worker's memory is bounded by a page range, not by the document. Only
    a cache: what is in use stays, and what is dropped is decoded again if a later page needs it.
    """
    pymupdf.TOOLS.store_shrink(100)


@dataclass
class _Pending:
    """An image item found in pass 1, rendered (its crop or page image) in pass 2."""

    kind: ItemKind
    page: int
    bbox: Rect
    fields: dict[str, object]
    name: str = ""
    """File name of its image under the document's media folder."""
    bridge: tuple[str, str, str] = ("", "", "")
    """Figures: (caption, text inside, text near); OCR of the crop is added in pass 2."""
    ocr: bool = False
    """Figures: OCR the crop (a raster figure with an OCR engine)."""


@dataclass
class _State:
    """What the page pass collects for the document-level steps."""

    path: str = ""
    max_render_pixels: int = 40_000_000
    blocks: list[list[Block]] = field(default_factory=list)  # prose blocks per page
    heights: list[float] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)  # text-layer characters per page
    pictured: list[bool] = field(default_factory=list)  # whether a page may hold text only pixels show
    ocr: dict[int, list[tuple[str, Rect]]] = field(default_factory=dict)  # page index → OCR paragraphs
    pending: list[_Pending] = field(default_factory=list)
    seen_images: set[str] = field(default_factory=set)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    warnings: list[PageWarning] = field(default_factory=list)
    unrenderable: set[int] = field(default_factory=set)  # pages holding an image over max_image_pixels
    late_ocr: set[int] = field(default_factory=set)  # page indexes OCR'd in pass 2
    # The document reads in a script ``ingest.ocr_first_languages`` does not (its text layer, or its
    # first OCR'd page): its images are OCR'd with ``ingest.ocr_languages`` at once. Set in pass 1
    # only, so every page range (in any worker) decides alike.
    ocr_full: bool = False
    margin_texts: set[str] = field(default_factory=set)
    start_section: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def warn(self, pno: int, reason: str, detail: str) -> None:
        """Record (and log) what was lost or degraded on page ``pno``."""
        log.warning("%s: page %d: %s: %s", self.path, pno, reason, detail)
        self.warnings.append(PageWarning(page=pno, reason=reason, detail=detail))

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t0


def _bbox(r: Rect) -> BBox:
    x0, y0, x1, y1 = r
    return BBox(x0=x0, y0=y0, x1=max(x0, x1), y1=max(y0, y1))


def _cover(boxes: list[Rect]) -> Rect:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
