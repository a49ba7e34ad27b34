"""OCR engines behind one small Protocol, chosen by name (``ingest.ocr`` in the config).

``tesseract`` runs the Tesseract CLI on a PNG (no Python binding needed); ``none`` returns no
text. When Tesseract is configured but not installed, ``get_ocr_engine`` logs one warning and
hands back the ``none`` engine, so ingestion goes on without OCR instead of failing.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ingest.errors import ConfigError

log = logging.getLogger(__name__)


@runtime_checkable
class OcrEngine(Protocol):
    """Turns an image into text."""

    name: str

    def ocr_image(self, png: bytes, languages: str) -> str:
        """Text recognised in ``png`` (PNG bytes); ``languages`` like ``"eng+kor"``."""
        ...


class NoOcr:
    """The engine that recognises nothing (OCR off or unavailable)."""

    name = "none"

    def ocr_image(self, png: bytes, languages: str) -> str:
        """Always the empty string."""
        return ""


class TesseractOcr:
    """Tesseract 5 through its command line (``tesseract stdin stdout -l LANGS``)."""

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

    def ocr_image(self, png: bytes, languages: str) -> str:
        """Recognise ``png``; an engine failure is logged and yields ``""`` (never raises)."""
        # One thread per call: parsing already runs one process per core, and Tesseract's
        # OpenMP threads would only fight them.
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        cmd = [self.binary, "stdin", "stdout", "-l", self._usable(languages), "--psm", "3"]
        try:
            out = subprocess.run(cmd, input=png, capture_output=True, timeout=self.timeout_s, env=env,
                                 check=False)
        except subprocess.TimeoutExpired:
            log.warning("tesseract timed out after %.0f s", self.timeout_s)
            return ""
        if out.returncode != 0:
            log.warning("tesseract failed (rc=%s): %s", out.returncode,
                        out.stderr.decode(errors="replace")[-300:])
            return ""
        return out.stdout.decode("utf-8", errors="replace")


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
