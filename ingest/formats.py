"""Formats other than PDF: images (through MuPDF, as one-page PDFs) and plain text, markdown
and HTML (text chunks on page 1). Office files (``ingest.office``) need optional packages
and are reported as unsupported when those are missing."""

from __future__ import annotations

import functools
import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path

import pymupdf

from ingest.chunk import Paragraph, chunk_paragraphs
from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.pdf import parse_pdf
from ingest.records import Document, FileInfo, Item, ParsedFile, TextChunk, item_id

PDF_SUFFIXES = frozenset({".pdf"})
IMAGE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                  ".tif": "image/tiff", ".tiff": "image/tiff"}
TEXT_SUFFIXES = {".txt": "text/plain", ".md": "text/markdown", ".html": "text/html", ".htm": "text/html"}
# Office formats: (module to import, package to pip install); optional dependencies.
OFFICE_MODULES = {".docx": ("docx", "python-docx"), ".pptx": ("pptx", "python-pptx"),
                  ".xlsx": ("openpyxl", "openpyxl")}


@functools.cache
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def supported_suffixes() -> frozenset[str]:
    """File suffixes this installation can parse."""
    office = {s for s, (module, _) in OFFICE_MODULES.items() if _installed(module)}
    return PDF_SUFFIXES | frozenset(IMAGE_SUFFIXES) | frozenset(TEXT_SUFFIXES) | frozenset(office)


def unsupported_reason(suffix: str) -> str | None:
    """Why files with ``suffix`` cannot be parsed here, or None if they can."""
    suffix = suffix.lower()
    if suffix in supported_suffixes():
        return None
    if suffix in OFFICE_MODULES:
        return f"unsupported type {suffix} (pip install {OFFICE_MODULES[suffix][1]})"
    return f"unsupported type {suffix or '(no extension)'}"


def parse_image(info: FileInfo, data: bytes, cfg: IngestConfig, media_dir: Path) -> ParsedFile:
    """An image file becomes a PDF page per frame (multi-page TIFFs keep all frames), then
    goes through the PDF path: page render, OCR text chunks."""
    suffix = Path(info.path).suffix.lower()
    try:
        pdf_bytes = pymupdf.open(stream=data, filetype=suffix.lstrip(".")).convert_to_pdf()
    except Exception as exc:  # MuPDF raises several types for broken images
        raise IngestError(info.path, "corrupt image", str(exc)) from exc
    return parse_pdf(info, pdf_bytes, cfg, media_dir, mime=IMAGE_SUFFIXES[suffix])


def decode_text(path: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), else UTF-16 with a BOM, else Windows-1252 as a last resort."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class _HtmlText(HTMLParser):
    """Collects paragraphs and heading levels from HTML, skipping scripts and styles."""

    _BLOCKS = frozenset((
        "p", "div", "li", "tr", "br", "section", "article", "header", "footer", "pre", "table",
        "blockquote", "dd", "dt", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
    ))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple[int, str]] = []  # (heading level or 0, text)
        self._buf: list[str] = []
        self._skip = 0
        self._level = 0

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        if text:
            self.parts.append((self._level, text))
        self._buf = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self._flush()
            self._level = int(tag[1]) if re.fullmatch(r"h[1-6]", tag) else 0

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self._flush()
            self._level = 0

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buf.append(data)


def _markdown_parts(text: str) -> list[tuple[int, str]]:
    parts: list[tuple[int, str]] = []
    for para in re.split(r"\n\s*\n", text):
        for heading_or_body in re.split(r"(?m)^(?=#{1,6}\s)", para):
            m = re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", heading_or_body.split("\n", 1)[0])
            if m:
                parts.append((len(m.group(1)), m.group(2)))
                heading_or_body = heading_or_body.split("\n", 1)[1] if "\n" in heading_or_body else ""
            if heading_or_body.strip():
                parts.append((0, " ".join(heading_or_body.split())))
    return parts


def parse_text(info: FileInfo, data: bytes, cfg: IngestConfig) -> ParsedFile:
    """Plain text, markdown or HTML → text chunks on page 1, headings kept as sections."""
    suffix = Path(info.path).suffix.lower()
    text = decode_text(info.path, data)
    if suffix in (".html", ".htm"):
        parser = _HtmlText()
        parser.feed(text)
        parser.close()
        parser._flush()
        parts = parser.parts
    elif suffix == ".md":
        parts = _markdown_parts(text)
    else:
        parts = [(0, " ".join(p.split())) for p in re.split(r"\n\s*\n", text) if p.strip()]
    if not parts:
        raise IngestError(info.path, "no text")
    paragraphs: list[Paragraph] = []
    path: list[tuple[int, str]] = []
    for level, body in parts:
        if level:
            path = [(lv, t) for lv, t in path if lv < level] + [(level, body)]
        paragraphs.append(Paragraph(body, 1, None, tuple(t for _, t in path)))
    doc_id = info.sha256[:16]
    items: list[Item] = []
    for n, c in enumerate(chunk_paragraphs(paragraphs, cfg.chunk_tokens, cfg.chunk_overlap), start=1):
        items.append(TextChunk(id=item_id(info.path, info.sha256, "text", 1, n), doc_id=doc_id,
                               file=info.path, page=1, text=c.text, section=list(c.section)))
    title = next((t for lv, t in parts if lv), Path(info.path).stem)
    document = Document(doc_id=doc_id, path=info.path, sha256=info.sha256, size=info.size, mtime=info.mtime,
                        pages=1, title=title[:300], mime=TEXT_SUFFIXES[suffix])
    return ParsedFile(document=document, items=items)
