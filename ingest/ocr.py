"""OCR engines behind one small Protocol, chosen by name (``ingest.ocr`` in the config).

An engine returns text lines with their pixel boxes (``OcrLine``), so OCR'd chunks can cite
where they sit on the page; ``text_of`` joins lines into plain text where no geometry is
needed (figure crops).

``tesseract`` runs the Tesseract CLI on a PNG (no Python binding needed); ``none`` recognises
nothing. When Tesseract is configured but not installed, ``get_ocr_engine`` logs one warning
and hands back the ``none`` engine, so ingestion goes on without OCR instead of failing.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ingest.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcrLine:
    """One recognised line of text and where it is in the image."""

    text: str
    box: tuple[int, int, int, int]
    """``(x0, y0, x1, y1)`` in image pixels, origin top-left: the union of the line's words."""
    paragraph: int
    """Lines with the same number belong to one paragraph, numbered in reading order."""


def text_of(lines: Sequence[OcrLine]) -> str:
    """Plain text of ``lines``: one line per line, paragraphs separated by a blank line."""
    out: list[str] = []
    for i, line in enumerate(lines):
        if i and line.paragraph != lines[i - 1].paragraph:
            out.append("")
        out.append(line.text)
    return "\n".join(out)


@runtime_checkable
class OcrEngine(Protocol):
    """Turns an image into lines of text with their boxes."""

    name: str

    def ocr_lines(self, png: bytes, languages: str) -> list[OcrLine]:
        """Lines recognised in ``png`` (PNG bytes), in reading order; ``languages`` like ``"eng+kor"``."""
        ...


class NoOcr:
    """The engine that recognises nothing (OCR off or unavailable)."""

    name = "none"

    def ocr_lines(self, png: bytes, languages: str) -> list[OcrLine]:
        """Always no lines."""
        return []


def parse_tsv(tsv: str) -> list[OcrLine]:
    """Lines from Tesseract's ``tsv`` output (one row per page, block, paragraph, line and word).

    Only word rows (level 5) with text are read; a line's box is the union of its words',
    which is tighter than Tesseract's own line row when a line has trailing noise cut off.
    """
    words: dict[tuple[int, int, int, int], list[tuple[str, int, int, int, int]]] = {}
    for row in tsv.splitlines()[1:]:  # the first row is the column header
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        page, block, par, line = (int(c) for c in cols[1:5])
        left, top, width, height = (int(c) for c in cols[6:10])
        words.setdefault((page, block, par, line), []).append(
            (cols[11].strip(), left, top, left + width, top + height))
    paragraphs: dict[tuple[int, int, int], int] = {}
    out: list[OcrLine] = []
    for (page, block, par, _), ws in words.items():
        number = paragraphs.setdefault((page, block, par), len(paragraphs))
        box = (min(w[1] for w in ws), min(w[2] for w in ws), max(w[3] for w in ws), max(w[4] for w in ws))
        out.append(OcrLine(" ".join(w[0] for w in ws), box, number))
    return out


class TesseractOcr:
    """Tesseract 5 through its command line (``tesseract stdin stdout -l LANGS --psm 3 tsv``)."""

    name = "tesseract"

    def __init__(self, binary: str = "tesseract", timeout_s: float = 120.0) -> None:
        found = shutil.which(binary)
        if found is None:
            raise ConfigError(f"tesseract binary {binary!r} not found (run scripts/setup-system.sh)")
        self.binary = found
        self.timeout_s = timeout_s

    @functools.cached_property
    def installed_languages(self) -> frozenset[str]:
        """Language packs Tesseract reports (``tesseract --list-langs``)."""
        out = subprocess.run([self.binary, "--list-langs"], capture_output=True, text=True, check=False)
        lines = (out.stdout + out.stderr).splitlines()
        return frozenset(line.strip() for line in lines[1:] if line.strip() and " " not in line.strip())

    def _usable(self, languages: str) -> str:
        wanted = [lang for lang in languages.split("+") if lang]
        usable = [lang for lang in wanted if lang in self.installed_languages]
        missing = sorted(set(wanted) - set(usable))
        if missing:
            _warn_once(f"tesseract language data missing for {missing}; install tesseract-ocr-<lang>")
        return "+".join(usable) or "eng"

    def ocr_lines(self, png: bytes, languages: str) -> list[OcrLine]:
        """Recognise ``png``; an engine failure is logged and yields no lines (never raises)."""
        # One thread per call: parsing already runs one process per core, and Tesseract's
        # OpenMP threads would only fight them.
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        cmd = [self.binary, "stdin", "stdout", "-l", self._usable(languages), "--psm", "3", "tsv"]
        try:
            out = subprocess.run(cmd, input=png, capture_output=True, timeout=self.timeout_s, env=env,
                                 check=False)
        except subprocess.TimeoutExpired:
            log.warning("tesseract timed out after %.0f s", self.timeout_s)
            return []
        if out.returncode != 0:
            log.warning("tesseract failed (rc=%s): %s", out.returncode,
                        out.stderr.decode(errors="replace")[-300:])
            return []
        return parse_tsv(out.stdout.decode("utf-8", errors="replace"))


_REGISTRY: dict[str, Callable[[], OcrEngine]] = {
    "tesseract": TesseractOcr,
    "none": NoOcr,
}


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


@functools.cache
def get_ocr_engine(name: str) -> OcrEngine:
    """The engine registered under ``name``; falls back to ``none`` (one warning) if missing."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown OCR engine: {name!r} (known: {sorted(_REGISTRY)})") from None
    try:
        return factory()
    except ConfigError as exc:
        _warn_once(f"OCR engine {name!r} unavailable, continuing without OCR: {exc}")
        return NoOcr()
