"""Page text layout: text blocks, reading order (one or two columns), headings, and the
header/footer lines that repeat on most pages.

Works on PyMuPDF's ``get_text("dict")`` output; everything here is plain geometry on
rectangles, so it is cheap and testable without a PDF.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pymupdf

Rect = tuple[float, float, float, float]

# Ligatures expanded, images left out of the text dict (figures are handled separately).
TEXT_FLAGS = (
    pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_LIGATURES & ~pymupdf.TEXT_PRESERVE_IMAGES
)
CAPTION_RE = re.compile(r"^\s*(figure|fig\.|chart|exhibit|graph|table)\s*[0-9IVX]+[a-z]?\s*[:.\-–—]?", re.I)
_BOLD_FLAG = 16
_MARGIN_BAND = 0.09  # top/bottom fraction of the page (~71 pt of 792) where headers and footers live


@dataclass
class Line:
    """One text line: its text, box, dominant font size and whether it is all bold."""

    text: str
    bbox: Rect
    size: float
    bold: bool


@dataclass
class Block:
    """A text block (paragraph-like) made of lines."""

    lines: list[Line]
    heading_level: int = 0
    section: tuple[str, ...] = field(default=())

    @property
    def bbox(self) -> Rect:
        return (
            min(ln.bbox[0] for ln in self.lines), min(ln.bbox[1] for ln in self.lines),
            max(ln.bbox[2] for ln in self.lines), max(ln.bbox[3] for ln in self.lines),
        )

    @property
    def text(self) -> str:
        return join_lines([ln.text for ln in self.lines])

    @property
    def size(self) -> float:
        weights = [(ln.size, len(ln.text)) for ln in self.lines]
        total = sum(w for _, w in weights) or 1
        return sum(s * w for s, w in weights) / total

    @property
    def bold(self) -> bool:
        return all(ln.bold for ln in self.lines)


def join_lines(lines: Sequence[str]) -> str:
    """Join a block's lines into one string, undoing end-of-line hyphenation.

    "inter-" + "national" becomes "international"; "well-" + "Known" keeps its hyphen, since
    a capital after the break means a real compound, not a split word.
    """
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if not out:
            out = line
        elif out.endswith("-") and out[-2:-1].isalpha() and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}"
    return out


def _is_bold(span: dict[str, Any]) -> bool:
    font = str(span.get("font", "")).lower()
    return bool(int(span.get("flags", 0)) & _BOLD_FLAG) or any(w in font for w in ("bold", "black", "heavy"))


def page_blocks(page: pymupdf.Page) -> list[Block]:
    """The page's text blocks (no images), lines with their font size and weight."""
    data = page.get_text("dict", flags=TEXT_FLAGS)
    blocks: list[Block] = []
    for raw in data.get("blocks", []):
        if raw.get("type", 0) != 0:
            continue
        lines: list[Line] = []
        for raw_line in raw.get("lines", []):
            spans = [s for s in raw_line.get("spans", []) if str(s.get("text", "")).strip()]
            if not spans:
                continue
            text = "".join(str(s["text"]) for s in raw_line["spans"]).strip()
            size = max(spans, key=lambda s: len(str(s["text"])))["size"]
            bold = all(_is_bold(s) for s in spans)
            lines.append(Line(text=text, bbox=tuple(raw_line["bbox"]), size=float(size), bold=bold))
        blocks.extend(_split_on_style(lines))
    return blocks


def _split_on_style(lines: list[Line]) -> list[Block]:
    """Split a block where the font size or weight changes: MuPDF often puts a heading and
    the paragraph under it in one block, which would hide the heading."""
    out: list[Block] = []
    for ln in lines:
        prev = out[-1].lines[-1] if out else None
        if prev is not None and abs(ln.size - prev.size) <= 0.1 * prev.size and ln.bold == prev.bold:
            out[-1].lines.append(ln)
        else:
            out.append(Block(lines=[ln]))
    return out


def _v_overlap(a: Rect, b: Rect) -> bool:
    return min(a[3], b[3]) - max(a[1], b[1]) > 0


def _find_gutter(blocks: Sequence[Block], width: float) -> float | None:
    """The gap between two columns: an x between 30% and 70% of the page width with blocks
    side by side left and right of it, where every block crossing it (a title, a wide
    paragraph) sits above or below the side-by-side blocks, never beside them.

    Returns the middle of the best gap, or None for a one-column page.
    """
    boxes = [b.bbox for b in blocks]
    if len(boxes) < 2:
        return None
    best_score, best_xs = 0, []
    x = 0.3 * width
    while x <= 0.7 * width:
        left = [r for r in boxes if r[2] <= x]
        right = [r for r in boxes if r[0] >= x]
        crossing = [r for r in boxes if r[0] < x < r[2]]
        pairs = sum(1 for a in left for b in right if _v_overlap(a, b))
        clean = not any(_v_overlap(c, s) for c in crossing for s in left + right)
        if pairs and clean:
            if pairs > best_score:
                best_score, best_xs = pairs, [x]
            elif pairs == best_score:
                best_xs.append(x)
        x += 2.0
    return (best_xs[0] + best_xs[-1]) / 2 if best_xs else None


def reading_order(blocks: Sequence[Block], width: float) -> list[Block]:
    """Blocks in reading order: top to bottom, and on two-column stretches the whole left
    column before the right one. Full-width blocks (titles, wide tables' captions) separate
    the stretches, so a page with a full-width title above two columns reads correctly."""
    ordered = sorted(blocks, key=lambda b: (round(b.bbox[1], 1), b.bbox[0]))
    gutter = _find_gutter(ordered, width)
    if gutter is None:
        return ordered
    out: list[Block] = []
    left: list[Block] = []
    right: list[Block] = []
    for b in ordered:
        x0, _, x1, _ = b.bbox
        if x0 < gutter < x1:  # spans both columns: flush the stretch above it
            out += left + right
            left, right = [], []
            out.append(b)
        elif x1 <= gutter:
            left.append(b)
        else:
            right.append(b)
    return out + left + right


def _margin_key(line: Line, page_height: float) -> tuple[str, str, int] | None:
    y_mid = (line.bbox[1] + line.bbox[3]) / 2
    if y_mid < _MARGIN_BAND * page_height:
        band = "top"
    elif y_mid > (1 - _MARGIN_BAND) * page_height:
        band = "bottom"
    else:
        return None
    # Digits vary ("Page 3 of 9"): compare the text with numbers masked, position coarsely.
    return (band, masked(line.text), round(y_mid / 8))


def masked(text: str) -> str:
    """Text compared across pages: lower case, single spaces, every number as '#'."""
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def remove_repeated_margins(pages: list[list[Block]], heights: Sequence[float]) -> tuple[list[int], set[str]]:
    """Drop header/footer lines: same masked text at the same height on most pages.

    Needs at least 3 pages (two pages cannot tell a header from a coincidence). Mutates
    ``pages`` in place; returns the characters removed per page and the masked texts of
    the removed lines (to clean OCR text, which has no positions).
    """
    n = len(pages)
    removed = [0] * n
    if n < 3:
        return removed, set()
    counts: Counter[tuple[str, str, int]] = Counter()
    for blocks, h in zip(pages, heights, strict=True):
        keys = {k for b in blocks for ln in b.lines if (k := _margin_key(ln, h)) is not None}
        counts.update(keys)
    threshold = max(3, math.ceil(0.5 * n))
    repeated = {k for k, c in counts.items() if c >= threshold}
    if not repeated:
        return removed, set()
    for i, (blocks, h) in enumerate(zip(pages, heights, strict=True)):
        kept: list[Block] = []
        for b in blocks:
            lines = [ln for ln in b.lines if _margin_key(ln, h) not in repeated]
            removed[i] += sum(len(ln.text) for ln in b.lines) - sum(len(ln.text) for ln in lines)
            if lines:
                b.lines = lines
                kept.append(b)
        pages[i] = kept
    return removed, {k[1] for k in repeated}


def body_font_size(pages: Sequence[Sequence[Block]]) -> float:
    """The most common font size by characters: the size of the body text."""
    sizes: Counter[float] = Counter()
    for blocks in pages:
        for b in blocks:
            for ln in b.lines:
                sizes[round(ln.size * 2) / 2] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _looks_like_heading(b: Block, body: float) -> bool:
    text = b.text
    words = text.split()
    if not words or len(b.lines) > 3 or len(words) > 15 or not re.search(r"[A-Za-z가-힣]", text):
        return False
    if CAPTION_RE.match(text) or text.rstrip()[-1] in ".,;:":
        return False
    return b.size >= body * 1.15 or (b.bold and b.size >= body * 0.95)


def assign_sections(pages: Sequence[Sequence[Block]]) -> None:
    """Mark headings (by font size and weight) and give every block its heading path.

    Larger heading sizes are higher levels; bold body-size headings are the deepest level.
    ``pages`` must already be in reading order.
    """
    body = body_font_size(pages)
    headings = [b for blocks in pages for b in blocks if _looks_like_heading(b, body)]
    big_sizes = sorted({round(b.size) for b in headings if b.size >= body * 1.15}, reverse=True)[:4]

    def level(b: Block) -> int:
        if b.size >= body * 1.15:
            # The nearest listed size at or below this one (sizes beyond the 4th share its level).
            for i, s in enumerate(big_sizes):
                if round(b.size) >= s:
                    return i + 1
            return len(big_sizes)
        return len(big_sizes) + 1

    heading_ids = {id(b) for b in headings}
    path: list[tuple[int, str]] = []
    for blocks in pages:
        prev: Block | None = None
        for b in blocks:
            if id(b) in heading_ids:
                lvl = level(b)
                if prev is not None and prev.heading_level == lvl and b.bbox[1] - prev.bbox[3] < b.size:
                    # A heading wrapped over two blocks (a long title): one heading, not two.
                    path[-1] = (lvl, f"{path[-1][1]} {b.text}")
                    for earlier in (prev, b):
                        earlier.section = tuple(t for _, t in path)
                else:
                    path = [(lv, t) for lv, t in path if lv < lvl] + [(lvl, b.text)]
                b.heading_level = lvl
            b.section = tuple(t for _, t in path)
            prev = b


def page_box(page: pymupdf.Page) -> Rect:
    """The page in the unrotated space that text, image and drawing boxes are given in.

    ``page.rect`` is the page as displayed: on a page with ``/Rotate 90`` its width and
    height are swapped relative to every box PyMuPDF extracts.
    """
    r = page.rect * page.derotation_matrix
    return (r.x0, r.y0, r.x1, r.y1)


def inside(inner: Rect, outer: Rect, margin: float = 2.0) -> bool:
    """Whether the centre of ``inner`` lies within ``outer`` (grown by ``margin``)."""
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] - margin <= cx <= outer[2] + margin and outer[1] - margin <= cy <= outer[3] + margin


def find_caption(blocks: Sequence[Block], region: Rect, words: tuple[str, ...], max_gap: float = 48.0) -> str:
    """The caption of ``region``: the nearest block above or below it (within ``max_gap``
    points, overlapping it horizontally) that starts like "Figure 3:" / "Table 2." for the
    given caption ``words``."""
    best: tuple[float, str] | None = None
    for b in blocks:
        m = CAPTION_RE.match(b.text)
        if not m or not m.group(1).lower().rstrip(".").startswith(words):
            continue
        x0, y0, x1, y1 = b.bbox
        if min(x1, region[2]) - max(x0, region[0]) <= 0:
            continue
        gap = y0 - region[3] if y0 >= region[3] - 2 else region[1] - y1
        if -2 <= gap <= max_gap and (best is None or gap < best[0]):
            best = (gap, b.text)
    return best[1] if best else ""
