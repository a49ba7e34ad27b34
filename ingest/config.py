"""Configuration of the ingestion stage (the ``ingest:`` section of a profile)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.registry import default_include


class IngestConfig(BaseModel):
    """How files are found, parsed, chunked, rendered and OCR'd."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(default_factory=default_include)
    """Glob patterns (on the file name) a file must match to be ingested; by default every
    suffix in the parser registry (``ingest.registry.FORMATS``)."""
    exclude: list[str] = Field(default_factory=lambda: [".*", "~$*"])
    """Glob patterns (on the file name or any parent folder name) that skip a file."""
    chunk_tokens: int = Field(default=200, ge=16, le=8192)
    """Token budget of one text chunk (whitespace tokens)."""
    chunk_overlap: int = Field(default=30, ge=0)
    """Tokens shared by consecutive chunks, carried as whole sentences."""
    render_pages: bool = True
    """Render every page to an image (the page-level items of one-space retrieval)."""
    page_dpi: int = Field(default=96, ge=18, le=600)
    """Resolution of page renders."""
    page_item_text: Literal["page", "prose"] = "page"
    """Text of a page item (its bridge text on text-only embedders, and its keywords): ``page``, the
    page's prose followed by its tables' text, so a financial statement page is found as one unit
    (the statement's rows live in table items split into parts); ``prose``, the prose alone (the
    behaviour before issue 18). At most ``PAGE_ITEM_CHARS`` (``ingest.chunk``) characters."""
    figures: bool = True
    """Extract raster images and vector charts as figure items."""
    tables: bool = True
    """Extract tables as markdown items."""
    table_strategy: Literal["lines", "lines+text"] = "lines+text"
    """How tables are found: ``lines``, only tables drawn with ruling lines; ``lines+text``,
    also, on pages without one, tables set in aligned columns without rules (financial
    statements), kept only if they pass strict checks against prose and chart labels."""
    min_figure_px: int = Field(default=64, ge=1)
    """Raster images or drawing regions smaller than this on either side are icons: skipped."""
    ocr: str = "tesseract"
    """OCR engine for pages without a usable text layer and for figure crops: a name in
    ``ingest.ocr.OCR_ENGINES`` (``tesseract``, ``none``)."""
    ocr_languages: str = "kor+eng"
    """Tesseract language codes joined by '+'. Korean first: with 'eng+kor' Tesseract spaces
    Hangul syllables apart ("정 보 보 호"); 'kor+eng' reads English as well."""
    ocr_first_languages: str | None = None
    """Languages of a cheaper first OCR pass over PDF pages and raster figures (image files
    included): ``eng`` reads an English page for ~0.75 of the CPU of ``kor+eng``, and as well
    (docs/benchmarks.md, "ocr14"). Its reading is kept when Tesseract is sure of it
    (``ingest.ocr.confident``: mean confidence ≥ 70; Korean pages read by ``eng`` score under 60);
    otherwise the image is OCR'd again with ``ocr_languages``. A document whose text layer holds
    letters of another script (``ingest.ocr.other_script``: Hangul...) or whose first OCR'd page
    needed ``ocr_languages`` skips the first pass. None (the default; or ``none``, ``off``, empty:
    spellings a command-line override can give): every image read with ``ocr_languages`` at once.
    ``eng`` in the ``cpu-en`` profile only: for Korean folders the first pass reads every Korean image
    file and each scan's first page twice (1.65x), and on the dev split it moved within-document
    recall@5 0.780 -> 0.778 (docs/eval.md, "ocr14"). Office and HWP figures always use
    ``ocr_languages``."""
    ocr_min_chars: int = Field(default=32, ge=0)
    """A page whose text layer has fewer characters than this is OCR'd."""
    ocr_dpi: int = Field(default=200, ge=72, le=600)
    """Resolution at which pages and figure crops are rendered for OCR."""
    figure_dpi: int = Field(default=150, ge=36, le=600)
    """Resolution of figure and table crops."""
    engine: Literal["local", "ray"] = "local"
    """What parses, embeds and writes the files of an ingest: ``local``, this process (parse workers,
    one embedder); ``ray``, a Ray Data pipeline on a Ray cluster (parse tasks, embedding actors;
    the ``ray:`` section). Discovery, the manifest and deletions stay on the calling machine."""
    workers: int = Field(default=1, ge=1, le=64)
    """Processes that parse files in parallel."""
    queue_items: int = Field(default=1024, ge=1)
    """Parsed items (chunks, tables, figures, pages) that may wait between parsing and embedding:
    parsing runs ahead of embedding until this many are held, then waits. Bounds the ingest's
    memory by the queue, not the folder or the document (a PDF comes in 16-page parts; one part
    or file larger than this still goes through, alone)."""
    password: str | None = None
    """Password tried on encrypted PDFs."""
    max_file_mb: float = Field(default=512, gt=0)
    """Larger files are skipped with a reason."""
    # -- Resource limits. Each has a safe default; a hit names the file, the page and the limit.
    file_timeout_s: float | None = Field(default=1800, gt=0)
    """Seconds one file may take to parse before the process parsing it is killed and the file
    reported as timed out; None: no limit. Generous, as OCR takes about 1.2 s a scanned page on
    an idle core. Enforced in a worker process, so with ``workers`` = 1 files are parsed in one
    child process too (started once per run); only None parses in this process."""
    max_render_pixels: int = Field(default=40_000_000, ge=10_000)
    """Pixels of one render: a page image, an OCR render, a figure or table crop (A0 at 200 dpi is
    52 million). A larger render is made at the resolution that fits, with a page warning; a page
    that does not fit even at 18 dpi is not rendered."""
    max_image_pixels: int = Field(default=100_000_000, ge=10_000)
    """Pixels of an image file (every frame of a TIFF together) or of one image embedded in a PDF
    page, read from the header before anything is decoded: a larger image file is refused, a page
    holding one is neither rendered nor OCR'd (its text layer is kept)."""
    max_unpacked_mb: float = Field(default=256, gt=0)
    """Decompressed megabytes of a zip-based file (.docx, .pptx, .xlsx, .hwpx), summed from its
    central directory before anything is unpacked: a larger file is refused."""
    max_zip_ratio: float = Field(default=100, gt=1)
    """Largest decompressed/compressed ratio of one member (of 1 MiB or more decompressed) of such
    a file: office XML compresses 5 to 30 times, a zip bomb hundreds or thousands of times."""

    @field_validator("ocr_first_languages")
    @classmethod
    def _no_first_pass(cls, value: str | None) -> str | None:
        return None if value is None or value.strip().lower() in ("", "none", "off") else value.strip()

    @field_validator("ocr")
    @classmethod
    def _known_ocr_engine(cls, name: str) -> str:
        from ingest.ocr import OCR_ENGINES  # the engines' own module: no engine is imported or built here

        if name not in OCR_ENGINES.names():
            raise ValueError(f"unknown OCR engine {name!r}; known: {', '.join(OCR_ENGINES.names())}")
        return name
