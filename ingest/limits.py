"""Resource limits checked before anything expensive is decoded.

A 90 KB PNG can declare 20000×20000 pixels (1.2 GB decoded), a 500 KB .docx can hold a 500 MB
member, an 868-byte PDF a page so large that one render at OCR resolution costs over a
gigabyte. Sizes on disk say nothing about these costs, so the checks read what the file
declares: an image's header (PIL, without decoding), a zip's central directory, a page's size
in points. Every refusal names the file, the page where there is one, and the limit with its
setting (``ingest.max_...``), so a user knows what to raise.
"""

from __future__ import annotations

import io
import math
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ingest.config import IngestConfig
from ingest.errors import IngestError

IMAGE_FILE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
ZIP_SUFFIXES = frozenset({".docx", ".pptx", ".xlsx", ".hwpx"})
MIN_RENDER_DPI = 18
"""Below this a page render shows nothing useful: the page is not rendered."""
MIN_OCR_DPI = 72
"""Below this Tesseract recognises nothing: the page is not OCR'd."""
_RATIO_FLOOR = 1 << 20  # members smaller than this decompressed are never a bomb worth refusing


def _n(value: float) -> str:
    return f"{value:,.0f}"


def image_file_pixels(data: bytes) -> int | None:
    """Pixels an image file declares, all frames together, read from its header only; None when
    PIL cannot read the header (MuPDF then decides whether the file is an image at all)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                frames = int(getattr(im, "n_frames", 1) or 1)  # TIFF: reads the frame headers, not pixels
        except Image.DecompressionBombError as exc:  # PIL's own cap (~179 Mpx) fires inside open()
            m = re.search(r"\((\d+) pixels\)", str(exc))
            return int(m.group(1)) if m else None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return None
    return width * height * frames


def check_image_file(path: str, data: bytes, max_pixels: int) -> None:
    """Refuse an image file declaring more than ``max_pixels`` pixels, before it is decoded."""
    pixels = image_file_pixels(data)
    if pixels is not None and pixels > max_pixels:
        raise IngestError(path, "image too large",
                          f"{_n(pixels)} pixels > ingest.max_image_pixels = {_n(max_pixels)}; "
                          "refused before decoding")


def check_zip(path: str, data: bytes, max_unpacked_mb: float, max_ratio: float) -> None:
    """Refuse a zip-based file whose central directory declares more than ``max_unpacked_mb``
    decompressed, or a member (1 MiB or more) compressed more than ``max_ratio`` times.

    Python's zip reader stops at the size the directory declares, so the parsers (python-docx,
    python-pptx, openpyxl) never unpack more than what is checked here.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        return  # not a readable zip: the format's parser reports it as corrupt
    total = 0
    for m in members:
        total += m.file_size
        ratio = m.file_size / max(m.compress_size, 1)
        if m.file_size >= _RATIO_FLOOR and ratio > max_ratio:
            raise IngestError(path, "compression ratio too high",
                              f"member {m.filename} unpacks {_n(m.compress_size)} bytes to "
                              f"{_n(m.file_size)} ({ratio:,.0f}:1) > ingest.max_zip_ratio = {max_ratio:g}")
    if total > max_unpacked_mb * 2**20:
        raise IngestError(path, "unpacks too large",
                          f"{total / 2**20:,.1f} MB decompressed > ingest.max_unpacked_mb = {max_unpacked_mb:g}")


def check_before_parse(path: str, data: bytes, cfg: IngestConfig) -> None:
    """Every check that needs only the file's bytes: image headers and zip directories."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_FILE_SUFFIXES:
        check_image_file(path, data, cfg.max_image_pixels)
    elif suffix in ZIP_SUFFIXES:
        check_zip(path, data, cfg.max_unpacked_mb, cfg.max_zip_ratio)


@dataclass(frozen=True)
class RenderPlan:
    """The resolution a render is made at, and why it differs from the one asked for."""

    dpi: int | None
    """The resolution to use; None: do not render."""
    note: str = ""
    """Empty when ``dpi`` is the one asked for; else what the limit did, for a page warning."""


def plan_render(width_pt: float, height_pt: float, dpi: int, max_pixels: int, *, what: str,
                min_dpi: int = MIN_RENDER_DPI) -> RenderPlan:
    """Fit a render of a ``width_pt`` × ``height_pt`` region at ``dpi`` into ``max_pixels``.

    A render over the limit is planned at the highest resolution that fits; below ``min_dpi``
    it is not made at all. ``what`` ("page render", "OCR render", "figure crop") starts the note.
    """
    pixels = (width_pt * dpi / 72) * (height_pt * dpi / 72)
    if pixels <= max_pixels:
        return RenderPlan(dpi)
    fitted = math.floor(dpi * math.sqrt(max_pixels / pixels))
    over = (f"{width_pt:,.0f}×{height_pt:,.0f} pt at {dpi} dpi is {_n(pixels)} pixels > "
            f"ingest.max_render_pixels = {_n(max_pixels)}")
    if fitted < min_dpi:
        return RenderPlan(None, f"{what} skipped: {over}, and {fitted} dpi would be below {min_dpi}")
    return RenderPlan(fitted, f"{what} at {fitted} dpi instead of {dpi}: {over}")


def largest_image(images: list[tuple[int, int]]) -> int:
    """Pixels of the largest of ``(width, height)`` image sizes (0 for none)."""
    return max((w * h for w, h in images), default=0)
