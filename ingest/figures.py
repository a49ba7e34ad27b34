"""Figures: embedded raster images and vector drawings (charts) located on a page."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pymupdf

from ingest.layout import CAPTION_RE, Block, Rect, page_box

log = logging.getLogger(__name__)

MAX_FIGURES_PER_PAGE = 12  # more is a mosaic or a contact sheet: the page render covers it
_MAX_IMAGES_TO_MERGE = 400  # pairwise merging is quadratic: pages beyond this are capped
_MAX_PAGE_SHARE = 0.85  # a raster covering more of the page is a scan or a background
_MIN_PATHS = 3  # fewer drawing paths in a region: a rule, a box or a shaded band, not a chart
MAX_DRAWINGS = 5000  # beyond this a page is a map or a CAD plot: one region, no clustering
# Share of a region covered by words above which it is a shaded table or a text box, not a
# chart (measured: bar charts ~0.01-0.1, shaded financial tables and boxed text 0.18-0.4).
_MAX_TEXT_COVER = 0.15


@dataclass
class FigureRegion:
    """A figure's place on a page; ``digest`` identifies a raster image's pixels."""

    bbox: Rect
    source: str  # "raster" or "vector"
    digest: str = ""


def _area(r: Rect) -> float:
    return max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])


def _overlap_share(a: Rect, b: Rect) -> float:
    """Share of ``a``'s area that lies inside ``b``."""
    inter = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return _area(inter) / _area(a) if _area(a) > 0 else 0.0


def _touch(a: Rect, b: Rect, gap: float = 2.0) -> bool:
    return a[0] - gap <= b[2] and b[0] - gap <= a[2] and a[1] - gap <= b[3] and b[1] - gap <= a[3]


def _merge_touching(regions: list[tuple[Rect, list[str]]]) -> list[tuple[Rect, list[str]]]:
    """Union overlapping or adjacent image boxes: tiled or layered images are one figure."""
    merged = list(regions)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                (a, da), (b, db) = merged[i], merged[j]
                if _touch(a, b):
                    box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    merged[i] = (box, da + db)
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return merged


def raster_figures(page: pymupdf.Page, min_px: int, seen: set[str]) -> list[FigureRegion]:
    """Embedded images big enough to matter, each image content once per document.

    Overlapping or touching images merge into one figure (brochures layer dozens of image
    strips into one picture); at most ``MAX_FIGURES_PER_PAGE`` per page, largest first.
    ``seen`` holds digests taken on earlier pages (a logo on every page becomes one
    figure) and is updated.
    """
    box = page_box(page)
    page_rect, page_area = pymupdf.Rect(box), _area(box)
    candidates: list[tuple[Rect, list[str]]] = []
    for info in page.get_image_info(hashes=True):
        bbox: Rect = tuple(pymupdf.Rect(info["bbox"]) & page_rect)
        w_pt, h_pt = bbox[2] - bbox[0], bbox[3] - bbox[1]
        if min(info.get("width", 0), info.get("height", 0)) < min_px or min(w_pt, h_pt) < min_px / 2:
            continue
        if _area(bbox) > _MAX_PAGE_SHARE * page_area:
            continue
        candidates.append((bbox, [bytes(info.get("digest", b"")).hex()]))
    if len(candidates) > 1:
        candidates = _merge_touching(candidates[:_MAX_IMAGES_TO_MERGE])
    out: list[FigureRegion] = []
    for bbox, digests in sorted(candidates, key=lambda c: -_area(c[0]))[:MAX_FIGURES_PER_PAGE]:
        digest = "+".join(sorted(set(digests)))
        if _area(bbox) > _MAX_PAGE_SHARE * page_area or digest in seen:
            continue
        seen.add(digest)
        out.append(FigureRegion(bbox=bbox, source="raster", digest=digest))
    return sorted(out, key=lambda f: (f.bbox[1], f.bbox[0]))


def page_drawings(page: pymupdf.Page) -> list[dict[str, Any]]:
    """The page's vector paths (``get_drawings``), or none if its content stream is broken."""
    try:
        return list(page.get_drawings())
    except Exception as exc:  # malformed content streams: no vector figures
        log.debug("get_drawings failed on page %s: %s", page.number + 1, exc)
        return []


def vector_figures(page: pymupdf.Page, drawings: list[dict[str, Any]], min_px: int,
                   exclude: Sequence[Rect]) -> list[FigureRegion]:
    """Clusters of vector ``drawings`` (bar charts, diagrams) at least ``min_px`` points on
    each side, holding several paths, and not inside an excluded region (tables, rasters)."""
    if not drawings:
        return []
    page_rect = page_box(page)
    if len(drawings) > MAX_DRAWINGS:
        clusters = [pymupdf.Rect()]
        for d in drawings:
            clusters[0] |= d["rect"]
    else:
        clusters = page.cluster_drawings(drawings=drawings)
    out: list[FigureRegion] = []
    for c in clusters:
        r: Rect = tuple(pymupdf.Rect(c) & pymupdf.Rect(page_rect))
        if min(r[2] - r[0], r[3] - r[1]) < min_px or _area(r) > 0.95 * _area(page_rect):
            continue
        if any(_overlap_share(r, ex) > 0.5 for ex in exclude):
            continue
        paths = sum(1 for d in drawings if _overlap_share(tuple(d["rect"]), r) > 0.9 or
                    (d["rect"].is_empty and pymupdf.Rect(r).contains(d["rect"].tl)))
        if paths < _MIN_PATHS or _text_cover(page, r) > _MAX_TEXT_COVER:
            continue
        out.append(FigureRegion(bbox=r, source="vector"))
    return sorted(out, key=lambda f: -_area(f.bbox))[:MAX_FIGURES_PER_PAGE]


def _text_cover(page: pymupdf.Page, r: Rect) -> float:
    """Share of ``r``'s area covered by the boxes of the words inside it."""
    words = page.get_text("words", clip=pymupdf.Rect(r))
    return sum((w[2] - w[0]) * (w[3] - w[1]) for w in words) / max(_area(r), 1.0)


def expand(r: Rect, blocks: Sequence[Block], page_rect: Rect, margin: float = 20.0) -> Rect:
    """Grow a vector region to take in the short text labels (axes, legend) that touch it;
    captions and paragraphs stay out."""
    grown = (r[0] - margin, r[1] - margin, r[2] + margin, r[3] + margin)
    x0, y0, x1, y1 = r
    for b in blocks:
        bx0, by0, bx1, by1 = b.bbox
        touches = bx1 > grown[0] and bx0 < grown[2] and by1 > grown[1] and by0 < grown[3]
        label = len(b.lines) <= 2 and len(b.text) <= 80 and not CAPTION_RE.match(b.text)
        if touches and label and bx0 >= grown[0] - margin and bx1 <= grown[2] + margin:
            x0, y0, x1, y1 = min(x0, bx0), min(y0, by0), max(x1, bx1), max(y1, by1)
    return (max(x0, page_rect[0]), max(y0, page_rect[1]), min(x1, page_rect[2]), min(y1, page_rect[3]))


def text_near(blocks: Sequence[Block], region: Rect, skip: str = "", gap: float = 36.0,
              limit: int = 600) -> tuple[str, str]:
    """(text inside ``region``, text of blocks within ``gap`` points around it), each cut to
    ``limit`` characters. ``skip`` (the caption) is left out of both."""
    inner: list[str] = []
    near: list[str] = []
    for b in blocks:
        text = b.text
        if not text or text == skip:
            continue
        bx0, by0, bx1, by1 = b.bbox
        if _overlap_share(b.bbox, region) > 0.5:
            inner.append(text)
        elif bx1 >= region[0] - gap and bx0 <= region[2] + gap and by1 >= region[1] - gap and \
                by0 <= region[3] + gap:
            near.append(text)
    return " ".join(inner)[:limit], " ".join(near)[:limit]
