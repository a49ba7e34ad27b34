"""Images embedded in office and word-processor files (docx/pptx/xlsx, HWP, HWPX) as PNG bytes,
checked against the pixel limit from their header before anything is decoded."""

from __future__ import annotations

import io
import logging

from PIL import Image

from ingest.limits import image_file_pixels

log = logging.getLogger(__name__)


def embedded_png(blob: bytes, min_px: int, max_pixels: int, where: str = "") -> bytes | None:
    """``blob`` re-encoded as PNG; None when Pillow cannot read it (EMF, WMF, OLE objects), when it
    is an icon (a side under ``min_px``) or when its header declares more than ``max_pixels``
    (``ingest.max_image_pixels``: a decompression bomb must not cost gigabytes; logged with ``where``)."""
    pixels = image_file_pixels(blob)
    if pixels is not None and pixels > max_pixels:
        log.warning("%s: embedded image of %s pixels > ingest.max_image_pixels = %s: skipped", where or "?",
                    f"{pixels:,}", f"{max_pixels:,}")
        return None
    try:
        with Image.open(io.BytesIO(blob)) as img:
            if min(img.size) < min_px:
                return None
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="PNG")
            return buf.getvalue()
    except Exception:  # Pillow cannot read every format these files embed: skip those
        return None
