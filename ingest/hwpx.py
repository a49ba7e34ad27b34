"""HWPX files (Hangul's XML format, KS X 6101 "OWPML"): a zip of XML parts, read with the stdlib.

``Contents/content.hpf`` lists the parts (sections in reading order in its spine, pictures
under ``BinData/``); ``Contents/header.xml`` holds character shapes (font sizes) and styles;
``Contents/sectionN.xml`` holds the body: ``hp:p`` paragraphs of ``hp:run``s with ``hp:t``
text, ``hp:tbl`` tables (``hp:tr``/``hp:tc`` with ``hp:cellAddr``), ``hp:pic`` pictures
(``hc:img binaryItemIDRef``), shapes with text boxes, and controls for headers, footers,
page numbers and notes. Elements are matched by local name, so the 2011 and 2016 namespace
versions read alike. Pages come, as in HWP, from the recorded line layout
(``hp:lineseg vertpos``); generated files without one get section and paragraph locations.

python-hwpx (PyPI) reads and writes HWPX too, but is a large, alpha-stage editing library;
reading text, tables and pictures needs only the few elements handled here.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.flowdoc import Block, flat_text, flow_parsed, table_blocks
from ingest.records import FileInfo, ParsedFile

MAX_PART_BYTES = 256 * 2**20  # one unpacked part: more is a zip bomb, not a document
_SKIPPED = frozenset({"header", "footer", "pageNum", "autoNum", "newNum", "pageHiding", "secPr", "colPr",
                      "hiddenComment", "fieldBegin", "fieldEnd", "bookmark", "linesegarray"})
_NOTES = frozenset({"footNote", "endNote"})
_SHAPES = frozenset({"rect", "ellipse", "arc", "polygon", "curve", "connectLine", "container", "textart"})
_HEADING_STYLE = re.compile(r"(?:개요|outline|heading|제목)\s*(\d)?", re.I)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> Iterator[ET.Element]:
    return (c for c in el if _local(c.tag) == name)


def _find(el: ET.Element, name: str) -> ET.Element | None:
    return next((d for d in el.iter() if _local(d.tag) == name), None)


class _Package:
    """The zip, its parts by name, and the manifest."""

    def __init__(self, path: str, data: bytes) -> None:
        import io

        self.path = path
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            self.names = set(self.zip.namelist())
        except (zipfile.BadZipFile, ValueError) as exc:
            raise IngestError(path, "corrupt HWPX file", f"not a zip: {exc}") from exc
        if "META-INF/manifest.xml" in self.names and b"encryption-data" in self.read("META-INF/manifest.xml"):
            raise IngestError(path, "password-protected HWPX", "parts are encrypted; remove the password "
                              "in Hangul and save again")

    def read(self, name: str) -> bytes:
        try:
            info = self.zip.getinfo(name)
        except KeyError as exc:
            raise IngestError(self.path, "corrupt HWPX file", f"no {name}") from exc
        if info.file_size > MAX_PART_BYTES:
            raise IngestError(self.path, "too large", f"{name} unpacks to {info.file_size / 2**20:.0f} MB")
        try:
            return self.zip.read(info)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:  # RuntimeError: an encrypted member
            raise IngestError(self.path, "corrupt HWPX file", f"{name}: {exc}") from exc

    def xml(self, name: str) -> ET.Element:
        try:
            return ET.fromstring(self.read(name))
        except ET.ParseError as exc:
            raise IngestError(self.path, "corrupt HWPX file", f"{name}: {exc}") from exc

    def manifest(self) -> tuple[dict[str, str], list[str], str]:
        """(item id → part name, section parts in reading order, title) from content.hpf."""
        sections = sorted((n for n in self.names if re.fullmatch(r"Contents/section\d+\.xml", n)),
                          key=lambda n: int(re.sub(r"\D", "", posixpath.basename(n))))
        if "Contents/content.hpf" not in self.names:
            return {}, sections, ""
        root = self.xml("Contents/content.hpf")
        items: dict[str, str] = {}
        for el in root.iter():
            if _local(el.tag) == "item" and el.get("id") and el.get("href"):
                href = el.get("href", "")
                items[el.get("id", "")] = href if href in self.names else posixpath.join("Contents", href)
        spine = [items[ref] for el in root.iter() if _local(el.tag) == "itemref"
                 if (ref := el.get("idref", "")) in items and items[ref] in sections]
        title_el = _find(root, "title")
        return items, spine or sections, (title_el.text or "").strip() if title_el is not None else ""


class _Styles:
    """Font sizes by ``charPrIDRef`` and heading levels by ``styleIDRef`` (header.xml)."""

    def __init__(self, header: ET.Element | None) -> None:
        self.sizes: dict[str, float] = {}
        self.levels: dict[str, int] = {}
        for el in header.iter() if header is not None else ():
            name = _local(el.tag)
            if name == "charPr" and el.get("height", "").isdigit():
                self.sizes[el.get("id", "")] = int(el.get("height", "0")) / 100
            elif name == "style":
                m = _HEADING_STYLE.match(el.get("name", "")) or _HEADING_STYLE.match(el.get("engName", ""))
                if m:
                    self.levels[el.get("id", "")] = int(m.group(1) or 1)


def _run_text(t: ET.Element) -> str:
    """Text of an ``hp:t``: its text and the tails of inline marks (tab, line break, ...)."""
    parts = [t.text or ""]
    for child in t:
        name = _local(child.tag)
        parts.append("\t" if name == "tab" else "\n" if name == "lineBreak" else " " if "Space" in name else "")
        parts.append(child.tail or "")
    return "".join(parts)


class _Section:
    def __init__(self, pkg: _Package, styles: _Styles, items: dict[str, str], number: int, page: int) -> None:
        self.pkg, self.styles, self.items = pkg, styles, items
        self.number = number
        self.page = page
        self.paragraph = 0
        self.last: tuple[int, int] | None = None
        self.laid_out = False

    def _advance(self, p: ET.Element) -> int:
        """Count pages over a top-level paragraph's recorded lines; the page it starts on."""
        start = None
        for seg in (seg for arr in _children(p, "linesegarray") for seg in _children(arr, "lineseg")):
            vpos, horz = int(seg.get("vertpos", "0") or 0), int(seg.get("horzpos", "0") or 0)
            if self.last is not None and vpos < self.last[0] and horz <= self.last[1]:
                self.page += 1
            self.last = (vpos, horz)
            self.laid_out = True
            start = self.page if start is None else start
        if start is None and p.get("pageBreak") == "1" and self.last is not None:
            self.page += 1
        return self.page if start is None else start

    def read(self, root: ET.Element) -> Iterator[Block]:
        for p in _children(root, "p"):
            self.paragraph += 1
            yield from self._paragraph(p, self._advance(p))

    def _block(self, page: int, **kw: object) -> Block:
        return Block(section=self.number, paragraph=self.paragraph, page=page, **kw)  # type: ignore[arg-type]

    def _paragraph(self, p: ET.Element, page: int) -> Iterator[Block]:
        texts: list[str] = []
        size = 0.0
        later: list[Block] = []
        for run in _children(p, "run"):
            if not size:
                size = self.styles.sizes.get(run.get("charPrIDRef", ""), 0.0)
            for el in run:
                name = _local(el.tag)
                if name == "t":
                    texts.append(_run_text(el))
                elif name == "tbl":
                    later.extend(self._table(el, page))
                elif name == "pic":
                    later.extend(self._picture(el, page))
                elif name in _SHAPES:
                    later.extend(self._shape(el, page))
                elif name == "ctrl":
                    for c in el:
                        if _local(c.tag) in _NOTES:
                            later.extend(self._sublists(c, page))
                # header/footer/page numbers (inside hp:ctrl), section definitions: not body text
        raw = "".join(texts)
        heading = -1 if re.search(r"\t[ .·…]*\d+\s*$", raw) else self.styles.levels.get(p.get("styleIDRef", ""), 0)
        text = " ".join(raw.split())
        if text:
            yield self._block(page, kind="text", text=text, size=size, heading=heading)
        yield from later

    def _sublists(self, el: ET.Element, page: int) -> Iterator[Block]:
        for sub in (d for d in el.iter() if _local(d.tag) == "subList"):
            for p in _children(sub, "p"):
                yield from self._paragraph(p, page)

    def _shape(self, el: ET.Element, page: int) -> Iterator[Block]:
        """A drawing object: the paragraphs of its text box and any picture inside it."""
        for child in el:
            name = _local(child.tag)
            if name == "drawText":
                yield from self._sublists(child, page)
            elif name == "pic":
                yield from self._picture(child, page)
            elif name in _SHAPES:
                yield from self._shape(child, page)

    def _picture(self, pic: ET.Element, page: int) -> Iterator[Block]:
        img = _find(pic, "img")
        part = self.items.get(img.get("binaryItemIDRef", "")) if img is not None else None
        if part and part in self.pkg.names:
            yield self._block(page, kind="image", image=self.pkg.read(part))

    def _table(self, tbl: ET.Element, page: int) -> Iterator[Block]:
        cells: list[tuple[int, int, str]] = []
        inner: list[Block] = []
        for r, tr in enumerate(_children(tbl, "tr")):
            for c, tc in enumerate(_children(tr, "tc")):
                addr = next(_children(tc, "cellAddr"), None)
                row = int(addr.get("rowAddr", r)) if addr is not None else r
                col = int(addr.get("colAddr", c)) if addr is not None else c
                sub = [b for s in _children(tc, "subList") for p in _children(s, "p") for b in self._paragraph(p, page)]
                inner.extend(sub)
                cells.append((row, col, flat_text(sub)))
        yield from table_blocks(cells, inner, lambda rows: self._block(page, kind="table", rows=rows))


def parse_hwpx(info: FileInfo, data: bytes, cfg: IngestConfig, media_dir: Path) -> ParsedFile:
    """Parse an HWPX file into text chunks, tables and figures (see the module docstring)."""
    pkg = _Package(info.path, data)
    items, sections, title = pkg.manifest()
    if not sections:
        raise IngestError(info.path, "corrupt HWPX file", "no Contents/section*.xml")
    styles = _Styles(pkg.xml("Contents/header.xml") if "Contents/header.xml" in pkg.names else None)
    blocks: list[Block] = []
    page, laid_out = 1, False
    for n, name in enumerate(sections, start=1):
        sec = _Section(pkg, styles, items, n, page + 1 if n > 1 else 1)
        blocks.extend(sec.read(pkg.xml(name)))
        page, laid_out = sec.page, laid_out or sec.laid_out
    if not laid_out:  # nothing recorded where lines went: locations are section/paragraph
        for b in blocks:
            b.page = None
    if not any(b.text.strip() or b.rows or b.image for b in blocks):
        raise IngestError(info.path, "no text")
    return flow_parsed(info, blocks, cfg, media_dir, title=title)
