"""A PDF streamed in page ranges (``iter_pdf_parts``, ``parse_parts``, ``parse_stream``): the same
items as one whole-document pass, handed on while the worker still parses the rest of the file,
and a crashed worker's file streamed again from its first part."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pymupdf
import pytest

from ingest import pdf
from ingest.config import IngestConfig
from ingest.parse import _in_pool, parse_file, parse_parts
from ingest.parts import FilePart, merge_parts
from ingest.records import FileFailure, Item

from . import crashy
from .builders import info_of, photo_pdf, report_pdf

SHARED = Path("../shared/eval/pdfs")


def _key(items: list[Item]) -> list[dict[str, object]]:
    return sorted((it.model_dump(mode="json") for it in items), key=lambda d: str(d["id"]))


@pytest.mark.parametrize("name", ["2303.05039v2.pdf", "STEPBACK.pdf"])
def test_parts_hold_exactly_the_items_of_a_whole_parse(name: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    src = SHARED / name
    if not src.exists():
        pytest.skip(f"{src} not present")
    cfg = IngestConfig(ocr="none", render_pages=True, page_dpi=36)
    info = info_of(src)
    whole = parse_file(info, cfg, tmp_path / "a")
    monkeypatch.setattr(pdf, "PART_PAGES", 2)
    parts = list(parse_parts(info, cfg, tmp_path / "b"))
    assert len(parts) == (whole.document.pages + 1) // 2 > 1
    assert [p.index for p in parts] == list(range(len(parts))) and [p.last for p in parts][-2:] == [False, True]
    assert sum(p.pages for p in parts) == whole.document.pages
    # Ids, texts, sections, boxes, chunk order: all equal (image paths differ by media folder only).
    got = [it.model_copy(update={"image_path": None}) if hasattr(it, "image_path") else it
           for p in parts for it in p.items]
    want = [it.model_copy(update={"image_path": None}) if hasattr(it, "image_path") else it for it in whole.items]
    assert _key(got) == _key(want)
    assert merge_parts(parts, chunks_first=True).document == whole.document


def test_one_page_parts_keep_margins_and_sections_of_the_whole_document(tmp_path: Path) -> None:
    # Running header and page footer are removed (a document-level step), headings set sections.
    path = report_pdf(tmp_path / "r.pdf", pages=6)
    cfg = IngestConfig(ocr="none", render_pages=False)
    whole = parse_file(info_of(path), cfg, tmp_path / "m")
    parts = list(pdf.iter_pdf_parts(info_of(path), path.read_bytes(), cfg, tmp_path / "m", part_pages=1))
    assert len(parts) == 6
    merged = merge_parts(parts, chunks_first=True)
    assert [i.id for i in merged.items] == [i.id for i in whole.items]
    assert [i.text for i in merged.items] == [i.text for i in whole.items]


def test_a_worker_hands_on_the_first_part_before_it_parses_the_rest(tmp_path: Path, media: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = report_pdf(tmp_path / "long.pdf", pages=40)
    cfg = IngestConfig(ocr="none", render_pages=False, workers=2)
    got: list[FilePart | FileFailure] = []
    first_seen = threading.Event()

    def consume() -> None:
        for out in _in_pool([info_of(path)], cfg, media, crashy.gated_stream):
            assert isinstance(out, FilePart | FileFailure)
            got.append(out)
            first_seen.set()

    t = threading.Thread(target=consume)
    t.start()
    assert first_seen.wait(60)
    time.sleep(0.5)
    # The worker waits at the gate after its first part: the consumer has that part, and only it.
    assert len(got) == 1 and isinstance(got[0], FilePart) and got[0].index == 0 and not got[0].last
    Path(str(path.resolve()) + ".go").touch()
    t.join(60)
    parts = [p for p in got if isinstance(p, FilePart)]
    assert [p.index for p in parts] == list(range(3)) and parts[-1].last  # 40 pages, 16 a part
    whole = parse_file(info_of(path), IngestConfig(ocr="none", render_pages=False), media)
    assert [i.id for i in merge_parts(parts, chunks_first=True).items] == [i.id for i in whole.items]


def test_a_crashed_workers_file_streams_again_from_its_first_part(tmp_path: Path, media: Path) -> None:
    path = report_pdf(tmp_path / "crash.pdf", pages=40)
    ok = report_pdf(tmp_path / "ok.pdf", pages=2)
    cfg = IngestConfig(ocr="none", render_pages=False, workers=2)
    got = list(_in_pool([info_of(path), info_of(ok)], cfg, media, crashy.crash_after_first_part))
    mine = [p for p in got if isinstance(p, FilePart) and p.document.path == str(path.resolve())]
    assert not [f for f in got if isinstance(f, FileFailure)]
    # Part 0 came, the worker died, the file was parsed again: 0 again, then the rest.
    assert [p.index for p in mine] == [0, 0, 1, 2]
    assert sum(isinstance(p, FilePart) and p.document.path == str(ok.resolve()) for p in got) == 1


def test_mupdf_cache_is_emptied_every_few_pages_in_both_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # MuPDF keeps every decoded image in its process-wide store (up to 256 MB): unless emptied,
    # a worker's memory grows with the document's pages, not with the part it is on.
    from ingest import pdf_structure

    path = photo_pdf(tmp_path / "photos.pdf", pages=12)
    events: list[str] = []
    load_page, shrink = pymupdf.Document.load_page, pymupdf.TOOLS.store_shrink

    def spy_load(doc: pymupdf.Document, *args: object, **kw: object) -> pymupdf.Page:
        events.append("load")
        return load_page(doc, *args, **kw)

    def spy_shrink(percent: int) -> object:
        events.append(f"empty {percent}")
        return shrink(percent)

    monkeypatch.setattr(pymupdf.Document, "load_page", spy_load)
    monkeypatch.setattr(pymupdf.TOOLS, "store_shrink", spy_shrink)
    monkeypatch.setattr(pdf_structure, "CACHE_PAGES", 4)
    cfg = IngestConfig(ocr="none", render_pages=True, page_dpi=36)
    parts = list(pdf.iter_pdf_parts(info_of(path), path.read_bytes(), cfg, tmp_path / "m", part_pages=4))
    assert len(parts) == 3 and sum(p.pages for p in parts) == 12
    assert events.count("load") >= 24  # every page in pass 1, again in pass 2
    assert set(events) == {"load", "empty 100"}  # emptied whole
    runs = "".join("L" if e == "load" else "|" for e in events).split("|")
    assert max(len(r) for r in runs) <= 4, runs  # never more than 4 pages' resources held
