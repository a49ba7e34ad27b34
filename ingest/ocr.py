"""OCR engines behind one small Protocol, chosen by name (``ingest.ocr`` in the config).

An engine returns text lines with their pixel boxes (``OcrLine``), so OCR'd chunks can cite
where they sit on the page; ``text_of`` joins lines into plain text where no geometry is
needed (figure crops).

``tesseract`` runs the Tesseract CLI on a PNG (no Python binding needed); ``none`` recognises
nothing. Line geometry comes from Tesseract's ``tsv`` output, line text from its ``txt`` output
of the same run: for Korean the TSV has one "word" per syllable, so joining its words put a
space inside every word ("정 보 보 호"), while the text output spaces words as written.

A new engine is a class with ``name`` and ``ocr_lines`` plus one ``OCR_ENGINES.register`` line.
:func:`recognise` picks the languages of one image: a cheap first pass (``ingest.ocr_first_languages``,
``eng``) kept when :func:`confident`, else the configured ``ingest.ocr_languages`` (``kor+eng``).

When Tesseract is configured but not installed, ``get_ocr_engine`` logs one warning
and hands back the ``none`` engine, so ingestion goes on without OCR instead of failing.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import statistics
import subprocess
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from ingest.backends import Registry
from ingest.errors import ConfigError
from ingest.workers import subprocess_guard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcrLine:
    """One recognised line of text and where it is in the image."""

    text: str
    box: tuple[int, int, int, int]
    """``(x0, y0, x1, y1)`` in image pixels, origin top-left: the union of the line's words."""
    paragraph: int
    """Lines with the same number belong to one paragraph, numbered in reading order."""
    conf: float = -1.0
    """Mean confidence (0-100) the engine gave the line's words; -1: the engine gives none."""


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


def parse_tsv(tsv: str, txt: str | None = None) -> list[OcrLine]:
    """Lines from Tesseract's ``tsv`` output (one row per page, block, paragraph, line and word).

    Only word rows (level 5) with text are read; a line's box is the union of its words',
    which is tighter than Tesseract's own line row when a line has trailing noise cut off.
    With ``txt``, Tesseract's text output of the same run, each line's text is taken from it
    (the same characters, spaced as Tesseract spaces words: no spaces inside Hangul words).
    """
    lines = [line for line, _ in _tsv_lines(tsv)]
    return respace(lines, txt) if txt is not None else lines


def _tsv_lines(tsv: str) -> list[tuple[OcrLine, int]]:
    """``parse_tsv``'s lines, each with the number of the block it belongs to."""
    words: dict[tuple[int, int, int, int], list[tuple[str, int, int, int, int, float]]] = {}
    for row in tsv.splitlines()[1:]:  # the first row is the column header
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        page, block, par, line = (int(c) for c in cols[1:5])
        left, top, width, height = (int(c) for c in cols[6:10])
        try:
            conf = float(cols[10])
        except ValueError:
            conf = -1.0
        words.setdefault((page, block, par, line), []).append(
            (cols[11].strip(), left, top, left + width, top + height, conf))
    paragraphs: dict[tuple[int, int, int], int] = {}
    out: list[tuple[OcrLine, int]] = []
    for (page, block, par, _), ws in words.items():
        number = paragraphs.setdefault((page, block, par), len(paragraphs))
        box = (min(w[1] for w in ws), min(w[2] for w in ws), max(w[3] for w in ws), max(w[4] for w in ws))
        out.append((OcrLine(" ".join(w[0] for w in ws), box, number, statistics.fmean(w[5] for w in ws)), block))
    return out


def _bare(text: str) -> str:
    return "".join(text.split())


def respace(lines: list[OcrLine], txt: str) -> list[OcrLine]:
    """``lines`` with their text spaced as in Tesseract's text output ``txt``.

    Both outputs list the same lines in the same order; a line is matched to the next text
    line with the same characters once spaces are ignored (a few lines of look-ahead absorb
    a line one output drops), so only spacing can change. Unmatched lines keep their text.
    """
    texts = [" ".join(t.split()) for t in txt.splitlines() if t.strip()]
    out: list[OcrLine] = []
    j = 0
    for line in lines:
        key = _bare(line.text)
        for k in range(j, min(j + 4, len(texts))):
            if _bare(texts[k]) == key:
                line = replace(line, text=texts[k])
                j = k + 1
                break
        out.append(line)
    return out


def fragmented(tsv: str) -> bool:
    """Whether Tesseract's automatic layout (``--psm 3``) cut text lines into side-by-side blocks.

    It does so on Hangul set in even-width syllables: the gaps between syllables align from
    line to line like the gutter of a table, and "정보보호 관리체계" comes out as columns of
    fragments. Real columns are further apart than a line is high; fragments are not.
    """
    lines = sorted(_tsv_lines(tsv), key=lambda lb: lb[0].box[1])
    if len(lines) < 2:
        return False
    height = statistics.median(ln.box[3] - ln.box[1] for ln, _ in lines)
    cut = 0
    for i, (a, block_a) in enumerate(lines):
        for b, block_b in lines[i + 1:]:
            if b.box[1] >= a.box[3]:  # sorted by top: no later line overlaps ``a`` vertically
                break
            if block_a == block_b:
                continue
            overlap = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
            gap = max(a.box[0], b.box[0]) - min(a.box[2], b.box[2])
            if overlap > 0.5 * min(a.box[3] - a.box[1], b.box[3] - b.box[1]) and gap < height:
                cut += 1
    return cut >= max(2, len(lines) // 10)


class TesseractOcr:
    """Tesseract 5 through its command line (``tesseract stdin stdout -l LANGS --psm 3 tsv``)."""

    name = "tesseract"
    reports_confidence = True
    """Its lines carry their words' mean confidence (``OcrLine.conf``): :func:`recognise` may keep a
    cheap first pass."""

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

    def _run(self, png: bytes, languages: str, psm: int) -> tuple[str, str] | None:
        """One recognition of ``png``: its (tsv, txt) outputs, or None (logged) on failure."""
        # One thread per call: parsing already runs one process per core, and Tesseract's
        # OpenMP threads would only fight them.
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        with tempfile.TemporaryDirectory(prefix="mmrag-ocr-") as tmp:
            base = Path(tmp) / "out"  # both renderers of one run: out.tsv, out.txt
            cmd = [self.binary, "stdin", str(base), "-l", languages, "--psm", str(psm), "tsv", "txt"]
            try:
                out = subprocess.run(cmd, input=png, capture_output=True, timeout=self.timeout_s, env=env,
                                     check=False, preexec_fn=subprocess_guard())
            except subprocess.TimeoutExpired:
                log.warning("tesseract timed out after %.0f s", self.timeout_s)
                return None
            if out.returncode != 0:
                log.warning("tesseract failed (rc=%s): %s", out.returncode,
                            out.stderr.decode(errors="replace")[-300:])
                return None
            try:
                return (base.with_suffix(".tsv").read_text("utf-8", errors="replace"),
                        base.with_suffix(".txt").read_text("utf-8", errors="replace"))
            except OSError as exc:
                log.warning("tesseract wrote no output: %s", exc)
                return None

    def ocr_lines(self, png: bytes, languages: str) -> list[OcrLine]:
        """Recognise ``png``; an engine failure is logged and yields no lines (never raises).

        Automatic layout first (``--psm 3``: columns, blocks); when it cuts lines into
        side-by-side fragments (:func:`fragmented`, Hangul in even-width syllables), once more
        as one column of lines (``--psm 4``).
        """
        langs = self._usable(languages)
        result = self._run(png, langs, 3)
        if result is not None and fragmented(result[0]):
            result = self._run(png, langs, 4) or result
        return parse_tsv(*result) if result is not None else []


FIRST_PASS_MIN_CONF = 70.0
"""Mean confidence (per character, of its lines) at which a first pass's reading is kept. Measured
(docs/benchmarks.md, "ocr14"): Korean pages read by ``eng`` score 29-57, English pages and figures
of the dev folder mostly 75-97; an English page under 70 (a noisy slide) is OCR'd again, as before."""

OTHER_SCRIPT_SHARE = 0.01
"""Share of a text layer's letters outside the Latin script from which a document is taken to be
written in another script (a Korean report, an English one quoting a few Korean words)."""


def confident(lines: Sequence[OcrLine]) -> bool:
    """Whether a first OCR pass read ``lines`` surely enough to keep them: the mean confidence of
    their characters (each line's characters at the line's mean word confidence) is at least
    :data:`FIRST_PASS_MIN_CONF`. No text at all is a sure reading too: where ``eng`` found nothing,
    ``kor+eng`` found nothing either, on every such image measured (20 photos, logos and blank pages
    of the dev folder, small crops of one or two Hangul lines: docs/benchmarks.md, "ocr14"); Tesseract
    finds where text is before it reads it. Lines without confidences are not a sure reading."""
    sized = [(len(_bare(line.text)), line.conf) for line in lines]
    chars = sum(n for n, _ in sized)
    if chars == 0:
        return True
    if any(conf < 0 for n, conf in sized if n):
        return False
    return sum(n * conf for n, conf in sized) / chars >= FIRST_PASS_MIN_CONF


def other_script(text: str) -> bool:
    """Whether ``text`` (a document's text layer) is written, at least in part, in a script other
    than Latin: more than :data:`OTHER_SCRIPT_SHARE` of its letters (and at least 10) are not
    Latin letters (Hangul, Han, kana, Cyrillic...). Greek letters count as neither: in a Latin-script
    text they are symbols (α, β)."""
    letters = [ch for ch in text if ch.isalpha() and not unicodedata.name(ch, "").startswith("GREEK")]
    other = sum(1 for ch in letters if not unicodedata.name(ch, "").startswith("LATIN"))
    return other >= 10 and other > OTHER_SCRIPT_SHARE * len(letters)


def recognise(engine: OcrEngine, png: bytes, languages: str, first: str | None) -> tuple[list[OcrLine], bool]:
    """Lines of ``png``, and whether they come from a pass with ``languages``.

    With ``first`` (``ingest.ocr_first_languages``, e.g. ``eng``) the image is read with it first,
    which is cheaper than ``kor+eng``; that reading is kept when it is :func:`confident`, and
    otherwise the image is read again with ``languages`` (Hangul read by an English model comes
    out as low-confidence noise). Without ``first``, when it equals ``languages``, or for an engine
    that gives no confidences (no ``reports_confidence = True``: its first pass could never be
    kept), one pass."""
    if first and first != languages and getattr(engine, "reports_confidence", False):
        lines = engine.ocr_lines(png, first)
        if confident(lines):
            return lines, False
    return engine.ocr_lines(png, languages), True


OCR_ENGINES: Registry[OcrEngine] = Registry("OCR engine", "ingest.ocr")
"""OCR engines by name (``ingest.ocr``); a factory is called with no arguments."""
OCR_ENGINES.register("tesseract", "ingest.ocr:TesseractOcr")
OCR_ENGINES.register("none", "ingest.ocr:NoOcr")


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


@functools.cache
def get_ocr_engine(name: str) -> OcrEngine:
    """The engine registered under ``name``; falls back to ``none`` (one warning) if missing."""
    factory = OCR_ENGINES.factory(name)  # an unknown name fails, listing the known ones
    try:
        return factory()
    except ConfigError as exc:
        _warn_once(f"OCR engine {name!r} unavailable, continuing without OCR: {exc}")
        return NoOcr()
