"""Formats other than PDF: images (through MuPDF, as one-page PDFs) and plain text, markdown
and HTML (text chunks on page 1). Which suffix goes to which parser is ``ingest.registry``;
``supported_suffixes`` and ``unsupported_reason`` are re-exported here for callers that
know them from this module."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pymupdf

from ingest.chunk import Paragraph, chunk_paragraphs
from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.pdf import parse_pdf
from ingest.records import Document, FileInfo, Item, PageWarning, ParsedFile, TextChunk, item_id
from ingest.registry import mime_of, supported_suffixes, unsupported_reason
from ingest.textenc import decode_text, guess_warning

__all__ = ["parse_image", "parse_text", "supported_suffixes", "unsupported_reason"]


def parse_image(info: FileInfo, data: bytes, cfg: IngestConfig, media_dir: Path) -> ParsedFile:
    """An image file becomes a PDF page per frame (multi-page TIFFs keep all frames), then
    goes through the PDF path: page render, OCR text chunks."""
    suffix = Path(info.path).suffix.lower()
    try:
        pdf_bytes = pymupdf.open(stream=data, filetype=suffix.lstrip(".")).convert_to_pdf()
    except Exception as exc:  # MuPDF raises several types for broken images
        raise IngestError(info.path, "corrupt image", str(exc)) from exc
    return parse_pdf(info, pdf_bytes, cfg, media_dir, mime=mime_of(info.path))


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


def parse_text(info: FileInfo, data: bytes, cfg: IngestConfig, media_dir: Path | None = None) -> ParsedFile:
    """Plain text, markdown or HTML → text chunks on page 1, headings kept as sections.

    The encoding is found by ``ingest.textenc.decode_text``; a guessed one adds a warning.
    ``media_dir`` is unused (text files have no images): it keeps the registry's signature.
    """
    suffix = Path(info.path).suffix.lower()
    decoded = decode_text(data)
    text = decoded.text
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
                        pages=1, title=title[:300], mime=mime_of(info.path))
    warning = guess_warning(info.path, decoded)
    return ParsedFile(document=document, items=items,
                      warnings=[PageWarning(page=None, reason="encoding guessed", detail=warning)] if warning else [])
