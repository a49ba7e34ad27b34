"""One long PDF parsed by several workers (``ingest.parse_ranges``): pass 1 in one, its page ranges
by any, handed on in page order with the items of a one-worker parse; a crashing range fails its
file, naming the pages, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import parse_pool
from ingest.config import IngestConfig
from ingest.parse import parse_file, parse_stream
from ingest.parse_pool import _in_pool
from ingest.parse_ranges import RANGE_PAGES, Reassembly
from ingest.parts import FilePart, merge_parts
from ingest.records import FileFailure, Item

from . import crashy
from .builders import info_of, report_pdf

PAGES = 3 * RANGE_PAGES + 10  # four ranges: the lead's and three shared


def _streamed(paths: list[Path], cfg: IngestConfig, media: Path) -> list[FilePart | FileFailure]:
    order = Reassembly()
    out: list[FilePart | FileFailure] = []
    for got in _in_pool([info_of(p) for p in paths], cfg, media, crashy.stamped_stream):
        assert isinstance(got, FilePart | FileFailure)
        out += order.feed(got)
    return out


def _key(items: list[Item]) -> list[tuple[str, int, str, int]]:
    return [(it.id, it.page, getattr(it, "text", ""), getattr(it, "order", -1)) for it in items]


@pytest.fixture(scope="module")
def long_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_pdf(tmp_path_factory.mktemp("ranges") / "wait_long.pdf", pages=PAGES)


def test_two_workers_share_one_pdf_and_its_parts_come_in_page_order(long_pdf: Path, media: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_pool, "range_attempt", crashy.stamped_range)
    cfg = IngestConfig(ocr="none", render_pages=False, workers=2)
    parts = _streamed([long_pdf], cfg, media)
    assert all(isinstance(p, FilePart) for p in parts)
    got = [p for p in parts if isinstance(p, FilePart)]
    assert [p.index for p in got] == list(range(len(got))) and got[-1].last and not any(p.last for p in got[:-1])
    assert sum(p.pages for p in got) == PAGES
    # The lead waited until a range had started: another worker parsed it.
    assert len({p.seconds["pid"] for p in got}) == 2
    assert len({p.run for p in got}) == 1 and got[0].run
    whole = parse_file(info_of(long_pdf), IngestConfig(ocr="none", render_pages=False), media)
    merged = merge_parts(got, chunks_first=True)
    assert _key(merged.items) == _key(whole.items)  # ids, pages, texts, chunk order
    assert merged.document == whole.document


def test_a_crashing_range_fails_its_file_naming_the_pages(long_pdf: Path, tmp_path: Path, media: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_pool, "range_attempt", crashy.range_crash)
    (Path(str(long_pdf.resolve()) + ".lead-done")).unlink(missing_ok=True)
    ok = report_pdf(tmp_path / "ok.pdf", pages=2)
    cfg = IngestConfig(ocr="none", render_pages=False, workers=2)
    out = _streamed([long_pdf, ok], cfg, media)
    failures = [f for f in out if isinstance(f, FileFailure)]
    assert len(failures) == 1 and failures[0].path == str(long_pdf.resolve())
    assert failures[0].reason == "parser crashed"
    assert f"pages {RANGE_PAGES + 1}-{2 * RANGE_PAGES}" in failures[0].detail
    mine = [p for p in out if isinstance(p, FilePart) and p.document.path == str(long_pdf.resolve())]
    assert not any(p.last for p in mine) and all(p.index < 4 for p in mine)  # what follows the hole is held back
    assert [p.last for p in out if isinstance(p, FilePart) and p.document.path == str(ok.resolve())] == [True]


def test_parse_stream_hands_on_a_shared_pdf_whole_and_in_order(long_pdf: Path, media: Path) -> None:
    cfg = IngestConfig(ocr="none", render_pages=False, workers=2)
    got = list(parse_stream([info_of(long_pdf)], cfg, media))
    assert all(isinstance(p, FilePart) for p in got)
    parts = [p for p in got if isinstance(p, FilePart)]
    assert [p.index for p in parts] == list(range(len(parts))) and parts[-1].last
    orders = [it.order for p in parts for it in p.items if it.kind == "text"]
    assert orders == list(range(len(orders)))


def test_reassembly_waits_for_the_ranges_before_and_drops_a_restarted_parse(long_pdf: Path, media: Path) -> None:
    parts = [p for p in parse_stream([info_of(long_pdf)], IngestConfig(ocr="none", render_pages=False), media)
             if isinstance(p, FilePart)]
    assert len(parts) >= 6

    def run(p: FilePart, name: str) -> FilePart:
        return p.model_copy(update={"run": name})

    order = Reassembly()

    def indexes(p: FilePart) -> list[int]:
        return [q.index for q in order.feed(p) if isinstance(q, FilePart)]

    assert list(order.feed(run(parts[4], "a"))) == []  # a later range came first: held
    assert indexes(run(parts[0], "a")) == [0]
    # The file's worker died; its retry (run b) starts over: run a's parts are stale.
    assert indexes(run(parts[0], "b")) == [0]
    assert list(order.feed(run(parts[1], "a"))) == []
    released = [i for q in parts[1:] for i in indexes(run(q, "b"))]
    assert released == list(range(1, len(parts)))
    assert order.unfinished() == []
    assert list(order.feed(run(parts[2], "b"))) == []  # after the last part: nothing more
