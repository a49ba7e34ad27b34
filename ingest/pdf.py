"""PDF → items: text chunks, tables, figures, page renders and OCR, page by page.

Two passes, so a long document streams out in page ranges (:func:`iter_pdf_parts`):

1. **Structure** (every page): text blocks, drawings, table and figure regions with their text,
   captions and crop boxes — text and geometry only. Then the document-level steps that need every
   page: header/footer removal, which pages need OCR, heading levels and each page's section.
2. **Pixels and items** (page by page, in ranges of :data:`PART_PAGES`): page renders, table and
   figure crops (straight to disk), OCR, then the page's items. Each range is a
   :class:`~ingest.parts.FilePart`, handed on while later pages are still rendered and OCR'd.

The items are exactly those of one whole-document pass: chunks never span two pages, so chunking
page by page is chunking the document; the only OCR results that could change another page (a page
whose text layer holds nothing but repeated margins, or one whose text changes the section in
force) are read in pass 1. Memory holds text and geometry of the document plus one range's items.

Pass 1 lives in :mod:`ingest.pdf_structure`, the pixels (renders, crops, OCR) in
:mod:`ingest.pdf_pixels`, the state both share in :mod:`ingest.pdf_state`; this module opens the
file and builds each part's items.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pymupdf

from ingest.chunk import chunk_paragraphs, page_item_text
from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.media import doc_media_dir
from ingest.ocr import OcrEngine, get_ocr_engine
from ingest.parts import FilePart, merge_parts
from ingest.pdf_pixels import _ocr_into, _render_pending
from ingest.pdf_state import _bbox, _Pending, _State, empty_mupdf_cache
from ingest.pdf_structure import _page_paragraphs, _section_at, _structure_pass
from ingest.records import (
    Document,
    Figure,
    FileInfo,
    Item,
    ItemKind,
    PageImage,
    ParsedFile,
    Table,
    TextChunk,
    item_id,
)

log = logging.getLogger(__name__)

PART_PAGES = 16
"""Pages per streamed part: small enough that the embedder starts early, big enough that a
part's overhead (one pickle between processes) is noise."""


def open_pdf(path: str, data: bytes, cfg: IngestConfig, filetype: str = "pdf") -> pymupdf.Document:
    """Open and unlock a document, or raise ``IngestError`` with the reason."""
    try:
        doc = pymupdf.open(stream=data, filetype=filetype)
    except Exception as exc:  # MuPDF raises several types for broken files
        raise IngestError(path, "corrupt PDF", str(exc)) from exc
    if doc.needs_pass:
        if cfg.password is None:
            raise IngestError(path, "encrypted PDF (no password configured)")
        if not doc.authenticate(cfg.password):
            raise IngestError(path, "encrypted PDF (wrong password)")
    if doc.page_count == 0:
        raise IngestError(path, "0 pages")
    if getattr(doc, "is_repaired", False):
        # Truncated or damaged: MuPDF rebuilt the structure; content may be incomplete.
        log.warning("%s: damaged PDF repaired by MuPDF; some content may be missing", path)
    return doc


@dataclass
class PdfPlan:
    """What pass 1 leaves for pass 2: the document, the structure state and each page's pending
    image items. Picklable, so page ranges of one PDF can be parsed by other workers
    (:func:`parts_of_range`) from the same plan."""

    document: Document
    state: _State
    by_page: dict[int, list[_Pending]] = field(default_factory=dict)


def plan_pdf(info: FileInfo, doc: pymupdf.Document, cfg: IngestConfig, engine: OcrEngine,
             st: _State, mime: str = "application/pdf") -> PdfPlan:
    """Pass 1 of an open PDF into ``st``: the :class:`PdfPlan` every page range is parsed from."""
    _structure_pass(doc, info, cfg, engine, st)
    metadata = doc.metadata or {}
    title = metadata.get("title") or ""
    if not title:
        title = next((b.text for blocks in st.blocks for b in blocks if b.heading_level), "")
    document = Document(doc_id=info.sha256[:16], path=info.path, sha256=info.sha256, size=info.size,
                        mtime=info.mtime, pages=doc.page_count, title=title[:300] or Path(info.path).stem, mime=mime,
                        created=pdf_date(metadata.get("creationDate")))
    by_page: defaultdict[int, list[_Pending]] = defaultdict(list)
    for p in st.pending:
        by_page[p.page].append(p)
    st.pending = []
    return PdfPlan(document=document, state=st, by_page=dict(by_page))


def parts_of_range(doc: pymupdf.Document, plan: PdfPlan, info: FileInfo, cfg: IngestConfig, media_dir: Path,
                   engine: OcrEngine, start: int, end: int, part_pages: int | None = None, *,
                   first_seconds: bool = True) -> Iterator[FilePart]:
    """Pass 2 of pages ``start`` to ``end`` (0-based, end excluded; ``start`` a multiple of the part
    size) as :class:`FilePart` s of ``part_pages`` pages, numbered as in the whole document.

    The plan's state is read and extended (OCR, warnings, seconds): give each worker its own copy.
    ``first_seconds``: the stage seconds already in the state (pass 1's) go with the first part;
    otherwise only what this range adds is reported."""
    st, document = plan.state, plan.document
    pages = document.pages
    folder = doc_media_dir(media_dir, document.doc_id)
    common = {"doc_id": document.doc_id, "file": info.path}
    seq: defaultdict[tuple[str, int], int] = defaultdict(int)

    def next_id(kind: ItemKind, page: int) -> str:
        seq[(kind, page)] += 1
        return item_id(info.path, info.sha256, kind, page, seq[(kind, page)])

    sent_warnings = 0 if first_seconds else len(st.warnings)
    sent_seconds: dict[str, float] = {} if first_seconds else dict(st.seconds)
    step = max(1, part_pages or PART_PAGES)
    for begin in range(start, min(end, pages), step):
        items: list[Item] = []
        for idx in range(begin, min(pages, end, begin + step)):
            pno = idx + 1
            pending = plan.by_page.pop(pno, [])
            if idx in st.late_ocr:
                _ocr_into(doc, idx, engine, cfg, st)
            if pending:
                try:
                    pending = _render_pending(doc.load_page(idx), pending, folder, cfg, engine, st)
                except Exception as exc:  # its text stays; its images are lost
                    st.warn(pno, "page images skipped", f"{type(exc).__name__}: {exc}")
                    pending = []
            with st.timed("chunk"):
                section = st.start_section.get(pno, ())
                paragraphs, page_text, _ = _page_paragraphs(st, idx, section)
                for c in chunk_paragraphs(paragraphs, cfg.chunk_tokens, cfg.chunk_overlap):
                    items.append(TextChunk(id=next_id("text", c.page), page=c.page, bbox=c.bbox, text=c.text,
                                           section=list(c.section), **common))
            for p in pending:
                kw = {"id": next_id(p.kind, p.page), "page": p.page, "bbox": _bbox(p.bbox),
                      "section": _section_at(st, p.page, p.bbox[1], section), **common}
                if p.kind == "table":
                    items.append(Table(**kw, **p.fields))
                elif p.kind == "figure":
                    items.append(Figure(**kw, **p.fields))
                else:
                    tabled = [str(t.fields["text"]) for t in pending if t.kind == "table"]
                    items.append(PageImage(**kw, text=page_item_text(page_text, tabled, cfg.page_item_text),
                                           ocr=bool(st.ocr.get(idx)), **p.fields))
        seconds = {k: round(v - sent_seconds.get(k, 0.0), 4) for k, v in st.seconds.items()
                   if v > sent_seconds.get(k, 0.0)}
        sent_seconds = dict(st.seconds)
        warnings, sent_warnings = st.warnings[sent_warnings:], len(st.warnings)
        stop = min(pages, end, begin + step)
        empty_mupdf_cache()  # the range's decoded images are not needed by the next range
        yield FilePart(document=document, items=items, index=begin // step, pages=stop - begin, last=stop == pages,
                       seconds=seconds, warnings=warnings)


def iter_pdf_parts(info: FileInfo, data: bytes, cfg: IngestConfig, media_dir: Path, *,
                   filetype: str = "pdf", mime: str = "application/pdf",
                   part_pages: int | None = None) -> Iterator[FilePart]:
    """Parse one PDF into :class:`FilePart` s of ``part_pages`` pages each (None:
    :data:`PART_PAGES`), in page order.

    Text chunks' ``order`` is left unset (0); :func:`ingest.parse.parse_parts` numbers them.
    Raises ``IngestError`` (before the first part) for files that cannot be opened or read; the
    page-level failures are those of :func:`parse_pdf`, as ``PageWarning`` s on the part holding
    the page. A page whose images fail in pass 2 keeps its text items ("page images skipped").
    """
    st = _State(path=info.path, max_render_pixels=cfg.max_render_pixels)
    with st.timed("open"):
        doc = open_pdf(info.path, data, cfg, filetype)
    try:
        engine: OcrEngine = get_ocr_engine(cfg.ocr)
        plan = plan_pdf(info, doc, cfg, engine, st, mime)
        yield from parts_of_range(doc, plan, info, cfg, media_dir, engine, 0, doc.page_count, part_pages)
    finally:
        doc.close()


def parse_pdf(info: FileInfo, data: bytes, cfg: IngestConfig, media_dir: Path, *,
              filetype: str = "pdf", mime: str = "application/pdf") -> ParsedFile:
    """Parse one PDF (or any document MuPDF opens, given as PDF ``data``) into items.

    Raises ``IngestError`` for files that cannot be opened (corrupt, encrypted, no pages).
    A page that fails mid-way (or a render or OCR of it) is skipped with a ``PageWarning`` in
    ``ParsedFile.warnings``; so is a render over ``cfg.max_render_pixels`` (made smaller) or a
    page holding an image over ``cfg.max_image_pixels``. The rest of the document goes on.
    The items are those of :func:`iter_pdf_parts`, text chunks first.
    """
    parts = list(iter_pdf_parts(info, data, cfg, media_dir, filetype=filetype, mime=mime,
                                part_pages=1 << 30))
    return merge_parts(parts, chunks_first=True)


_PDF_DATE = re.compile(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:([Zz+-])(\d{2})?'?(\d{2})?'?)?")


def pdf_date(value: str | None) -> datetime | None:
    """A PDF date string (``D:YYYYMMDDHHmmSS+HH'mm'``, every part after the year optional) as an
    aware datetime (UTC when the string gives no zone); None when absent or malformed."""
    if not value:
        return None
    m = _PDF_DATE.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, sign, tz_h, tz_m = m.groups()
    offset = timedelta(0)
    if sign in ("+", "-"):
        offset = timedelta(hours=int(tz_h or 0), minutes=int(tz_m or 0)) * (1 if sign == "+" else -1)
    try:
        return datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                        int(second or 0), tzinfo=timezone(offset))
    except ValueError:  # "D:20231345..." and other impossible dates
        return None
