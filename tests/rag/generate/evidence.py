"""Evidence builders shared by the generation tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ingest.records import BBox
from rag.records import Evidence


def ev(n: int, text: str = "", *, kind: str = "text", image_path: Path | None = None, page: int | None = None,
       file: str = "/docs/report.pdf") -> Evidence:
    """Evidence number ``n`` (id ``e{n}``), ranked by ``n``."""
    return Evidence(id=f"e{n}", file=file, page=page if page is not None else n, kind=kind,  # type: ignore[arg-type]
                    score=1.0 / n, text=text, image_path=str(image_path) if image_path else None,
                    bbox=BBox(x0=10, y0=20, x1=110, y1=220))


def image(path: Path, size: tuple[int, int] = (800, 400), fmt: str = "PNG", color: str = "red") -> Path:
    """Write a solid image of ``size`` to ``path``."""
    Image.new("RGB", size, color).save(path, format=fmt)
    return path
