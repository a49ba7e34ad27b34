"""The Parser contract: what every file-format parser must do, as a test class to subclass.

A format's test module subclasses :class:`ParserContract` and provides ``sample`` (a good file of the
format, written under ``tmp_path``, whose text holds :attr:`ParserContract.phrase`) and ``broken``
(a damaged file of the same suffix)::

    class TestTextParser(ParserContract):
        @pytest.fixture
        def sample(self, tmp_path: Path) -> Path:
            path = tmp_path / "notes.txt"
            path.write_text("The XK-4471-B valve is rated for 40 bar.")
            return path

Needs pytest (the ``dev`` extra).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import IngestConfig
from ingest.discover import discover
from ingest.errors import IngestError
from ingest.parse import parse_file
from ingest.records import FileInfo, ParsedFile
from ingest.registry import format_of


def file_info(path: Path, cfg: IngestConfig) -> FileInfo:
    """The discovered :class:`FileInfo` of one file."""
    found = discover([path], cfg)
    assert found.files, f"{path} was not discovered: {found.skipped or found.failed}"
    return found.files[0]


class ParserContract:
    """Tests every parser registered in ``ingest.registry`` passes. Subclass and provide
    ``sample`` and ``broken``."""

    phrase = "XK-4471-B"
    """A word the sample's text holds (a part number: the same in every language)."""

    @pytest.fixture
    def sample(self, tmp_path: Path) -> Path:
        raise NotImplementedError("a ParserContract subclass provides the `sample` fixture")

    @pytest.fixture
    def broken(self, tmp_path: Path) -> Path | None:
        """A damaged file of the format; None where any bytes are a valid file (plain text)."""
        return None

    @pytest.fixture
    def cfg(self) -> IngestConfig:
        return IngestConfig(ocr="none", render_pages=False)

    def _parse(self, path: Path, cfg: IngestConfig, media: Path) -> ParsedFile:
        return parse_file(file_info(path, cfg), cfg, media)

    def test_the_suffix_is_registered(self, sample: Path) -> None:
        assert format_of(sample) is not None

    def test_items_carry_the_text_file_and_page(self, sample: Path, cfg: IngestConfig, tmp_path: Path) -> None:
        parsed = self._parse(sample, cfg, tmp_path / "media")
        doc = parsed.document
        assert doc.path == str(sample.resolve()) and doc.pages >= 1
        assert parsed.items and all(i.file == doc.path and i.doc_id == doc.doc_id for i in parsed.items)
        assert all(1 <= i.page <= doc.pages for i in parsed.items)
        assert any(self.phrase in i.text for i in parsed.items)

    def test_ids_are_stable_across_parses(self, sample: Path, cfg: IngestConfig, tmp_path: Path) -> None:
        first = self._parse(sample, cfg, tmp_path / "m1")
        second = self._parse(sample, cfg, tmp_path / "m2")
        assert [i.id for i in first.items] == [i.id for i in second.items]

    def test_an_empty_file_fails_with_a_reason(self, sample: Path, cfg: IngestConfig, tmp_path: Path) -> None:
        empty = tmp_path / f"empty{sample.suffix}"
        empty.write_bytes(b"")
        with pytest.raises(IngestError, match="empty"):
            self._parse(empty, cfg, tmp_path / "media")

    def test_a_broken_file_fails_with_a_reason(self, broken: Path | None, cfg: IngestConfig,
                                               tmp_path: Path) -> None:
        if broken is None:
            pytest.skip("every byte string is a valid file of this format")
        with pytest.raises(IngestError) as info:
            self._parse(broken, cfg, tmp_path / "media")
        assert str(info.value).strip()
