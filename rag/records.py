"""Typed records of the retrieval and answer stages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ingest.records import BBox, FileFailure, Item, ItemKind, Location


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SparseVector(_Record):
    """Keyword term weights; Qdrant multiplies them by IDF at query time."""

    indices: list[int] = Field(default_factory=list)
    values: list[float] = Field(default_factory=list)


EMBEDDED_AS = r"^(text|image|chunks|text:[0-9]+)$"
"""The values of ``embedded_as`` (see :attr:`Point.embedded_as`)."""


def embedded_as_of(value: object) -> str:
    """A stored payload's ``embedded_as`` as a valid value: payloads written before it was recorded,
    or with a value this version does not know, read as ``text``."""
    return value if isinstance(value, str) and re.match(EMBEDDED_AS, value) else "text"


class Point(_Record):
    """One item as stored: its dense vector, its keyword vector and the item itself."""

    id: str
    vector: list[float]
    sparse: SparseVector
    item: Item
    embedded_as: str = Field(pattern=EMBEDDED_AS)
    """How the dense vector was made: from the item's ``text`` (cut to the model window), from its
    ``image``, from its first N tokens (``text:N``) or as the mean of its page's chunk vectors
    (``chunks``); the last two only for page items (``embed.page_vector``, :mod:`rag.indexing`)."""
    tenant: str = "default"
    tags: list[str] = Field(default_factory=list)
    modified: datetime | None = None
    """The source file's modification time when it was ingested."""
    created: datetime | None = None
    """The creation date the document states (PDF metadata), if any."""


def timestamp(value: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


class DateRange(_Record):
    """``since <= date < until``; either end may be open. Naive datetimes are UTC."""

    since: datetime | None = None
    until: datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.since is None and self.until is None:
            raise ValueError("a date range needs since, until or both")
        if self.since is not None and self.until is not None and timestamp(self.until) <= timestamp(self.since):
            raise ValueError(f"date range is empty: until {self.until} is not after since {self.since}")
        return self

    def bounds(self) -> tuple[float | None, float | None]:
        """``(since, until)`` as epoch seconds."""
        return (None if self.since is None else timestamp(self.since),
                None if self.until is None else timestamp(self.until))


class SearchFilter(_Record):
    """Restrictions applied inside every prefetch of a query."""

    tenant: str | None = None
    files: list[str] = Field(default_factory=list)
    """Exact absolute paths; empty means all files."""
    file_globs: list[str] = Field(default_factory=list)
    """``fnmatch`` patterns on the absolute path, case-sensitive (``*`` also crosses ``/``:
    ``/docs/*.pdf`` matches ``/docs/a/b.pdf``). No Qdrant engine matches globs natively, so a store
    expands them against the files it holds into exact paths; together with ``files`` they form one
    allowed set (a point's file must be listed OR match a pattern). Patterns matching no file
    (and no ``files``) match nothing."""
    kinds: list[ItemKind] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    """A point must carry at least one of these tags."""
    doc_ids: list[str] = Field(default_factory=list)
    modified: DateRange | None = None
    """Only files modified (on disk, when ingested) in this range."""
    created: DateRange | None = None
    """Only documents whose stated creation date is in this range; documents that state none are
    left out."""


class Prefetch(_Record):
    """One branch of a hybrid query."""

    using: Literal["dense", "sparse"]
    limit: int = Field(ge=1)
    kinds: list[ItemKind] = Field(default_factory=list)
    """Restrict this branch to these kinds (empty: all)."""
    weight: float = Field(default=1.0, gt=0)
    """Weight of this branch in the RRF fusion (1 for all: plain RRF)."""
    pages: list[int] = Field(default_factory=list)
    """Restrict this branch to these page numbers (empty: all pages)."""


class QueryPlan(_Record):
    """A whole query, executed by a store in ONE call: prefetch branches fused by RRF."""

    dense: list[float] | None = None
    sparse: SparseVector | None = None
    prefetch: list[Prefetch]
    filter: SearchFilter = Field(default_factory=SearchFilter)
    limit: int = Field(ge=1)


class Hit(_Record):
    """A point returned by a query."""

    id: str
    score: float
    item: Item
    embedded_as: str = Field(default="text", pattern=EMBEDDED_AS)
    """How the point's dense vector was made (:attr:`Point.embedded_as`)."""


class StoreStats(_Record):
    """What an index holds."""

    points: int
    files: int
    items: dict[str, int]
    embedder_id: str
    dim: int


class Evidence(_Record):
    """One piece of retrieved evidence as shown to the generator and the user."""

    id: str
    file: str
    page: int
    kind: ItemKind
    score: float
    text: str = ""
    image_path: str | None = None
    bbox: BBox | None = None
    section: list[str] = Field(default_factory=list)
    rerank_score: float | None = None
    """The reranker's score when a reranker reordered this item (``score`` stays the store's)."""
    location: Location | None = None
    """Section and paragraph for files without fixed pages (HWP, HWPX); None: ``page`` is a page."""


class Citation(_Record):
    """A reference [n] in an answer, resolved to the evidence it points at."""

    n: int = Field(ge=1)
    id: str
    file: str
    page: int
    kind: ItemKind
    bbox: BBox | None = None
    image_path: str | None = None
    location: Location | None = None
    """Section and paragraph for files without fixed pages (HWP, HWPX); None: ``page`` is a page."""

    @property
    def where(self) -> str:
        """Where a person finds the cited text: ``page 3``, or ``section 1, paragraph 12``."""
        return where(self.page, self.location)


def where(page: int, location: Location | None) -> str:
    """``page N`` for paged files, ``section S, paragraph P`` when the file records no pages."""
    if location is not None and location.kind == "paragraph":
        return f"section {location.section}, paragraph {location.paragraph}"
    return f"page {page}"


class Answer(_Record):
    """An answer with the citations it makes and the evidence it was given."""

    question: str
    text: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    dropped_citations: list[int] = Field(default_factory=list)
    """Numbers the model cited that match no evidence; removed from ``text``."""
    support_issue: str | None = None
    """Why the evidence-sufficiency check (:mod:`rag.generate.support`) did not accept the answer:
    with ``abstained``, the answer was replaced by the abstain sentence because its citations lack
    the question's facts; without, the answer stands but its citations lack some of its own
    numbers (a model's answer: check it). None when the check passed or did not run."""
    seconds: dict[str, float] = Field(default_factory=dict)


class FileWarning(_Record):
    """Something lost or degraded in a file that was ingested: which file, which page, why."""

    path: str
    page: int | None = None
    """1-based page; None when it concerns the whole file."""
    reason: str
    detail: str = ""
    """The underlying error, or the limit hit and its setting."""


class FileSkip(_Record):
    """A file left out on purpose: an unsupported type, an excluded name, a symlink leading out of
    the ingested folder."""

    path: str
    reason: str


class FileNotice(_Record):
    """A file that was ingested but deserves a look, e.g. one that yielded no points."""

    path: str
    notice: str


class IngestReport(_Record):
    """What one ``ingest`` run did."""

    files_seen: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    files_failed: list[FileFailure] = Field(default_factory=list)
    """Files not ingested: ``reason`` is short (``encrypted PDF (no password configured)``),
    ``detail`` the underlying error."""
    files_skipped: list[FileSkip] = Field(default_factory=list)
    """Unsupported types, excluded files, symlinks leading out of the ingested folder."""
    notices: list[FileNotice] = Field(default_factory=list)
    """Files that were ingested but deserve a look, e.g. a file that yielded no points (nothing
    searchable: blank pages, text lost to filtering, a repaired empty PDF)."""
    warnings: list[FileWarning] = Field(default_factory=list)
    """Pages of ingested files that were lost or degraded (a page that failed to render, OCR or
    parse; a render shrunk by ``ingest.max_render_pixels``), or a guess made (a text encoding)."""
    items: dict[str, int] = Field(default_factory=lambda: {"text": 0, "table": 0, "figure": 0, "page": 0})
    pages: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = Field(default_factory=dict)
