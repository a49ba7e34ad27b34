"""PDF pixels: page renders within the pixel limits, crops to disk, and OCR of pages and figures.

The pixel side of :mod:`ingest.pdf` (pass 2, plus the few OCR reads pass 1 needs early).
"""

from __future__ import annotations

import re
from pathlib import Path

import pymupdf

from ingest import layout
from ingest.config import IngestConfig
from ingest.layout import Rect
from ingest.limits import MIN_OCR_DPI, MIN_RENDER_DPI, plan_render
from ingest.media import write_atomic
from ingest.ocr import OcrEngine, recognise, text_of
from ingest.pdf_state import _cover, _Pending, _State


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


def _first_languages(cfg: IngestConfig, st: _State) -> str | None:
    """The languages of a first OCR pass for this document's images (None: ``ocr_languages`` at once)."""
    return None if st.ocr_full else cfg.ocr_first_languages


def _ocr_page(page: pymupdf.Page, engine: OcrEngine, cfg: IngestConfig, margin_texts: set[str],
              st: _State) -> tuple[list[tuple[str, Rect]], bool]:
    """OCR paragraphs of ``page`` with their boxes in PDF points, repeated margin lines dropped; and
    whether they were read with ``ingest.ocr_languages`` (the first pass was not sure, or skipped)."""
    rendered = _limited_render(page, cfg.ocr_dpi, st, "OCR render", min_dpi=MIN_OCR_DPI)
    if rendered is None:
        return [], False
    png, _, _, dpi = rendered
    # Pixels → points of the rendered (rotated) page → the unrotated space text boxes use.
    to_page = pymupdf.Matrix(72 / dpi, 72 / dpi) * page.derotation_matrix
    paragraphs: dict[int, list[tuple[str, Rect]]] = {}
    lines, full = recognise(engine, png, cfg.ocr_languages, _first_languages(cfg, st))
    for line in lines:
        if layout.masked(line.text) in margin_texts:
            continue
        r = pymupdf.Rect(line.box) * to_page
        paragraphs.setdefault(line.paragraph, []).append((line.text, (r.x0, r.y0, r.x1, r.y1)))
    return [(layout.join_lines([t for t, _ in ls]), _cover([b for _, b in ls])) for ls in paragraphs.values()], full


def _words_only(ocr: str) -> str:
    """OCR of a photo is mostly noise ("|| ~ ee"): keep it only if it holds real words."""
    words = re.findall(r"[^\W\d_]{3,}", ocr)
    return ocr if len(words) >= 2 else ""


def _ocr_into(doc: pymupdf.Document, idx: int, engine: OcrEngine, cfg: IngestConfig, st: _State,
              probe: bool = False) -> None:
    """OCR page ``idx`` into ``st.ocr``. ``probe`` (pass 1, the document's first OCR'd page): when it
    needed ``ingest.ocr_languages``, so do all the document's images (``st.ocr_full``)."""
    try:
        with st.timed("ocr"):
            st.ocr[idx], full = _ocr_page(doc.load_page(idx), engine, cfg, st.margin_texts, st)
            if probe and full:
                st.ocr_full = True
    except Exception as exc:  # a page that cannot be OCR'd keeps its text layer
        st.warn(idx + 1, "OCR failed", f"{type(exc).__name__}: {exc}")


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
                    lines = recognise(engine, big[0], cfg.ocr_languages, _first_languages(cfg, st))[0] if big else []
                    ocr = _words_only(text_of(lines))
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
