"""PDF structure pass (pass 1 of :mod:`ingest.pdf`): every page's text blocks, drawings, table and
figure regions (text and geometry only), then the document-level steps: header/footer removal,
which pages need OCR, heading levels and each page's section.
"""

from __future__ import annotations

from typing import Any

import pymupdf

from ingest import figures, layout, tables, text_tables
from ingest.chunk import Paragraph
from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.layout import Block, Rect
from ingest.ocr import NoOcr, OcrEngine, other_script
from ingest.pdf_pixels import _check_images, _ocr_into
from ingest.pdf_state import CACHE_PAGES, _bbox, _Pending, _State, empty_mupdf_cache
from ingest.records import FileInfo


def _keep_only_text(st: _State, before: list[list[Block]]) -> None:
    """Give back the margin lines of every page left with no text at all (not even from OCR):
    a line repeated near the top of every page ("Page 3: ... ITEM-0003") that is all a page
    holds is its content, not a header."""
    for idx, blocks in enumerate(st.blocks):
        if not blocks and before[idx] and not st.ocr.get(idx):
            st.blocks[idx] = before[idx]
            st.ocr.pop(idx, None)


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


def _structure_pass(doc: pymupdf.Document, info: FileInfo, cfg: IngestConfig, engine: OcrEngine,
                    st: _State) -> None:
    """Pass 1 over every page, then the document-level steps (margins, OCR choice, sections)."""
    failed_pages = 0
    for pno in range(doc.page_count):
        if pno and pno % CACHE_PAGES == 0:
            empty_mupdf_cache()
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
    empty_mupdf_cache()
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
    if cfg.ocr_first_languages and not isinstance(engine, NoOcr):
        # The text layer names the script (a Korean report's figures are Korean); a scan has none,
        # so its first OCR'd page is read now and tells for the rest of the document.
        st.ocr_full = other_script(" ".join(b.text for blocks in before for b in blocks))
        if chosen and not st.ocr_full:
            _ocr_into(doc, chosen[0], engine, cfg, st, probe=True)
            chosen = chosen[1:]  # done, or failed with a warning: not again
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
