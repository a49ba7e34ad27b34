"""The parser registry: one line per file suffix says which function parses it.

Adding a format is one parser module plus one ``register_format`` line; discovery's support
check, ``parse_file``'s dispatch and the default include globs (``IngestConfig.include``)
all derive from this table. Parsers are named as ``"module:function"`` and imported only
when a file of that type is parsed, so asking what is supported imports nothing heavy and
a missing optional package only affects its own formats.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import ConfigError

if TYPE_CHECKING:
    from ingest.config import IngestConfig
    from ingest.records import FileInfo, ParsedFile

Parser = Callable[["FileInfo", bytes, "IngestConfig", Path], "ParsedFile"]
"""``parse(info, data, cfg, media_dir) -> ParsedFile``; raises ``IngestError`` for bad files."""


@dataclass(frozen=True)
class Format:
    """How one file suffix is parsed."""

    parser: str
    """``"module:function"`` of a ``Parser``."""
    mime: str
    """MIME type recorded on the ``Document``."""
    needs: tuple[str, str] | None = None
    """(module to import, package to pip install) when the parser needs an optional package."""


_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

FORMATS: dict[str, Format] = {}
"""Every parseable suffix (lower case, with its dot) and how it is parsed: filled by :func:`register_format`."""


def register_format(suffix: str, parser: str, mime: str, needs: tuple[str, str] | None = None) -> None:
    """Register the parser of one file suffix; a suffix registered twice is refused."""
    key = suffix.lower()
    if not key.startswith("."):
        raise ConfigError(f"file suffix {suffix!r} must start with a dot")
    if key in FORMATS:
        raise ConfigError(f"file suffix {key!r} is already registered ({FORMATS[key].parser}); "
                          f"not registering {parser}")
    FORMATS[key] = Format(parser, mime, needs)


register_format(".pdf", "ingest.pdf:parse_pdf", "application/pdf")
register_format(".png", "ingest.formats:parse_image", "image/png")
register_format(".jpg", "ingest.formats:parse_image", "image/jpeg")
register_format(".jpeg", "ingest.formats:parse_image", "image/jpeg")
register_format(".tif", "ingest.formats:parse_image", "image/tiff")
register_format(".tiff", "ingest.formats:parse_image", "image/tiff")
register_format(".txt", "ingest.formats:parse_text", "text/plain")
register_format(".md", "ingest.formats:parse_text", "text/markdown")
register_format(".html", "ingest.formats:parse_text", "text/html")
register_format(".htm", "ingest.formats:parse_text", "text/html")
register_format(".docx", "ingest.office:parse_office", _DOCX, needs=("docx", "python-docx"))
register_format(".pptx", "ingest.office:parse_office", _PPTX, needs=("pptx", "python-pptx"))
register_format(".xlsx", "ingest.office:parse_office", _XLSX, needs=("openpyxl", "openpyxl"))
register_format(".hwp", "ingest.hwp:parse_hwp", "application/x-hwp", needs=("olefile", "olefile"))
register_format(".hwpx", "ingest.hwpx:parse_hwpx", "application/hwp+zip")


@functools.cache
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def format_of(path: str | Path) -> Format | None:
    """The registered format of ``path`` (by its suffix, any case), or None."""
    return FORMATS.get(Path(path).suffix.lower())


def mime_of(path: str | Path) -> str:
    """The MIME type of a registered file type (``application/octet-stream`` otherwise)."""
    fmt = format_of(path)
    return fmt.mime if fmt else "application/octet-stream"


def default_include() -> list[str]:
    """Include globs for every registered suffix (``*.pdf``, ``*.hwp``, ...)."""
    return [f"*{suffix}" for suffix in FORMATS]


def supported_suffixes() -> frozenset[str]:
    """File suffixes this installation can parse (formats whose optional package is installed)."""
    return frozenset(s for s, f in FORMATS.items() if f.needs is None or _installed(f.needs[0]))


def unsupported_reason(suffix: str) -> str | None:
    """Why files with ``suffix`` cannot be parsed here, or None if they can."""
    suffix = suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        return f"unsupported type {suffix or '(no extension)'}"
    if fmt.needs is not None and not _installed(fmt.needs[0]):
        return f"unsupported type {suffix} (pip install {fmt.needs[1]})"
    return None


def parser_for(suffix: str) -> Parser:
    """The parse function registered for ``suffix`` (imported on first use).

    Raises ``KeyError`` for an unregistered suffix: callers check ``unsupported_reason`` first.
    """
    module, _, name = FORMATS[suffix.lower()].parser.partition(":")
    parser: Parser = getattr(importlib.import_module(module), name)
    return parser


def preload_parsers() -> None:
    """Import every registered parser module now (those whose optional package is installed).

    Parse workers call it at start-up, so the seconds of importing MuPDF and friends are not
    counted against the first file's ``file_timeout_s``.
    """
    for suffix in sorted(supported_suffixes()):
        parser_for(suffix)
