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
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pymupdf

from ingest import figures, layout, tables, text_tables
from ingest.chunk import Paragraph, chunk_paragraphs, page_item_text
from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.layout import Block, Rect
from ingest.limits import MIN_OCR_DPI, MIN_RENDER_DPI, plan_render
from ingest.media import doc_media_dir, write_atomic
from ingest.ocr import NoOcr, OcrEngine, get_ocr_engine, text_of
from ingest.parts import FilePart, merge_parts
from ingest.records import (
    BBox,
    Document,
    Figure,
    FileInfo,
    Item,
    ItemKind,
    PageImage,
    PageWarning,
    ParsedFile,
    Table,
    TextChunk,
    item_id,
)

log = logging.getLogger(__name__)

PART_PAGES = 16
"""Pages per streamed part: small enough that the embedder starts early, big enough that a
part's overhead (one pickle between processes) is noise."""


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


def _bbox(r: Rect) -> BBox:
    x0, y0, x1, y1 = r
    return BBox(x0=x0, y0=y0, x1=max(x0, x1), y1=max(y0, y1))


def _cover(boxes: list[Rect]) -> Rect:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _render(page: pymupdf.Page, dpi: int, clip: Rect | None = None) -> tuple[bytes, int, int]:
    # Boxes are unrotated; get_pixmap clips in the displayed (rotated) page.
    box = pymupdf.Rect(clip) * page.rotation_matrix if clip else None
    pix = page.get_pixmap(dpi=dpi, clip=box, alpha=False)
    return pix.tobytes("png"), pix.width, pix.height


def _limited_render(page: pymupdf.Page, dpi: int, st: _State, what: str, clip: Rect | None = None,
                    min_dpi: int = MIN_RENDER_DPI) -> tuple[bytes, int, int, int] | None:
    """``_render`` within ``ingest.max_render_pixels``: (png, width, height, dpi used), at a lower
    resolution when the asked one would exceed it; None (with a page warning) when the page
    cannot be rendered within the limits."""
    pno = page.number + 1
    if pno in st.unrenderable:
        return None
    x0, y0, x1, y1 = clip or layout.page_box(page)
    plan = plan_render(x1 - x0, y1 - y0, dpi, st.max_render_pixels, what=what, min_dpi=min_dpi)
    if plan.note:
        st.warn(pno, "render limited", plan.note)
    if plan.dpi is None:
        return None
    png, width, height = _render(page, plan.dpi, clip)
    return png, width, height, plan.dpi


def _check_images(page: pymupdf.Page, cfg: IngestConfig, st: _State) -> bool:
    """Mark the page unrenderable when it holds an image over ``ingest.max_image_pixels``: every
    render decodes it whole. Sizes come from the image dictionaries, nothing is decoded."""
    sizes = [(int(img[2]), int(img[3])) for img in page.get_images(full=False)]
    if not sizes:
        return False
    width, height = max(sizes, key=lambda s: s[0] * s[1], default=(0, 0))
    if width * height > cfg.max_image_pixels:
        pno = page.number + 1
        st.unrenderable.add(pno)
        st.warn(pno, "image too large",
                f"an embedded image of {width}×{height} = {width * height:,} pixels > ingest.max_image_pixels = "
                f"{cfg.max_image_pixels:,}; the page is not rendered, OCR'd or searched for figures "
                "(its text layer is kept)")
    return True


def _ocr_page(page: pymupdf.Page, engine: OcrEngine, cfg: IngestConfig, margin_texts: set[str],
              st: _State) -> list[tuple[str, Rect]]:
    """OCR paragraphs of ``page`` with their boxes in PDF points; repeated margin lines dropped."""
    rendered = _limited_render(page, cfg.ocr_dpi, st, "OCR render", min_dpi=MIN_OCR_DPI)
    if rendered is None:
        return []
    png, _, _, dpi = rendered
    # Pixels → points of the rendered (rotated) page → the unrotated space text boxes use.
    to_page = pymupdf.Matrix(72 / dpi, 72 / dpi) * page.derotation_matrix
    paragraphs: dict[int, list[tuple[str, Rect]]] = {}
    for line in engine.ocr_lines(png, cfg.ocr_languages):
        if layout.masked(line.text) in margin_texts:
            continue
        r = pymupdf.Rect(line.box) * to_page
        paragraphs.setdefault(line.paragraph, []).append((line.text, (r.x0, r.y0, r.x1, r.y1)))
    return [(layout.join_lines([t for t, _ in lines]), _cover([b for _, b in lines])) for lines in paragraphs.values()]


def _keep_only_text(st: _State, before: list[list[Block]]) -> None:
    """Give back the margin lines of every page left with no text at all (not even from OCR):
    a line repeated near the top of every page ("Page 3: ... ITEM-0003") that is all a page
    holds is its content, not a header."""
    for idx, blocks in enumerate(st.blocks):
        if not blocks and before[idx] and not st.ocr.get(idx):
            st.blocks[idx] = before[idx]
            st.ocr.pop(idx, None)


def _words_only(ocr: str) -> str:
    """OCR of a photo is mostly noise ("|| ~ ee"): keep it only if it holds real words."""
    words = re.findall(r"[^\W\d_]{3,}", ocr)
    return ocr if len(words) >= 2 else ""


def _tables(page: pymupdf.Page, blocks: list[Block], drawings: list[dict[str, Any]],
            cfg: IngestConfig, st: _State) -> list[Rect]:
    pno = page.number + 1
    # Ruled tables are made of drawn lines: pages without enough rules are not searched, as
    # find_tables is the slowest step of the page pass.
    regions = tables.find_tables(page) if tables.may_have_tables(drawings) else []
    if not regions and cfg.table_strategy == "lines+text":
        regions = text_tables.find_text_tables(page, drawings)
    for region in regions:
        caption = layout.find_caption(blocks, region.bbox, ("table",)) or tables.title_above(blocks, region.bbox)
        for part in tables.split_rows(region.header, region.rows, cfg.chunk_tokens):
            boxes = [b for b in [region.header_box, *(region.row_boxes[i] for i in part)] if b]
            box = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                   max(b[2] for b in boxes), max(b[3] for b in boxes)) if boxes else region.bbox
            md = tables.markdown(region.header, [region.rows[i] for i in part])
            n = sum(1 for p in st.pending if p.kind == "table" and p.page == pno) + 1
            st.pending.append(_Pending("table", pno, box, {
                "text": tables.item_text(caption, md), "caption": caption, "image_path": None,
            }, name=f"table-p{pno:04d}-{n:02d}.png"))
    return [r.bbox for r in regions]


def _figures(page: pymupdf.Page, blocks: list[Block], drawings: list[dict[str, Any]],
             cfg: IngestConfig, engine: OcrEngine, exclude: list[Rect], st: _State) -> list[Rect]:
    pno = page.number + 1
    if pno in st.unrenderable:  # listing rasters hashes their pixels: decodes the oversized image
        return []
    page_rect = layout.page_box(page)
    found = figures.raster_figures(page, cfg.min_figure_px, st.seen_images)
    found += figures.vector_figures(page, drawings, cfg.min_figure_px, exclude + [f.bbox for f in found])
    vector_boxes: list[Rect] = []
    for n, fig in enumerate(found, start=1):
        box = fig.bbox
        if fig.source == "vector":
            box = figures.expand(box, blocks, page_rect)
            vector_boxes.append(box)
        caption = layout.find_caption(blocks, box, ("fig", "chart", "exhibit", "graph"))
        inner, near = figures.text_near(blocks, box, skip=caption)
        # Vector charts carry their labels in the text layer (``inner``); rasters need OCR.
        st.pending.append(_Pending("figure", pno, box, {"caption": caption}, name=f"figure-p{pno:04d}-{n:02d}.png",
                                   bridge=(caption, inner, near),
                                   ocr=fig.source == "raster" and not isinstance(engine, NoOcr)))
    return vector_boxes


def _page_pass(page: pymupdf.Page, cfg: IngestConfig, engine: OcrEngine, st: _State) -> None:
    """Pass 1 on one page: its text, geometry and the image items it will yield (rendered later).

    The page's entries are appended to ``st`` only at the end, so a page that fails mid-way
    leaves nothing half-recorded (its pending images are dropped by the caller)."""
    pno = page.number + 1
    has_images = _check_images(page, cfg, st)
    with st.timed("text"):
        blocks = layout.page_blocks(page)
    with st.timed("drawings"):
        drawings = figures.page_drawings(page) if (cfg.tables or cfg.figures) else []
    taken: list[Rect] = []
    if cfg.tables:
        with st.timed("tables"):
            taken += _tables(page, blocks, drawings, cfg, st)
    if cfg.figures:
        ocr_before = st.seconds["ocr"]
        with st.timed("figures"):
            taken += _figures(page, blocks, drawings, cfg, engine, taken, st)
        st.seconds["figures"] -= st.seconds["ocr"] - ocr_before  # stages must not overlap
    # Table cells and chart labels live in their own items; prose keeps the rest.
    prose = [b for b in blocks if not any(layout.inside(b.bbox, r) for r in taken)]
    x0, y0, x1, y1 = layout.page_box(page)
    ordered = layout.reading_order(prose, x1 - x0)
    if cfg.render_pages:
        st.pending.append(_Pending("page", pno, (x0, y0, x1, y1), {}, name=f"page-{pno:04d}.png"))
    st.blocks.append(ordered)
    st.heights.append(y1 - y0)
    st.chars.append(sum(len(b.text) for b in blocks))
    # Images, vector paths (outlined text) and annotations can show text the text layer lacks.
    unknown = not (cfg.tables or cfg.figures)  # drawings were not listed
    st.pictured.append(has_images or bool(drawings) or unknown or page.first_annot is not None)


def _page_paragraphs(st: _State, idx: int, section: tuple[str, ...]
                     ) -> tuple[list[Paragraph], str, tuple[str, ...]]:
    """Prose paragraphs of page ``idx`` (0-based) given the section in force at its start, the
    page's text (for its page item) and the section in force after it."""
    pno = idx + 1
    ocr = st.ocr.get(idx)
    if ocr:  # OCR found text: it replaces the (near-empty) text layer
        return ([Paragraph(text, pno, _bbox(box), section) for text, box in ocr],
                " ".join(text for text, _ in ocr), section)
    blocks = st.blocks[idx]
    paragraphs: list[Paragraph] = []
    for b in blocks:
        paragraphs.append(Paragraph(b.text, pno, _bbox(b.bbox), b.section))
        section = b.section
    return paragraphs, "\n".join(b.text for b in blocks), section


def _section_at(st: _State, pno: int, y: float, fallback: tuple[str, ...]) -> list[str]:
    section = fallback
    for b in st.blocks[pno - 1]:
        if b.bbox[1] <= y:
            section = b.section
    return list(section)


def _ocr_into(doc: pymupdf.Document, idx: int, engine: OcrEngine, cfg: IngestConfig, st: _State) -> None:
    try:
        with st.timed("ocr"):
            st.ocr[idx] = _ocr_page(doc.load_page(idx), engine, cfg, st.margin_texts, st)
    except Exception as exc:  # a page that cannot be OCR'd keeps its text layer
        st.warn(idx + 1, "OCR failed", f"{type(exc).__name__}: {exc}")


def _structure_pass(doc: pymupdf.Document, info: FileInfo, cfg: IngestConfig, engine: OcrEngine,
                    st: _State) -> None:
    """Pass 1 over every page, then the document-level steps (margins, OCR choice, sections)."""
    failed_pages = 0
    for pno in range(doc.page_count):
        page = doc.load_page(pno)
        try:
            _page_pass(page, cfg, engine, st)
        except Exception as exc:  # one broken page must not lose the document
            failed_pages += 1
            st.warn(pno + 1, "page skipped", f"{type(exc).__name__}: {exc}")
            st.pending = [p for p in st.pending if p.page != pno + 1]
            st.blocks.append([])
            _, top, _, bottom = layout.page_box(page)
            st.heights.append(bottom - top)
            st.chars.append(0)
            st.pictured.append(False)
    if failed_pages == doc.page_count:
        raise IngestError(info.path, "corrupt PDF", "no page could be read")
    with st.timed("chunk"):
        before = [[Block(lines=list(b.lines)) for b in blocks] for blocks in st.blocks]
        removed, st.margin_texts = layout.remove_repeated_margins(st.blocks, st.heights)
    chosen: list[int] = []
    if not isinstance(engine, NoOcr):
        # After margin removal: a scan with a typed page number or header is still a scan.
        for idx, chars in enumerate(st.chars):
            # A page whose text layer reads fine and holds nothing but text has nothing to OCR.
            text_only = chars > 0 and not st.pictured[idx]
            if chars - removed[idx] < cfg.ocr_min_chars and idx + 1 not in st.unrenderable and not text_only:
                chosen.append(idx)
    # A page left with nothing but its margins gets them back if OCR finds nothing, which changes
    # the headings of the whole document: OCR it now. The others wait for pass 2.
    for idx in chosen:
        if not st.blocks[idx] and before[idx]:
            _ocr_into(doc, idx, engine, cfg, st)
        else:
            st.late_ocr.add(idx)
    _keep_only_text(st, before)
    with st.timed("chunk"):
        layout.assign_sections(st.blocks)
    section: tuple[str, ...] = ()
    for idx in range(len(st.blocks)):
        st.start_section[idx + 1] = section
        _, _, after = _page_paragraphs(st, idx, section)
        if idx in st.late_ocr and after != section:
            # Its text layer changes the section in force unless OCR replaces it: read OCR now.
            st.late_ocr.discard(idx)
            _ocr_into(doc, idx, engine, cfg, st)
            _, _, after = _page_paragraphs(st, idx, section)
        section = after


def _render_pending(page: pymupdf.Page, pending: list[_Pending], folder: Path, cfg: IngestConfig,
                    engine: OcrEngine, st: _State) -> list[_Pending]:
    """Pass 2's pixels for one page: crops and page render to disk, figure OCR; the items kept."""
    kept: list[_Pending] = []
    for p in pending:
        if p.kind == "table":
            with st.timed("tables"):
                crop = _limited_render(page, cfg.figure_dpi, st, "table crop", p.bbox)
                image = write_atomic(folder / p.name, crop[0]) if crop else None
            kept.append(_Pending(p.kind, p.page, p.bbox, {**p.fields, "image_path": str(image) if image else None}))
        elif p.kind == "figure":
            with st.timed("figures"):
                crop = _limited_render(page, cfg.figure_dpi, st, "figure crop", p.bbox)
                if crop is None:
                    continue
                image = write_atomic(folder / p.name, crop[0])
            ocr = ""
            if p.ocr:
                with st.timed("ocr"):
                    big = _limited_render(page, cfg.ocr_dpi, st, "figure OCR render", p.bbox, min_dpi=MIN_OCR_DPI)
                    ocr = _words_only(text_of(engine.ocr_lines(big[0], cfg.ocr_languages))) if big else ""
            caption, inner, near = p.bridge
            bridge = "\n".join(" ".join(t.split()) for t in (caption, inner, ocr, near) if t.strip())
            kept.append(_Pending(p.kind, p.page, p.bbox, {**p.fields, "text": bridge, "image_path": str(image)}))
        else:
            with st.timed("render"):
                rendered = _limited_render(page, cfg.page_dpi, st, "page render")
                if rendered is None:
                    continue
                png, width, height, _ = rendered
                image = write_atomic(folder / p.name, png)
            kept.append(_Pending(p.kind, p.page, p.bbox, {"image_path": str(image), "width": width, "height": height}))
    return kept


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
        doc_id = info.sha256[:16]
        folder = doc_media_dir(media_dir, doc_id)
        engine: OcrEngine = get_ocr_engine(cfg.ocr)
        _structure_pass(doc, info, cfg, engine, st)
        metadata = doc.metadata or {}
        title = metadata.get("title") or ""
        if not title:
            title = next((b.text for blocks in st.blocks for b in blocks if b.heading_level), "")
        pages = doc.page_count
        document = Document(doc_id=doc_id, path=info.path, sha256=info.sha256, size=info.size,
                            mtime=info.mtime, pages=pages, title=title[:300] or Path(info.path).stem, mime=mime,
                            created=pdf_date(metadata.get("creationDate")))
        by_page: defaultdict[int, list[_Pending]] = defaultdict(list)
        for p in st.pending:
            by_page[p.page].append(p)
        st.pending = []
        common = {"doc_id": doc_id, "file": info.path}
        seq: defaultdict[tuple[str, int], int] = defaultdict(int)

        def next_id(kind: ItemKind, page: int) -> str:
            seq[(kind, page)] += 1
            return item_id(info.path, info.sha256, kind, page, seq[(kind, page)])

        sent_warnings, sent_seconds = 0, dict[str, float]()
        step = max(1, part_pages or PART_PAGES)
        for index, start in enumerate(range(0, pages, step)):
            items: list[Item] = []
            for idx in range(start, min(pages, start + step)):
                pno = idx + 1
                pending = by_page.pop(pno, [])
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
                                               **p.fields))
            # The structure pass's seconds go with the first part.
            base = {} if index == 0 else sent_seconds
            seconds = {k: round(v - base.get(k, 0.0), 4) for k, v in st.seconds.items() if v > base.get(k, 0.0)}
            sent_seconds = dict(st.seconds)
            warnings, sent_warnings = st.warnings[sent_warnings:], len(st.warnings)
            end = min(pages, start + step)
            yield FilePart(document=document, items=items, index=index, pages=end - start, last=end == pages,
                           seconds=seconds, warnings=warnings)
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
