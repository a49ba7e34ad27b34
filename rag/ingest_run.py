"""One ingest run's parse → embed → store loop (:class:`_Run`), which :class:`rag.ingestion.Ingestor`
sets up and an index engine (:mod:`rag.engines`) drives; see :mod:`rag.ingestion` for the rules it keeps.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ingest.manifest import Manifest
from ingest.parse import parse_stream
from ingest.parts import FilePart, whole
from ingest.records import FileFailure, FileInfo, ParsedFile
from rag.cross_batch import CrossFileBatcher, FileVectors
from rag.errors import MmragError
from rag.indexing import make_points, page_vector_rule
from rag.parse_feed import ParseFeed
from rag.progress import PageBar, PageProgress, estimate_pages
from rag.records import FileNotice, FileWarning, IngestReport

if TYPE_CHECKING:
    from rag.ingestion import Ingestor
    from rag.records import Point

log = logging.getLogger("rag.ingestion")  # the ingest's logger, as before the split


NO_POINTS = "yielded 0 points: nothing in it is searchable (blank pages, or text that parsing and OCR did not recover)"
"""The notice of a file that was parsed without error but gave nothing to index."""
NO_TEXT = "no text found: only its images are searchable, by image similarity"
"""The notice of a file whose points carry no text at all (no chunk, table, caption or OCR text)."""


class _Timer:
    """Accumulates seconds per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, since: float) -> None:
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - since, 4)


FLUSH_BATCHES = 8
"""Embedding batches' worth of texts held before they are embedded together (sorted by length,
across files); fewer are embedded when parsing has ended or waits for room in the queue."""


class _Run:
    """One ingest's parse → embed → store loop: parsing runs ahead on a thread
    (:class:`~rag.parse_feed.ParseFeed`, bounded by ``ingest.queue_items``), embedding batches cross
    file boundaries (:class:`~rag.cross_batch.CrossFileBatcher`), and each file is stored in one
    step and recorded in the manifest only once all its vectors are in (crash safety as before)."""

    def __init__(self, ingestor: Ingestor, manifest: Manifest, report: IngestReport, timer: _Timer,
                 tenant: str, tags: list[str], in_use: Counter[str], replaced: dict[str, str | None],
                 on_progress: Callable[[int, int], None] | None,
                 on_pages: Callable[[PageProgress], None] | None) -> None:
        self.ingestor, self.manifest, self.report, self.timer = ingestor, manifest, report, timer
        self.tenant, self.tags, self.in_use, self.replaced = tenant, tags, in_use, replaced
        self.on_progress, self.on_pages = on_progress, on_pages
        self.state = PageProgress()
        self.estimates: dict[str, int] = {}
        self.bar: PageBar | None = None
        self.t0 = time.perf_counter()
        self.parsed_pages: dict[str, int] = {}  # pages parsed so far per file (progress)
        self.stored: set[str] = set()  # files finished (stored or failed) in this run
        self.unreleased = 0  # items taken from the feed whose room is not given back yet

    def begin(self, todo: list[FileInfo], *, disable_bar: bool | None) -> None:
        """Count the pages to do and start the progress reports (an engine calls it first)."""
        t = time.perf_counter()
        self.estimates = {info.path: estimate_pages(info) for info in todo}
        self.timer.add("count_pages", t)
        self.state = PageProgress(files_total=len(todo), pages_total=sum(self.estimates.values()))
        self.bar = PageBar(self.state.pages_total, disable=disable_bar)
        self.t0 = time.perf_counter()
        if self.on_progress:
            self.on_progress(0, len(todo))
        self._emit()

    def index(self, todo: list[FileInfo], *, disable_bar: bool | None) -> None:
        """The local engine: parse on a thread (and its workers), embed here, write here."""
        cfg = self.ingestor.settings
        self.begin(todo, disable_bar=disable_bar)
        if self.ingestor.embedder is None:
            raise MmragError("the local ingest engine needs an embedder (ingest.engine: local)")
        batch = cfg.embed.max_batch
        batcher = CrossFileBatcher(self.ingestor.embedder, batch, on_batch=self._emit,
                                   page_vector=page_vector_rule(cfg.embed))
        window = batch * FLUSH_BATCHES
        try:
            with ParseFeed(parse_stream(todo, cfg.ingest, cfg.media_dir), cfg.ingest.queue_items) as feed:
                while True:
                    t = time.perf_counter()
                    outcome = feed.next()
                    self.timer.add("wait", t)  # the embedder idle, waiting for parsed files
                    if outcome is None:  # parsing ended, or waits for room: embed what is held
                        if batcher.pending:
                            self._finish(batcher.flush())
                        elif feed.finished:
                            break
                    elif isinstance(outcome, FileFailure):
                        batcher.drop(outcome.path)  # parts of it may be held: never stored
                        self.parse_failed(outcome)
                    elif outcome.document.path not in self.stored:  # else: a crashed worker's file redone
                        part = whole(outcome) if isinstance(outcome, ParsedFile) else outcome
                        self.parsed(part)
                        self._finish(batcher.add(part))
                        if batcher.pending >= window:
                            self._finish(batcher.flush())
                    self.unreleased += ParseFeed.size(outcome) if outcome is not None else 0
                    if not batcher.pending:  # everything taken is embedded: its room goes back
                        feed.release(self.unreleased)
                        self.unreleased = 0
            for stage, seconds in feed.seconds.items():
                self.timer.seconds[stage] = round(self.timer.seconds.get(stage, 0.0) + seconds, 4)
            self.timer.seconds["embed"] = round(self.timer.seconds.get("embed", 0.0) + batcher.seconds, 4)
        finally:
            self.end()

    def _emit(self) -> None:
        self.state.seconds = round(time.perf_counter() - self.t0, 3)
        if self.bar is not None:
            self.bar.show(self.state)
        if self.on_pages:
            self.on_pages(self.state.model_copy())

    def _file_done(self) -> None:
        self.state.files_done += 1
        if self.on_progress:
            self.on_progress(self.state.files_done, self.state.files_total)
        self._emit()

    def parse_failed(self, failure: FileFailure) -> None:
        """Report a file that failed to parse."""
        self.report.files_failed.append(failure)
        self.state.pages_parsed -= self.parsed_pages.pop(failure.path, 0)
        self.state.pages_total -= self.estimates.get(failure.path, 0)
        self.stored.add(failure.path)
        self._file_done()

    def parsed(self, part: FilePart) -> None:
        """Count the pages of a parsed part (its ``items`` may be left out)."""
        path = part.document.path
        if part.index == 0:
            if path in self.parsed_pages:  # parsing started over (a crashed worker): count again
                self.state.pages_parsed -= self.parsed_pages.pop(path)
            else:  # the first part knows the file's real page count
                self.state.pages_total += part.document.pages - self.estimates.get(path, 0)
        self.parsed_pages[path] = self.parsed_pages.get(path, 0) + part.pages
        self.state.pages_parsed += part.pages

    def _finish(self, files: list[FileVectors]) -> None:
        for fv in files:
            self.finish_file(fv)

    def finish_file(self, fv: FileVectors, points: list[Point] | None = None, *, written: bool = False) -> None:
        """Store one embedded file (or its ready ``points``; ``written``: they are durable in the
        store already), record it in the manifest and count it done."""
        doc = fv.document
        self.stored.add(doc.path)  # finished, stored or failed: later parts of it are ignored
        if self._store(fv, points, written):
            self.in_use[doc.doc_id] += 1
            self.ingestor._release_media(self.in_use, self.replaced.get(doc.path))
        self.state.pages_done += doc.pages
        self.state.pages_parsed += doc.pages - self.parsed_pages.pop(doc.path, 0)
        self._file_done()

    def end(self) -> None:
        """Close the progress bar (an engine calls it last)."""
        if self.bar is not None:
            self.bar.close()

    def _store(self, fv: FileVectors, points: list[Point] | None = None, written: bool = False) -> bool:
        """Store one embedded file, then record it; False (and a failure entry) when it fails."""
        doc = fv.document
        path = doc.path
        report = self.report
        try:
            if fv.error is not None:
                raise fv.error
            t = time.perf_counter()
            if points is None:
                points = make_points(fv.as_text, [v for v in fv.text_vecs if v is not None], fv.as_image,
                                     [v for v in fv.image_vecs if v is not None], tenant=self.tenant,
                                     tags=self.tags, modified=datetime.fromtimestamp(doc.mtime, UTC),
                                     created=doc.created, text_embedded_as=fv.text_embedded_as)
            self.timer.add("points", t)
            t = time.perf_counter()
            # One step for searches: new points in, this tenant's other points of the file out.
            # The manifest row is written last, so a crash in between leaves the file "changed"
            # and the rerun replaces it exactly.
            if not written:
                self.ingestor.store.replace_file(path, points, tenant=self.tenant)
            self.timer.add("store", t)
        except MmragError as exc:
            log.warning("%s: %s", path, exc)
            report.files_failed.append(FileFailure(path=path, reason=str(exc), detail=type(exc).__name__))
            return False
        self.manifest.record(doc, [p.id for p in points], self.tenant,
                             embedding=page_vector_rule(self.ingestor.settings.embed).recipe)
        report.files_ingested += 1
        report.pages += doc.pages
        for p in points:
            report.items[p.item.kind] = report.items.get(p.item.kind, 0) + 1
        # Recorded either way (a rerun would find nothing more), but never silently.
        notice = NO_POINTS if not points else None if any(p.item.text.strip() for p in points) else NO_TEXT
        if notice:
            log.warning("%s: %s", path, notice)
            report.notices.append(FileNotice(path=path, notice=notice))
        report.warnings += [FileWarning(path=path, page=w.page, reason=w.reason, detail=w.detail)
                            for w in fv.warnings]
        return True
