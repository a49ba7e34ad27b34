"""Office files: Word (.docx), PowerPoint (.pptx) and Excel (.xlsx).

Optional dependencies (``pip install python-docx python-pptx openpyxl``), imported lazily.
Office files have no fixed pages: a .docx is page 1, a slide or a sheet is one page. Items
carry no bbox (there is no page geometry to point at) and tables have no image.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest import tables
from ingest.chunk import Paragraph, chunk_paragraphs
from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.images import embedded_png
from ingest.media import doc_media_dir, write_atomic
from ingest.ocr import NoOcr, get_ocr_engine, text_of
from ingest.records import (
    Document,
    Figure,
    FileInfo,
    Item,
    ItemKind,
    ParsedFile,
    Table,
    TextChunk,
    content_hash,
    item_id,
)
from ingest.registry import mime_of
from ingest.table_headers import split_header

log = logging.getLogger(__name__)

MAX_SHEET_ROWS = 5000  # beyond this a sheet is a data dump, not a document: the rest is dropped


@dataclass
class _Collected:
    """What a reader found, before it becomes items."""

    paragraphs: list[Paragraph] = field(default_factory=list)
    tables: list[tuple[int, tuple[str, ...], list[str], list[list[str]], str]] = field(default_factory=list)
    images: list[tuple[int, tuple[str, ...], bytes]] = field(default_factory=list)  # page, section, blob
    pages: int = 1
    title: str = ""


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _heading_level(style: str) -> int:
    if style.lower() == "title":
        return 1
    m = re.match(r"heading\s*(\d)", style, re.I)
    return int(m.group(1)) + 1 if m else 0


def _read_docx(data: bytes) -> _Collected:
    import docx  # optional dependency
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph as DocxParagraph

    doc = docx.Document(io.BytesIO(data))
    out = _Collected(title=_clean(doc.core_properties.title))
    path: list[tuple[int, str]] = []
    for block in doc.iter_inner_content():
        section = tuple(t for _, t in path)
        if isinstance(block, DocxParagraph):
            text = _clean(block.text)
            level = _heading_level(block.style.name if block.style is not None else "")
            if not text:
                continue
            if level:
                path = [(lv, t) for lv, t in path if lv < level] + [(level, text)]
                section = tuple(t for _, t in path)
            out.paragraphs.append(Paragraph(text, 1, None, section))
        elif isinstance(block, DocxTable):
            rows = [[_clean(c.text).replace("|", "\\|") for c in row.cells] for row in block.rows]
            if len(rows) >= 2:
                out.tables.append((1, section, *split_header(rows), ""))
    for rel in doc.part.rels.values():
        if "image" in rel.reltype and not rel.is_external:
            out.images.append((1, (), rel.target_part.blob))
    return out


def _read_pptx(data: bytes) -> _Collected:
    import pptx  # optional dependency

    pres = pptx.Presentation(io.BytesIO(data))
    out = _Collected(title=_clean(pres.core_properties.title), pages=max(1, len(pres.slides)))
    for n, slide in enumerate(pres.slides, start=1):
        title_shape = slide.shapes.title
        title = _clean(title_shape.text_frame.text) if title_shape is not None else ""
        section = (title,) if title else ()
        for shape in slide.shapes:
            if shape.has_text_frame:
                for para in shape.text_frame.paragraphs:
                    text = _clean("".join(r.text for r in para.runs))
                    if text:
                        out.paragraphs.append(Paragraph(text, n, None, section))
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [[_clean(c.text).replace("|", "\\|") for c in row.cells] for row in shape.table.rows]
                if len(rows) >= 2:
                    out.tables.append((n, section, *split_header(rows), ""))
            if shape.shape_type == 13:  # MSO_SHAPE_TYPE.PICTURE
                out.images.append((n, section, shape.image.blob))
        if slide.has_notes_slide:
            notes = _clean(slide.notes_slide.notes_text_frame.text)
            if notes:
                out.paragraphs.append(Paragraph(f"Speaker notes: {notes}", n, None, section))
    return out


def _read_xlsx(path: str, data: bytes) -> _Collected:
    import openpyxl  # optional dependency

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    out = _Collected(title=_clean(wb.properties.title), pages=max(1, len(wb.sheetnames)))
    for n, ws in enumerate(wb.worksheets, start=1):
        rows: list[list[str]] = []
        for i, raw in enumerate(ws.iter_rows(values_only=True)):
            if i >= MAX_SHEET_ROWS:
                log.warning("%s: sheet %r cut at %d rows", path, ws.title, MAX_SHEET_ROWS)
                break
            cells = [_clean(v).replace("|", "\\|") for v in raw]
            if any(cells):
                rows.append(cells)
        if not rows:
            continue
        width = max(max((i + 1 for i, c in enumerate(r) if c), default=0) for r in rows)
        rows = [r[:width] + [""] * (width - len(r[:width])) for r in rows]
        if len(rows) >= 2:
            out.tables.append((n, (ws.title,), rows[0], rows[1:], f"Sheet: {ws.title}"))
        else:
            out.paragraphs.append(Paragraph(" | ".join(rows[0]), n, None, (ws.title,)))
    wb.close()
    return out



def _items(info: FileInfo, got: _Collected, cfg: IngestConfig, media_dir: Path) -> Iterator[Item]:
    doc_id = info.sha256[:16]
    counters: dict[tuple[ItemKind, int], int] = {}

    def next_id(kind: ItemKind, page: int) -> str:
        counters[(kind, page)] = counters.get((kind, page), 0) + 1
        return item_id(info.path, info.sha256, kind, page, counters[(kind, page)])

    common: dict[str, Any] = {"doc_id": doc_id, "file": info.path}
    for c in chunk_paragraphs(got.paragraphs, cfg.chunk_tokens, cfg.chunk_overlap):
        yield TextChunk(id=next_id("text", c.page), page=c.page, text=c.text, section=list(c.section), **common)
    for page, section, header, rows, caption in got.tables:
        for part in tables.split_rows(header, rows, cfg.chunk_tokens):
            md = tables.markdown(header, [rows[i] for i in part])
            yield Table(id=next_id("table", page), page=page, text=f"{caption}\n\n{md}" if caption else md,
                        caption=caption, section=list(section), **common)
    engine = get_ocr_engine(cfg.ocr) if cfg.figures and got.images else NoOcr()
    seen: set[str] = set()
    for page, section, blob in got.images if cfg.figures else []:
        png = embedded_png(blob, cfg.min_figure_px, cfg.max_image_pixels, info.path)
        digest = content_hash(blob)
        if png is None or digest in seen:  # a logo on every slide is one figure
            continue
        seen.add(digest)
        fid = next_id("figure", page)
        image = write_atomic(doc_media_dir(media_dir, doc_id) / f"figure-p{page:04d}-{fid[:8]}.png", png)
        ocr = text_of(engine.ocr_lines(png, cfg.ocr_languages)).strip()
        bridge = "\n".join(t for t in (" / ".join(section), ocr) if t)
        yield Figure(id=fid, page=page, text=bridge, image_path=str(image), section=list(section), **common)


def parse_office(info: FileInfo, data: bytes, cfg: IngestConfig, media_dir: Path) -> ParsedFile:
    """Parse a .docx, .pptx or .xlsx file into text chunks, tables and figures."""
    suffix = Path(info.path).suffix.lower()
    try:
        if suffix == ".docx":
            got = _read_docx(data)
        elif suffix == ".pptx":
            got = _read_pptx(data)
        else:
            got = _read_xlsx(info.path, data)
    except ImportError as exc:
        raise IngestError(info.path, f"unsupported type {suffix}", f"pip install {exc.name}") from exc
    except Exception as exc:  # zip, XML and schema errors all mean the same to a user
        raise IngestError(info.path, f"corrupt {suffix.lstrip('.')} file", f"{type(exc).__name__}: {exc}") from exc
    items = list(_items(info, got, cfg, media_dir))
    title = got.title or next((p.section[0] for p in got.paragraphs if p.section), "") or Path(info.path).stem
    document = Document(doc_id=info.sha256[:16], path=info.path, sha256=info.sha256, size=info.size,
                        mtime=info.mtime, pages=got.pages, title=title[:300], mime=mime_of(info.path))
    return ParsedFile(document=document, items=items)
