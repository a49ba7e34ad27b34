"""Decoding text files whose encoding nobody wrote down (.txt, .md, .html).

Tried in order: a byte-order mark, strict UTF-8, strict CP949 (the Windows superset of
EUC-KR, what Korean offices save "ANSI" text in) when the result reads as Korean, then the
``charset-normalizer`` detector. Only the detector guesses; a guessed decoding carries a
warning for the ingest report, naming the encoding it chose.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

log = logging.getLogger(__name__)

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_MIN_HANGUL_SHARE = 0.5  # of the non-ASCII characters: below it, CP949 "succeeded" on other bytes
# Single-byte Latin code pages the detector cannot tell apart on short text (it calls "Café"
# cp1250): for these, Windows-1252 (Western European, the most common) is taken when it fits.
_LATIN_GUESSES = frozenset({"cp1250", "cp1252", "cp1254", "cp1257", "cp1258", "cp775", "cp850", "latin_1",
                            "iso8859_2", "iso8859_4", "iso8859_10", "iso8859_13", "iso8859_15", "mac_latin2",
                            "mac_roman"})


class Decoded(NamedTuple):
    """A decoded text file."""

    text: str
    encoding: str
    """Python codec name used."""
    guessed: bool
    """True when a detector chose the encoding (the text may be wrong)."""


def _hangul_share(text: str) -> float:
    wide = [c for c in text if ord(c) > 0x7F]
    if not wide:
        return 0.0
    hangul = sum(1 for c in wide if "\uac00" <= c <= "\ud7a3" or "\u3131" <= c <= "\u318e")
    return hangul / len(wide)


def _detect(data: bytes) -> Decoded:
    try:
        from charset_normalizer import from_bytes  # optional: the last resort only
    except ImportError:  # pragma: no cover - a dependency of mmrag, absent only in odd installs
        return Decoded(data.decode("cp1252", errors="replace"), "cp1252", True)
    best = from_bytes(data).best()
    if best is None or best.encoding in _LATIN_GUESSES:
        try:
            return Decoded(data.decode("cp1252"), "cp1252", True)
        except UnicodeDecodeError:  # bytes cp1252 leaves undefined (0x81, 0x8d, ...)
            pass
    if best is None:
        return Decoded(data.decode("cp1252", errors="replace"), "cp1252", True)
    return Decoded(str(best), best.encoding, True)


def decode_text(data: bytes) -> Decoded:
    """Decode a text file's bytes: BOM, UTF-8, CP949/EUC-KR, then a detector (``guessed``)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return Decoded(data.decode(codec, errors="replace"), codec, False)
    try:
        return Decoded(data.decode("utf-8"), "utf-8", False)
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        pass
    else:
        if _hangul_share(text) >= _MIN_HANGUL_SHARE:
            return Decoded(text, "cp949", False)
    return _detect(data)


def guess_warning(path: str, decoded: Decoded) -> str | None:
    """The report line for a guessed decoding of ``path``, or None when nothing was guessed."""
    if not decoded.guessed:
        return None
    return (f"{path}: text encoding guessed as {decoded.encoding} (not UTF-8, no BOM, not CP949); "
            "save it as UTF-8 if the text looks wrong")
