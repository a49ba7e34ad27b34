"""Word-processor documents (HWP, HWPX) as blocks in reading order → text, table and figure items.

Their readers (``ingest.hwp``, ``ingest.hwpx``) only decode the file into ``Block``s; this
module turns blocks into items the same way for both: headings into section paths, prose
into chunks, tables into markdown (first row as header), images into figures with OCR
bridge text. Each item gets a ``Location``: the printed page when the file recorded where
its lines were laid out, else its section and paragraph.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ingest import tables
from ingest.chunk import Chunk, Paragraph, chunk_paragraphs
from ingest.config import IngestConfig
from ingest.images import embedded_png
from ingest.media import doc_media_dir, write_atomic
from ingest.ocr import NoOcr, get_ocr_engine, text_of
from ingest.records import (
    Document,
    Figure,
    FileInfo,
    Item,
    ItemKind,
    Location,
    PageWarning,
    ParsedFile,
    Table,
    TextChunk,
    content_hash,
    item_id,
)
from ingest.registry import mime_of
from ingest.table_headers import split_header

MAX_HEADING_CHARS = 80  # a longer "big" paragraph is a lead-in, not a heading
_HEADING_RATIO = 1.1  # font size over the body size that makes a short paragraph a heading
_SENTENCE_END = re.compile(r"(다|[.!?])\s*$")  # Korean statements end in 다
# Chapter markers of Korean reports and public documents: "Ⅰ. 개요", "붙임 2", "참고 1". Set at
# body size or larger they open a level-2 section (under the title); a bare "참고 1" takes the
# short paragraph after it as its title.
_CHAPTER = re.compile(r"^\s*(?:[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ]\s*[.)]|\[?(?:붙\s*임|참\s*고)\s*\d*\]?(?:\s|$))")
_BARE_MARKER = re.compile(r"\s*\[?(?:붙\s*임|참\s*고)\s*\d*\]?\s*")


@dataclass
class Block:
    """One paragraph, table or image of a word-processor file, in reading order."""

    kind: Literal["text", "table", "image"]
    section: int
    """1-based section of the file."""
    paragraph: int
    """1-based top-level paragraph of that section holding the block (tables and boxes sit in one)."""
    page: int | None = None
    """Printed page from the file's recorded layout; None when the file records none."""
    text: str = ""
    size: float = 0.0
    """Font size in points of the paragraph's first character (0: unknown)."""
    heading: int = 0
    """Heading level the file declares (outline level, heading style); 0: none declared;
    -1: never a heading (a table-of-contents line)."""
    rows: list[list[str]] = field(default_factory=list)
    image: bytes = b""


def cell_rows(cells: Sequence[tuple[int, int, str]]) -> list[list[str]]:
    """A grid from ``(row, col, text)`` cells; merged cells keep their text in their first
    slot, and rows or columns that are empty everywhere are dropped."""
    if not cells:
        return []
    n_rows = max(r for r, _, _ in cells) + 1
    n_cols = max(c for _, c, _ in cells) + 1
    grid = [[""] * n_cols for _ in range(n_rows)]
    for r, c, text in cells:
        grid[r][c] = " ".join(text.split()).replace("|", "\\|")
    grid = [row for row in grid if any(row)]
    keep = [c for c in range(n_cols) if any(row[c] for row in grid)]
    return [[row[c] for c in keep] for row in grid]


def flat_text(blocks: Sequence[Block]) -> str:
    """The text of ``blocks`` on one line (a table cell's paragraphs and nested tables)."""
    parts: list[str] = []
    for b in blocks:
        if b.kind == "text":
            parts.append(b.text)
        elif b.kind == "table":
            parts.extend(" ".join(c for c in row if c) for row in b.rows)
    return " ".join(parts)


def is_layout_table(rows: Sequence[Sequence[str]]) -> bool:
    """A "table" that only frames text, read as text: one row or one column, or a box of at
    most 3 rows of which half hold a single filled cell (a title bar over a paragraph)."""
    if len(rows) < 2 or all(len(r) < 2 for r in rows):
        return True
    single = sum(1 for r in rows if sum(1 for c in r if c) <= 1)
    return len(rows) <= 3 and single * 2 >= len(rows)


def table_blocks(cells: Sequence[tuple[int, int, str]], inner: Sequence[Block],
                 table: Callable[[list[list[str]]], Block]) -> Iterator[Block]:
    """The blocks of a word-processor table: ``table(rows)`` and the pictures inside its cells, or,
    for a boxed heading or a frame (:func:`is_layout_table`), the content of its cells as text."""
    rows = cell_rows(cells)
    if is_layout_table(rows):
        yield from inner
        return
    yield table(rows)
    yield from (b for b in inner if b.kind == "image")


def _body_size(blocks: Sequence[Block]) -> float:
    sizes: Counter[float] = Counter()
    for b in blocks:
        if b.kind == "text" and b.size:
            sizes[b.size] += len(b.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def heading_levels(blocks: Sequence[Block]) -> dict[int, int]:
    """Heading level of each heading block, by index. A declared level wins; a chapter marker
    (Ⅰ., 붙임, 참고) at body size or larger is level 2; else a short paragraph set larger than
    the body text is a heading: level 1 at the largest such size (the title), else level 3."""
    body = _body_size(blocks)
    levels: dict[int, int] = {}
    for i, b in enumerate(blocks):
        if b.kind != "text" or b.heading < 0 or len(b.text) > MAX_HEADING_CHARS:
            continue
        if b.heading:
            levels[i] = b.heading
        elif body and b.size >= body and _CHAPTER.match(b.text):
            levels[i] = 2
        elif body and b.size >= body * _HEADING_RATIO and not _SENTENCE_END.search(b.text):
            levels[i] = 0  # level set below, once the largest size is known
    top = max((blocks[i].size for i, lv in levels.items() if not lv), default=0.0)
    for i, lv in levels.items():
        if not lv:
            levels[i] = 1 if blocks[i].size >= top else 3
    return levels


def _heading_text(blocks: Sequence[Block], i: int) -> str:
    """A heading's text for section paths; a bare "참고 1" is joined with its title after it."""
    text = blocks[i].text
    nxt = blocks[i + 1] if i + 1 < len(blocks) else None
    if _BARE_MARKER.fullmatch(text) and nxt is not None and nxt.kind == "text" and len(nxt.text) <= MAX_HEADING_CHARS:
        return f"{text} {nxt.text}"
    return text



class _Builder:
    def __init__(self, info: FileInfo, cfg: IngestConfig, media_dir: Path, layout: bool) -> None:
        self.info, self.cfg, self.media_dir, self.layout = info, cfg, media_dir, layout
        self.doc_id = info.sha256[:16]
        self.counters: dict[tuple[ItemKind, int], int] = {}

    def key(self, b: Block) -> int:
        """The item's ``page``: the printed page with a layout, else the section number."""
        return (b.page or 1) if self.layout else b.section

    def common(self, kind: ItemKind, b: Block, section: Sequence[str]) -> dict[str, Any]:
        page = self.key(b)
        self.counters[(kind, page)] = self.counters.get((kind, page), 0) + 1
        loc = Location(kind="page" if self.layout else "paragraph", section=b.section, paragraph=b.paragraph)
        return {"id": item_id(self.info.path, self.info.sha256, kind, page, self.counters[(kind, page)]),
                "doc_id": self.doc_id, "file": self.info.path, "page": page, "section": list(section),
                "location": loc}


def _first_block(chunk: Chunk, run: Sequence[tuple[Paragraph, Block]], start: int) -> int:
    """Index in ``run`` of the paragraph the chunk starts in (chunks render paragraphs as lines)."""
    first = " ".join(chunk.text.split("\n", 1)[0].split())
    for j in range(start, len(run)):
        if first and first[:200] in " ".join(run[j][0].text.split()):
            return j
    return start


def _runs(paras: Sequence[tuple[Paragraph, Block, bool]]) -> list[list[tuple[Paragraph, Block]]]:
    """Paragraphs grouped into runs of one page and one section (what ``chunk_paragraphs`` keeps
    apart). A run of headings only (Ⅰ. 개요 right above □ 추진 배경) joins the run under it, so
    no chunk is a bare heading."""
    runs: list[list[tuple[Paragraph, Block, bool]]] = []
    for p, b, heading in paras:
        if runs and (runs[-1][0][0].page, runs[-1][0][0].section) == (p.page, p.section):
            runs[-1].append((p, b, heading))
        else:
            runs.append([(p, b, heading)])
    out: list[list[tuple[Paragraph, Block]]] = []
    pending: list[tuple[Paragraph, Block]] = []
    for k, run in enumerate(runs):
        head = run[0][0]
        nxt = runs[k + 1][0][0] if k + 1 < len(runs) else None
        if (all(h for _, _, h in run) and nxt is not None and nxt.page == head.page
                and nxt.section[: len(head.section)] == head.section):
            pending.extend((Paragraph(p.text, p.page, p.bbox, nxt.section), b) for p, b, _ in run)
            continue
        section = run[0][0].section
        out.append([(Paragraph(p.text, p.page, p.bbox, section), b) for p, b in pending]
                   + [(p, b) for p, b, _ in run])
        pending = []
    return out


def _text_items(bld: _Builder, paras: Sequence[tuple[Paragraph, Block, bool]]) -> Iterator[TextChunk]:
    cfg = bld.cfg
    for run in _runs(paras):  # chunked run by run, to map each chunk back to its first paragraph
        at = 0
        for c in chunk_paragraphs([p for p, _ in run], cfg.chunk_tokens, cfg.chunk_overlap):
            at = _first_block(c, run, at)
            yield TextChunk(text=c.text, **bld.common("text", run[at][1], c.section))


def _table_items(bld: _Builder, b: Block, section: Sequence[str]) -> Iterator[Table]:
    header, rows = split_header(b.rows)  # a key/value table's first row is data, not names
    for part in tables.split_rows(header, rows, bld.cfg.chunk_tokens):
        md = tables.markdown(header, [rows[i] for i in part])
        yield Table(text=md, **bld.common("table", b, section))


def flow_items(info: FileInfo, blocks: Sequence[Block], cfg: IngestConfig, media_dir: Path) -> list[Item]:
    """Items of a word-processor file's blocks: chunks first, then tables, then figures."""
    layout = any(b.page is not None for b in blocks)
    bld = _Builder(info, cfg, media_dir, layout)
    levels = heading_levels(blocks)
    path: list[tuple[int, str]] = []
    paras: list[tuple[Paragraph, Block, bool]] = []  # (paragraph, its block, is a heading)
    grids: list[tuple[Block, tuple[str, ...]]] = []
    images: list[tuple[Block, tuple[str, ...]]] = []
    for i, b in enumerate(blocks):
        if i in levels:
            path = [(lv, t) for lv, t in path if lv < levels[i]] + [(levels[i], _heading_text(blocks, i))]
        section = tuple(t for _, t in path)
        if b.kind == "text" and b.text.strip():
            paras.append((Paragraph(b.text, bld.key(b), None, section), b, i in levels))
        elif b.kind == "table" and b.rows:
            grids.append((b, section))
        elif b.kind == "image" and b.image:
            images.append((b, section))
    items: list[Item] = list(_text_items(bld, paras))
    if cfg.tables:
        for b, section in grids:
            items.extend(_table_items(bld, b, section))
    if cfg.figures and images:
        items.extend(_figure_items(bld, images))
    return items


def _figure_items(bld: _Builder, images: Sequence[tuple[Block, tuple[str, ...]]]) -> Iterator[Figure]:
    cfg = bld.cfg
    engine = get_ocr_engine(cfg.ocr) if images else NoOcr()
    seen: set[str] = set()
    for b, section in images:
        digest = content_hash(b.image)
        png = embedded_png(b.image, cfg.min_figure_px, cfg.max_image_pixels, bld.info.path)
        if png is None or digest in seen:  # a logo repeated on every page is one figure
            continue
        seen.add(digest)
        kw = bld.common("figure", b, section)
        name = f"figure-s{b.section:02d}-p{b.paragraph:05d}-{kw['id'][:8]}.png"
        image = write_atomic(doc_media_dir(bld.media_dir, bld.doc_id) / name, png)
        ocr = text_of(engine.ocr_lines(png, cfg.ocr_languages)).strip()
        bridge = "\n".join(t for t in (" / ".join(section), ocr) if t)
        yield Figure(text=bridge, image_path=str(image), **kw)


def flow_parsed(info: FileInfo, blocks: Sequence[Block], cfg: IngestConfig, media_dir: Path, *,
                title: str = "", warnings: Sequence[PageWarning] = ()) -> ParsedFile:
    """The ``ParsedFile`` of a word-processor file: its items and a ``Document`` whose
    ``pages`` is the recorded page count (or the section count without a layout)."""
    items = flow_items(info, blocks, cfg, media_dir)
    layout = any(b.page is not None for b in blocks)
    pages = max((b.page or 1 for b in blocks), default=1) if layout else max((b.section for b in blocks), default=1)
    levels = heading_levels(blocks)
    first_heading = next((blocks[i].text for i in sorted(levels)), "")
    document = Document(doc_id=info.sha256[:16], path=info.path, sha256=info.sha256, size=info.size,
                        mtime=info.mtime, pages=pages, mime=mime_of(info.path),
                        title=(title or first_heading or Path(info.path).stem).strip()[:300])
    return ParsedFile(document=document, items=items, warnings=list(warnings))
