"""The ingest's overlap of parsing and embedding (``rag.parse_feed``, ``rag.cross_batch``,
``rag.ingestion``): batches cross files, progress comes in pages, one file failing to embed fails
alone, and the queue between parsing and embedding stays bounded.

The real CPU profile throughout (MiniLM, Qdrant Edge on disk). :class:`Recording` wraps the real
embedder: it records what each ``embed_texts`` call held and refuses (EmbedError) any call holding a
text with :data:`POISON`, to stand for a file the model cannot take.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pymupdf
import pytest

from ingest.config import IngestConfig
from ingest.discover import discover
from ingest.parse import Outcome, parse_file
from ingest.records import ParsedFile
from rag.cross_batch import CrossFileBatcher
from rag.embed.base import Embedder, EmbedderWrapper
from rag.errors import EmbedError
from rag.ingest_run import NO_POINTS
from rag.ingestion import Ingestor
from rag.parse_feed import ParseFeed
from rag.pipeline import Pipeline
from rag.progress import PageBar, PageProgress
from rag.records import FileNotice, SearchFilter
from tests.pdfs import write_corrupt, write_report

POISON = "Zorblax-poison"


class Recording(EmbedderWrapper):
    """The real embedder, recording each passage call's texts; a call holding POISON fails."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.calls: list[list[str]] = []

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if any(POISON in t for t in texts):
            raise EmbedError(f"refused a batch of {len(texts)} texts")
        return self.inner.embed_texts(texts)


def _depot(root: Path, i: int, pages: int = 3, extra: str = "") -> Path:
    return write_report(root / f"depot_{i}.pdf",
                        {p: f"Depot{i} shipped {100 * i + p} pumps in week {p}. {extra}" for p in range(1, pages + 1)},
                        title=f"Depot{i} weekly")


def _blank(path: Path) -> Path:
    doc = pymupdf.open()
    doc.new_page()
    doc.save(str(path))
    doc.close()
    return path


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    index = tmp_path_factory.mktemp("index")
    with Pipeline.from_config("cpu", {"store.path": str(index), "ingest.ocr": "none", "ingest.workers": 1},
                              environ={}) as p:
        yield p


def _ingestor(pipe: Pipeline, rec: Recording) -> Ingestor:
    return Ingestor(pipe.settings, rec, pipe.store)


def _files_of(call: list[str]) -> set[str]:
    return {t.split("Depot", 1)[1].split(" ", 1)[0] for t in call if "Depot" in t}


def test_embedding_batches_span_files_and_progress_comes_in_pages(pipe: Pipeline, tmp_path: Path) -> None:
    for i in range(4):
        _depot(tmp_path / "docs", i)
    rec = Recording(pipe.embedder)
    pages: list[PageProgress] = []
    files: list[tuple[int, int]] = []
    report = _ingestor(pipe, rec).ingest([tmp_path / "docs"], tenant="overlap", progress=False,
                                         on_progress=lambda d, t: files.append((d, t)), on_pages=pages.append)
    assert report.files_ingested == 4 and report.pages == 12
    # One file at a time made one call per file; now one call holds several files' texts.
    assert max(len(_files_of(c)) for c in rec.calls) > 1, [len(c) for c in rec.calls]
    assert len(rec.calls) < 4
    # Pages: the total is known before parsing ends (PDF page counts), and done reaches it.
    assert pages[0] == PageProgress(files_total=4, pages_total=12, seconds=pages[0].seconds)
    assert pages[-1].pages_done == pages[-1].pages_total == pages[-1].pages_parsed == 12
    assert pages[-1].files_done == 4
    done = [p.pages_done for p in pages]
    assert done == sorted(done)
    # The old files-only hook still works.
    assert files[0] == (0, 4) and files[-1] == (4, 4) and len(files) == 5
    assert {"parse", "wait", "embed", "points", "store", "queue_full", "count_pages"} <= set(report.stages)


def test_a_failing_file_and_an_empty_file_are_handled_alone(pipe: Pipeline, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    for i in range(3):
        _depot(docs, i)
    poisoned = _depot(docs, 7, extra=POISON)
    blank = _blank(docs / "blank.pdf")
    write_corrupt(docs / "broken.pdf")
    rec = Recording(pipe.embedder)
    ingestor = _ingestor(pipe, rec)
    pages: list[PageProgress] = []
    report = ingestor.ingest([docs], tenant="poison", progress=False, on_pages=pages.append)
    # The poisoned batch held other files' texts too, and only the poisoned file failed.
    assert any(POISON in t for t in rec.calls[0]) and len(_files_of(rec.calls[0])) > 1
    assert sorted(Path(f.path).name for f in report.files_failed) == ["broken.pdf", poisoned.name]
    assert next(f for f in report.files_failed if f.path == str(poisoned.resolve())).detail == "EmbedError"
    # The broken file leaves the page total; the failed one's pages count as done.
    assert pages[-1].pages_done == pages[-1].pages_total == 3 * 3 + 3 + 1 and pages[-1].files_done == 6
    assert report.files_ingested == 4  # three depots and the blank file
    assert report.notices == [FileNotice(path=str(blank.resolve()), notice=NO_POINTS)]
    hits = pipe.retriever.search("How many pumps did Depot1 ship in week 2?", flt=SearchFilter(tenant="poison"))
    assert any("Depot1 shipped 102" in h.text for h in hits)
    # The failed file has no manifest row: the next run tries it again (and only it).
    again = ingestor.ingest([docs], tenant="poison", progress=False)
    assert again.files_unchanged == 4
    assert sorted(Path(f.path).name for f in again.files_failed) == ["broken.pdf", poisoned.name]


def test_the_parse_queue_is_bounded_by_items(tmp_path: Path) -> None:
    cfg = IngestConfig(ocr="none", render_pages=False)
    paths = [_depot(tmp_path, i, pages=2) for i in range(4)]
    infos = discover([tmp_path], cfg).files
    assert len(infos) == len(paths)
    pulled: list[int] = []

    def outcomes() -> Iterator[Outcome]:
        for info in infos:
            parsed = parse_file(info, cfg, tmp_path / "media")
            pulled.append(len(parsed.items))
            yield parsed

    with ParseFeed(outcomes(), max_items=1) as feed:
        first = feed.next()
        assert isinstance(first, ParsedFile)
        time.sleep(0.5)  # the parser parses one more file, then waits for room
        assert len(pulled) == 2
        assert feed.next() is None and not feed.finished  # waiting for room, not done
        feed.release(len(first.items))
        rest = []
        while (got := feed.next()) is not None or not feed.finished:
            if got is not None:
                rest.append(got)
                feed.release(ParseFeed.size(got))
        assert len(rest) == 3 and len(pulled) == 4


def test_a_parse_stream_error_reaches_the_consumer() -> None:
    def outcomes() -> Iterator[Outcome]:
        raise RuntimeError("parser exploded")
        yield  # pragma: no cover

    with ParseFeed(outcomes(), max_items=8) as feed, pytest.raises(RuntimeError, match="exploded"):
        while not feed.finished:
            feed.next()
    assert threading.active_count() >= 1


def test_page_bar_shows_pages_rate_and_eta() -> None:
    out = io.StringIO()
    bar = PageBar(8681, disable=False, file=out)
    bar.show(PageProgress(pages_done=1234, pages_total=8681, seconds=30))
    bar.close()
    line = out.getvalue().strip().splitlines()[-1].split("\r")[-1]
    assert line.startswith("ingest  1,234/8,681 pages  ") and " p/s  eta " in line


def test_a_flush_embeds_across_files_sorted_by_length(pipe: Pipeline, tmp_path: Path) -> None:
    cfg = IngestConfig(ocr="none", render_pages=False)
    _depot(tmp_path, 1, pages=2, extra="A much longer sentence follows here, padding this page's chunk. " * 3)
    _depot(tmp_path, 2, pages=2)
    rec = Recording(pipe.embedder)
    batcher = CrossFileBatcher(rec, batch_size=2)
    for info in discover([tmp_path], cfg).files:
        assert batcher.add(parse_file(info, cfg, tmp_path / "media")) == []
    held = batcher.pending
    done = batcher.flush()
    assert len(done) == 2 and all(f.left == 0 and f.error is None for f in done)
    flat = [t for call in rec.calls for t in call]
    assert len(flat) == held and [len(t) for t in flat] == sorted(len(t) for t in flat)
    assert all(len(c) <= 2 for c in rec.calls)


class Watching(Recording):
    """Recording, noting at each call whether the watched file's last page render exists yet and
    how many of its points the store shows."""

    def __init__(self, inner: Embedder, last_render: Path, store: object, path: str) -> None:
        super().__init__(inner)
        self.last_render, self.store, self.path = last_render, store, path
        self.seen: list[tuple[bool, int]] = []

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.append((self.last_render.exists(), self.store.count(SearchFilter(files=[self.path]))))  # type: ignore[attr-defined]
        return super().embed_texts(texts)


def test_a_long_pdf_embeds_its_first_pages_before_its_last_is_parsed(tmp_path: Path) -> None:
    from ingest.manifest import Manifest
    from ingest.media import doc_media_dir
    from ingest.pdf import PART_PAGES
    from rag.indexing import tenant_item_id

    docs = tmp_path / "docs"
    path = _depot(docs, 5, pages=40).resolve()
    index = tmp_path / "index"
    over = {"store.path": str(index), "ingest.ocr": "none", "ingest.workers": 1, "ingest.file_timeout_s": None,
            "ingest.queue_items": 1, "ingest.page_dpi": 36}
    with Pipeline.from_config("cpu", over, environ={}) as p:
        info = discover([path], p.settings.ingest).files[0]
        last = doc_media_dir(p.settings.media_dir, info.sha256[:16]) / "page-0040.png"
        rec = Watching(p.embedder, last, p.store, str(path))
        report = Ingestor(p.settings, rec, p.store).ingest([docs], progress=False)
        assert report.files_ingested == 1 and report.pages == 40
        # Nothing of the file was visible in the store until all of it was embedded (one
        # replace_file at the end).
        assert all(n == 0 for _, n in rec.seen) and last.exists()
        whole = parse_file(info, p.settings.ingest, tmp_path / "media")
        # Embedding began on the first part alone: with room for one item, the second part is taken
        # only once the first is embedded, so the first batch holds pages of the first part only
        # (the worker process may run ahead; the embedder never waits for the whole file).
        pages_of: dict[str, set[int]] = {}
        for item in whole.items:
            pages_of.setdefault(item.text[:80], set()).add(item.page)
        first = {pg for t in rec.calls[0] for pg in pages_of.get(t[:80], set())}
        assert first and max(first) <= PART_PAGES < 40
        # The points are those of the whole-file parse: same items, same ids.
        want = {tenant_item_id(i.id, "default") for i in whole.items if i.text.strip()}
        with Manifest(p.settings.index_dir / "manifest.sqlite") as m:
            assert set(m.item_ids(str(path))) == want
        assert p.store.count(SearchFilter(files=[str(path)])) == len(want)
