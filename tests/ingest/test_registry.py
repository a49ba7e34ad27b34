"""The parser registry: one line adds a format; include globs and support checks derive from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import registry
from ingest.config import IngestConfig
from ingest.discover import discover
from ingest.parse import parse_file
from ingest.registry import FORMATS, Format, default_include, parser_for, unsupported_reason


def test_default_include_globs_come_from_the_registry() -> None:
    assert IngestConfig().include == default_include() == [f"*{s}" for s in FORMATS]
    assert {"*.hwp", "*.hwpx", "*.pdf", "*.docx"} <= set(IngestConfig().include)


def test_every_registered_parser_resolves() -> None:
    for suffix in FORMATS:
        assert callable(parser_for(suffix)), suffix


def test_a_new_suffix_is_one_registry_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, media: Path) -> None:
    (tmp_path / "notes.rst").write_text("Restructured notes mention the XK-9 driver.")
    assert discover([tmp_path], IngestConfig()).skipped[0].reason == "unsupported type .rst"
    # The one line: a suffix, its parser, its MIME type.
    monkeypatch.setitem(FORMATS, ".rst", Format("ingest.formats:parse_text", "text/x-rst"))
    cfg = IngestConfig(ocr="none")  # built after the line: its default include has *.rst
    (info,) = discover([tmp_path], cfg).files
    parsed = parse_file(info, cfg, media)
    assert parsed.document.mime == "text/x-rst" and "XK-9" in parsed.items[0].text


def test_unknown_suffix_and_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    assert unsupported_reason(".xyz") == "unsupported type .xyz"
    assert unsupported_reason("") == "unsupported type (no extension)"
    assert unsupported_reason(".HWP") is None
    monkeypatch.setattr(registry, "_installed", lambda module: module != "olefile")
    assert unsupported_reason(".hwp") == "unsupported type .hwp (pip install olefile)"
    assert ".hwp" not in registry.supported_suffixes() and ".hwpx" in registry.supported_suffixes()


def test_a_suffix_registered_twice_is_refused() -> None:
    from ingest.errors import ConfigError
    from ingest.registry import register_format

    with pytest.raises(ConfigError, match=r"file suffix '\.pdf' is already registered \(ingest\.pdf:parse_pdf\)"):
        register_format(".PDF", "mymodule:parse", "application/pdf")
    assert FORMATS[".pdf"].parser == "ingest.pdf:parse_pdf"
