"""HWP 5.x files (Hangul's binary format): an OLE compound file of zlib-deflated record streams.

``olefile`` opens the compound file; the records are read here, after Hancom's published
"HWP 5.0 file format" (revision 1.3): ``FileHeader`` (version, compression and protection
flags), ``DocInfo`` (character and paragraph shapes, styles, the list of embedded binaries)
and ``BodyText/SectionN`` (paragraphs, each with its text, character shapes, line layout
and controls: tables, drawing objects, headers, footers, notes).

What comes out (as ``ingest.flowdoc`` blocks): paragraphs in reading order, text boxes
where they are anchored, tables with their cells, embedded pictures (``BinData``); headers,
footers, page numbers and hidden comments are left out. Hangul stores the layout it last
computed (each line's vertical position), so a new page is where that position starts
over; files written without a layout get section and paragraph locations instead.
"""

from __future__ import annotations

import logging
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.flowdoc import Block, flat_text, flow_parsed, table_blocks
from ingest.records import FileInfo, ParsedFile

log = logging.getLogger(__name__)

SIGNATURE = b"HWP Document File"
MAX_STREAM_BYTES = 256 * 2**20  # one inflated stream: more is a zip bomb, not a document

# FileHeader property bits (spec table 3).
F_COMPRESSED, F_PASSWORD, F_DISTRIBUTION, F_DRM = 1 << 0, 1 << 1, 1 << 2, 1 << 4
F_CERT_ENCRYPTED, F_CERT_DRM = 1 << 8, 1 << 10
_PROTECTED = (
    (F_PASSWORD, "password-protected HWP", "the body is encrypted with a password; "
     "remove it in Hangul (보안 > 문서 암호 해제) and save again"),
    (F_DISTRIBUTION, "distribution-protected HWP (배포용 문서)", "the body is encrypted for read-only "
     "distribution; ask the author for an unprotected copy"),
    (F_DRM | F_CERT_DRM, "DRM-protected HWP", "the body is encrypted by a rights-management system"),
    (F_CERT_ENCRYPTED, "certificate-encrypted HWP", "the body is encrypted with a certificate"),
)

# Record tags (HWPTAG_BEGIN = 0x10).
BIN_DATA, CHAR_SHAPE, PARA_SHAPE, STYLE = 0x12, 0x15, 0x19, 0x1A
PARA_HEADER, PARA_TEXT, PARA_CHAR_SHAPE, PARA_LINE_SEG = 0x42, 0x43, 0x44, 0x45
CTRL_HEADER, LIST_HEADER, TABLE, SHAPE_COMPONENT, PICTURE = 0x47, 0x48, 0x4D, 0x4C, 0x55

# Control characters in PARA_TEXT: these take 8 UTF-16 units (the code, 6 units of data, the
# code again); the rest of 0-31 take one.
_WIDE_CONTROLS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23})
_BREAK_PAGE = 0x04
_NOTE_CONTROLS = frozenset({"fn  ", "en  "})  # footnote and endnote bodies: content, kept
TOC_LINE = re.compile(r"\t[ .·…]*\d+\s*$")  # "Ⅰ. 개요<tab>1": a table-of-contents entry
_HEADING_STYLE = re.compile(r"(?:개요|outline|heading|제목)\s*(\d)?", re.I)


@dataclass
class _Rec:
    tag: int
    level: int
    payload: bytes
    children: list[_Rec] = field(default_factory=list)


def _records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``(tag, level, payload)`` of a record stream; a header is tag 10 bits, level 10, size 12."""
    i = 0
    while i + 4 <= len(data):
        (h,) = struct.unpack_from("<I", data, i)
        i += 4
        tag, level, size = h & 0x3FF, (h >> 10) & 0x3FF, h >> 20
        if size == 0xFFF:  # the real size follows
            (size,) = struct.unpack_from("<I", data, i)
            i += 4
        yield tag, level, data[i : i + size]
        i += size


def _tree(data: bytes) -> list[_Rec]:
    """Records nested by level: a record's children are the deeper ones that follow it."""
    roots: list[_Rec] = []
    stack: list[_Rec] = []
    for tag, level, payload in _records(data):
        rec = _Rec(tag, level, payload)
        while stack and stack[-1].level >= level:
            stack.pop()
        (stack[-1].children if stack else roots).append(rec)
        stack.append(rec)
    return roots


def _inflate(path: str, raw: bytes, stream: str) -> bytes:
    d = zlib.decompressobj(-15)  # raw deflate, no zlib header
    try:
        out = d.decompress(raw, MAX_STREAM_BYTES)
    except zlib.error as exc:
        raise IngestError(path, "corrupt HWP file", f"{stream}: {exc}") from exc
    if d.unconsumed_tail:
        raise IngestError(path, "too large", f"{stream} inflates past {MAX_STREAM_BYTES // 2**20} MB")
    return out


def para_text(payload: bytes) -> str:
    """The text of a PARA_TEXT record: controls dropped, tabs and line breaks kept, special
    spaces and hyphens made plain."""
    units = payload.decode("utf-16-le", errors="surrogatepass")
    out: list[str] = []
    i = 0
    while i < len(units):
        c = ord(units[i])
        if c >= 32:
            out.append(units[i])
            i += 1
        elif c in _WIDE_CONTROLS:
            if c == 9:
                out.append("\t")
            i += 8
        else:
            if c == 10:
                out.append("\n")
            elif c in (24, 30, 31):  # hyphen, non-breaking space, fixed-width space
                out.append("-" if c == 24 else " ")
            i += 1
    return "".join(out).encode("utf-16-le", errors="surrogatepass").decode("utf-16-le", errors="replace")


def _ctrl_id(payload: bytes) -> str:
    return payload[:4][::-1].decode("latin-1") if len(payload) >= 4 else ""


@dataclass
class _DocInfo:
    char_sizes: list[float] = field(default_factory=list)  # by char shape id, in points
    outline: list[int] = field(default_factory=list)  # by para shape id: outline level + 1, or 0
    style_levels: list[int] = field(default_factory=list)  # by style id: heading level, or 0
    bins: dict[int, tuple[str, int]] = field(default_factory=dict)  # bin id → (extension, compression)


def _wstr(p: bytes, at: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<H", p, at)
    return p[at + 2 : at + 2 + 2 * n].decode("utf-16-le", errors="replace"), at + 2 + 2 * n


def _docinfo(data: bytes) -> _DocInfo:
    info = _DocInfo()
    for tag, _, p in _records(data):
        if tag == CHAR_SHAPE and len(p) >= 46:
            info.char_sizes.append(struct.unpack_from("<i", p, 42)[0] / 100)
        elif tag == PARA_SHAPE and len(p) >= 4:
            (prop,) = struct.unpack_from("<I", p, 0)
            info.outline.append(((prop >> 25) & 0x7) + 1 if (prop >> 23) & 0x3 == 1 else 0)
        elif tag == STYLE and len(p) >= 2:
            name, at = _wstr(p, 0)
            english, _ = _wstr(p, at) if at + 2 <= len(p) else ("", at)
            m = _HEADING_STYLE.match(name) or _HEADING_STYLE.match(english)
            info.style_levels.append(int(m.group(1) or 1) if m else 0)
        elif tag == BIN_DATA and len(p) >= 2:
            (prop,) = struct.unpack_from("<H", p, 0)
            if prop & 0x3 in (1, 2) and len(p) >= 6:  # embedded or storage, not a link
                (bin_id,) = struct.unpack_from("<H", p, 2)
                ext, _ = _wstr(p, 4)
                info.bins[bin_id] = (ext, (prop >> 4) & 0x3)
    return info


class _Section:
    """Reads one ``BodyText/SectionN`` into blocks, counting pages from the line layout."""

    def __init__(self, reader: _Reader, number: int, page: int) -> None:
        self.r = reader
        self.number = number
        self.page = page
        self.last: tuple[int, int] | None = None  # (vertical, horizontal) position of the last line
        self.laid_out = False
        self.paragraph = 0

    def _advance(self, para: _Rec) -> int:
        """Move the page counter over a top-level paragraph's lines; the page it starts on."""
        start = None
        for rec in para.children:
            if rec.tag != PARA_LINE_SEG:
                continue
            for k in range(len(rec.payload) // 36):  # 36-byte line segments
                (vpos,) = struct.unpack_from("<i", rec.payload, k * 36 + 4)  # vertical position
                (horz,) = struct.unpack_from("<i", rec.payload, k * 36 + 24)  # column's horizontal start
                # Back to the top and not into a column to the right: a new page.
                if self.last is not None and vpos < self.last[0] and horz <= self.last[1]:
                    self.page += 1
                self.last = (vpos, horz)
                self.laid_out = True
                start = self.page if start is None else start
        return self.page if start is None else start

    def read(self, roots: list[_Rec]) -> Iterator[Block]:
        for para in roots:
            if para.tag != PARA_HEADER:
                continue
            self.paragraph += 1
            page = self._advance(para)
            yield from self._paragraph(para, page)

    def _block(self, page: int, **kw: object) -> Block:
        return Block(section=self.number, paragraph=self.paragraph, page=page, **kw)  # type: ignore[arg-type]

    def _paragraph(self, para: _Rec, page: int) -> Iterator[Block]:
        text, size = "", 0.0
        shape = style = 0
        if len(para.payload) >= 11:
            shape, style = struct.unpack_from("<HB", para.payload, 8)
        for rec in para.children:
            if rec.tag == PARA_TEXT:
                text = para_text(rec.payload)
            elif rec.tag == PARA_CHAR_SHAPE and len(rec.payload) >= 8:
                size = self.r.size(struct.unpack_from("<I", rec.payload, 4)[0])
        heading = -1 if TOC_LINE.search(text) else self.r.heading(shape, style)
        text = " ".join(text.replace("\t", " ").split())
        if text:
            yield self._block(page, kind="text", text=text, size=size, heading=heading)
        for rec in para.children:
            if rec.tag != CTRL_HEADER:
                continue
            ctrl = _ctrl_id(rec.payload)
            if ctrl == "tbl ":
                yield from self._table(rec, page)
            elif ctrl == "gso ":
                yield from self._shape(rec, page)
            elif ctrl in _NOTE_CONTROLS:
                for _, paras in _lists(rec.children):
                    for p in paras:
                        yield from self._paragraph(p, page)
            # Other controls: section and column definitions, headers and footers ("head",
            # "foot"), page numbers ("pgnp", "atno"), hidden comments: not body text.

    def _table(self, ctrl: _Rec, page: int) -> Iterator[Block]:
        cells: list[tuple[int, int, str]] = []
        inner: list[Block] = []
        for header, paras in _lists(ctrl.children):
            col, row = struct.unpack_from("<HH", header, 8) if len(header) >= 12 else (0, len(cells))
            sub = [b for p in paras for b in self._paragraph(p, page)]
            inner.extend(sub)
            cells.append((row, col, flat_text(sub)))
        yield from table_blocks(cells, inner, lambda rows: self._block(page, kind="table", rows=rows))

    def _shape(self, node: _Rec, page: int) -> Iterator[Block]:
        """A drawing object: its pictures, and the paragraphs of its text boxes, depth first."""
        lists, loose = _split_lists(node.children)
        for _, paras in lists:
            for p in paras:
                yield from self._paragraph(p, page)
        for rec in loose:
            if rec.tag == PICTURE and len(rec.payload) >= 73:
                (bin_id,) = struct.unpack_from("<H", rec.payload, 71)
                blob = self.r.binary(bin_id)
                if blob:
                    yield self._block(page, kind="image", image=blob)
            yield from self._shape(rec, page)


def _split_lists(children: list[_Rec]) -> tuple[list[tuple[bytes, list[_Rec]]], list[_Rec]]:
    """Children split into paragraph lists (a LIST_HEADER and the paragraphs after it) and the rest."""
    lists: list[tuple[bytes, list[_Rec]]] = []
    loose: list[_Rec] = []
    for rec in children:
        if rec.tag == LIST_HEADER:
            lists.append((rec.payload, []))
        elif rec.tag == PARA_HEADER and lists:
            lists[-1][1].append(rec)
        else:
            loose.append(rec)
    return lists, loose


def _lists(children: list[_Rec]) -> list[tuple[bytes, list[_Rec]]]:
    return _split_lists(children)[0]


class _Reader:
    def __init__(self, path: str, data: bytes) -> None:
        import olefile  # optional dependency (the registry names it)

        self.path = path
        if not olefile.isOleFile(data=data):
            if data.startswith(SIGNATURE):
                raise IngestError(path, "unsupported HWP version", "HWP 3.x: save it as HWP 5 or HWPX")
            raise IngestError(path, "corrupt HWP file", "not an OLE compound file")
        try:
            self.ole = olefile.OleFileIO(data)
        except Exception as exc:  # olefile raises several types for a damaged compound file
            raise IngestError(path, "corrupt HWP file", f"{type(exc).__name__}: {exc}") from exc
        header = self._stream("FileHeader", compressed=False)
        if len(header) < 40 or not header.startswith(SIGNATURE):
            raise IngestError(path, "corrupt HWP file", "no HWP 5 FileHeader")
        version, flags = struct.unpack_from("<II", header, 32)
        if version >> 24 != 5:
            raise IngestError(path, "unsupported HWP version", f"{version >> 24}.{(version >> 16) & 0xFF}")
        for bits, reason, detail in _PROTECTED:
            if flags & bits:
                raise IngestError(path, reason, detail)
        self.compressed = bool(flags & F_COMPRESSED)
        self.info = _docinfo(self._stream("DocInfo"))

    def _stream(self, name: str, compressed: bool | None = None) -> bytes:
        if not self.ole.exists(name):
            raise IngestError(self.path, "corrupt HWP file", f"no {name} stream")
        raw: bytes = self.ole.openstream(name).read()
        return _inflate(self.path, raw, name) if (self.compressed if compressed is None else compressed) else raw

    def size(self, char_shape: int) -> float:
        sizes = self.info.char_sizes
        return sizes[char_shape] if char_shape < len(sizes) else 0.0

    def heading(self, para_shape: int, style: int) -> int:
        levels = self.info.style_levels
        outline = self.info.outline
        return (levels[style] if style < len(levels) else 0) or (
            outline[para_shape] if para_shape < len(outline) else 0)

    def binary(self, bin_id: int) -> bytes:
        """The bytes of embedded binary ``bin_id``; empty when missing or unreadable."""
        ext, compression = self.info.bins.get(bin_id, ("", 0))
        name = f"BinData/BIN{bin_id:04X}.{ext}"
        if not ext or not self.ole.exists(name):
            return b""
        raw: bytes = self.ole.openstream(name).read()
        if compression == 2 or (compression == 0 and not self.compressed):
            return raw
        try:
            return _inflate(self.path, raw, name)
        except IngestError:  # some writers store pictures uncompressed despite the flag
            return raw

    def title(self) -> str:
        try:
            props = self.ole.getproperties("\x05HwpSummaryInformation", convert_time=False)
        except Exception:  # summary is optional; a damaged one must not fail the file
            return ""
        title = props.get(2, "")
        return title if isinstance(title, str) else ""

    def blocks(self) -> list[Block]:
        names = sorted((int(m.group(1)), "/".join(e)) for e in self.ole.listdir()
                       if (m := re.fullmatch(r"BodyText/Section(\d+)", "/".join(e))))
        if not names:
            raise IngestError(self.path, "corrupt HWP file", "no BodyText section")
        out: list[Block] = []
        page = 1
        laid_out = False
        for n, (_, name) in enumerate(names, start=1):
            sec = _Section(self, n, page + 1 if n > 1 else 1)
            out.extend(sec.read(_tree(self._stream(name))))
            page, laid_out = sec.page, laid_out or sec.laid_out
        if not laid_out:  # nothing recorded where lines went: locations are section/paragraph
            for b in out:
                b.page = None
        return out


def parse_hwp(info: FileInfo, data: bytes, cfg: IngestConfig, media_dir: Path) -> ParsedFile:
    """Parse an HWP 5.x file into text chunks, tables and figures (see the module docstring).

    Raises ``IngestError`` for password-, distribution- or DRM-protected files, HWP 3 files
    and damaged ones, naming the file.
    """
    reader = _Reader(info.path, data)
    blocks = reader.blocks()
    if not any(b.text.strip() or b.rows or b.image for b in blocks):
        raise IngestError(info.path, "no text")
    return flow_parsed(info, blocks, cfg, media_dir, title=reader.title())
