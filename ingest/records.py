"""Typed records that flow out of ingestion: documents and the items made from them.

Every item id is stable: a UUID derived from the file path, the file's content hash and the
item's location (kind, page, sequence), so re-ingesting the same file yields the same ids.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ItemKind = Literal["text", "table", "figure", "page"]
ITEM_KINDS: tuple[ItemKind, ...] = ("text", "table", "figure", "page")
TEXT_KINDS: tuple[ItemKind, ...] = ("text", "table")
"""Items embedded from their text (the dense text branch of a search)."""
IMAGE_KINDS: tuple[ItemKind, ...] = ("figure", "page")
"""Items with an image: embedded from it (or from their bridge text on text-only embedders)."""

_ID_NAMESPACE = uuid.UUID("6f1c2a1e-6d0b-4c39-9a53-6d6d72616700")


def content_hash(data: bytes) -> str:
    """Hex SHA-256 of ``data``: the content part of every id."""
    return hashlib.sha256(data).hexdigest()


def item_id(file: str, sha256: str, kind: ItemKind, page: int, seq: int) -> str:
    """Stable point id for an item: same file, content and location give the same id."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{file}\x00{sha256}\x00{kind}\x00{page}\x00{seq}"))


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BBox(_Record):
    """A rectangle on a page in PDF points (origin top-left, as PyMuPDF reports it)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @model_validator(mode="after")
    def _ordered(self) -> BBox:
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError(f"bbox corners out of order: {self}")
        return self

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


class FileInfo(_Record):
    """A file found by discovery, before it is parsed."""

    path: str = Field(description="Absolute path of the file.")
    size: int = Field(ge=0)
    mtime: float
    sha256: str = Field(description="Hex SHA-256 of the file's bytes.")


class Document(_Record):
    """One ingested source file."""

    doc_id: str = Field(description="First 16 hex digits of the file's SHA-256.")
    path: str
    sha256: str
    size: int = Field(ge=0)
    mtime: float
    pages: int = Field(ge=0)
    title: str = ""
    mime: str = "application/pdf"
    created: datetime | None = None
    """When the document says it was made (PDF ``creationDate``), if it says so."""


class Location(_Record):
    """Where an item sits in a word-processor file (HWP, HWPX), and what its ``page`` means.

    ``kind="page"``: the file records its layout (Hangul stores where each line was laid out),
    so ``page`` is the printed page. ``kind="paragraph"``: the file records no pages, so a
    citation names ``section`` and ``paragraph`` instead, and ``page`` holds the section number.
    """

    kind: Literal["page", "paragraph"]
    section: int = Field(ge=1, description="1-based section of the file (HWP ``BodyText/SectionN`` + 1).")
    paragraph: int = Field(
        ge=1, description="1-based paragraph of that section where the item starts, counting every paragraph "
        "the file stores (empty ones included).")


class _ItemBase(_Record):
    id: str
    doc_id: str
    file: str = Field(description="Absolute path of the source file.")
    page: int = Field(ge=1, description="1-based page number.")
    bbox: BBox | None = None
    text: str = Field(
        default="",
        description="The item's text: chunk text, table markdown, or for images the bridge text "
        "(caption, OCR, nearby text) that text-only embedders embed.",
    )
    section: list[str] = Field(default_factory=list, description="Heading path the item sits under.")
    order: int | None = Field(
        default=None, ge=0,
        description="Text chunks: position among the document's chunks in reading order (0, 1, ...), so "
        "retrieval can fetch a hit's neighbours. None for other kinds.",
    )
    location: Location | None = Field(
        default=None,
        description="Section and paragraph, and whether ``page`` is a printed page, for files without fixed "
        "pages (HWP, HWPX). None: ``page`` is the file's page (PDF, images) or 1 (text and office files).",
    )


class TextChunk(_ItemBase):
    """A run of prose from one page."""

    kind: Literal["text"] = "text"


class Table(_ItemBase):
    """A table: ``text`` holds its markdown; ``image_path`` a render of its region."""

    kind: Literal["table"] = "table"
    caption: str = ""
    image_path: str | None = None


class Figure(_ItemBase):
    """A raster image or a vector chart, cropped and saved as an image file."""

    kind: Literal["figure"] = "figure"
    caption: str = ""
    image_path: str


class PageImage(_ItemBase):
    """A whole page rendered to an image file."""

    kind: Literal["page"] = "page"
    image_path: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    ocr: bool = False
    """The page's text came from OCR (no usable text layer): its text is not that of chunks
    embedded from a text layer, so it keeps its own page vector (``embed.page_vector``)."""


Item = Annotated[TextChunk | Table | Figure | PageImage, Field(discriminator="kind")]


def image_path_of(item: Item) -> str | None:
    """The image file an item carries, if any."""
    return getattr(item, "image_path", None)


class PageWarning(_Record):
    """Something lost or degraded on one page of a file that was otherwise parsed: a page that
    failed to render, OCR or parse, or a render shrunk or skipped by a resource limit."""

    page: int | None = Field(default=None, ge=1, description="1-based page; None for the whole file.")
    reason: str = Field(description="Short cause, e.g. 'page skipped', 'render shrunk', 'ocr failed'.")
    detail: str = ""
    """Longer explanation: the underlying error, or the limit and its setting."""


class ParsedFile(_Record):
    """What parsing one file produced."""

    document: Document
    items: list[Item]
    seconds: dict[str, float] = Field(default_factory=dict, description="Stage timings of this file.")
    warnings: list[PageWarning] = Field(
        default_factory=list,
        description="Pages lost or degraded, or a guess made (a text encoding): for the ingest report.")


class FileFailure(_Record):
    """A file that could not be ingested, and why."""

    path: str
    reason: str
    detail: str = ""
    """Longer explanation (the underlying error), for logs and reports."""
