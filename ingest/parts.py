"""A file's items in page ranges (:class:`FilePart`), streamed while later pages are parsed.

A long PDF is handed on in parts (:func:`ingest.pdf.iter_pdf_parts`) so embedding starts on its first
pages while the rest is still rendered and OCR'd, and no process holds the whole file's items. Every
part carries the file's :class:`~ingest.records.Document` (known after the structure pass). A
consumer must treat the file as complete only at the part with ``last`` set; a part with ``index``
0 for a file it already holds parts of means parsing started over (a retry after a crashed worker):
the parts held are to be dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from ingest.records import Document, Item, PageWarning, ParsedFile, _Record


class FilePart(_Record):
    """One page range of one file's items."""

    document: Document
    items: list[Item]
    index: int = Field(ge=0, description="0 for the file's first part, then 1, 2, ...")
    pages: int = Field(ge=0, description="Pages this part covers (they add up to document.pages).")
    last: bool = Field(description="Whether this part ends the file.")
    seconds: dict[str, float] = Field(default_factory=dict, description="Stage timings spent on this part.")
    warnings: list[PageWarning] = Field(default_factory=list)
    run: str = Field(default="", description="Which parse of the file made this part, when its page ranges are "
                     "parsed by several workers (ingest.parse_ranges); parts of one run belong together.")


def whole(parsed: ParsedFile) -> FilePart:
    """A whole parsed file as its only part."""
    return FilePart(document=parsed.document, items=parsed.items, index=0, pages=parsed.document.pages,
                    last=True, seconds=parsed.seconds, warnings=parsed.warnings)


def merge_parts(parts: Sequence[FilePart], *, chunks_first: bool = False) -> ParsedFile:
    """The ``ParsedFile`` of a file's parts (in order): items concatenated (``chunks_first``: text
    chunks first, then the other items, each in part order, as a whole-document pass lists them),
    stage seconds summed, warnings concatenated."""
    if not parts or not parts[-1].last:
        raise ValueError("merge_parts needs a file's parts up to its last one")
    items = [it for p in parts for it in p.items]
    if chunks_first:
        items = [it for it in items if it.kind == "text"] + [it for it in items if it.kind != "text"]
    seconds: dict[str, float] = {}
    for p in parts:
        for k, v in p.seconds.items():
            seconds[k] = round(seconds.get(k, 0.0) + v, 4)
    return ParsedFile(document=parts[-1].document, items=items, seconds=seconds,
                      warnings=[w for p in parts for w in p.warnings])
