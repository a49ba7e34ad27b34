"""Page ranges of one long PDF parsed by several workers, put back in page order.

A worker that parses a PDF of more than :data:`RANGE_PAGES` pages runs pass 1 (the structure of
every page, :func:`ingest.pdf.plan_pdf`), writes the resulting :class:`~ingest.pdf.PdfPlan` to a
file and announces a :class:`Fanout`: the file's later page ranges, each to be parsed (pass 2:
renders, crops, OCR, items) by whichever worker is free (:func:`range_attempt`), while it parses
the first range itself. Every part of such a parse carries the plan file's name as its ``run``.

:class:`Reassembly`, in the parent, hands the parts on in page order (a range that finishes early
waits for the ones before it), numbers the text chunks across ranges, and drops the parts of a
parse that was started over (a crashed worker's file is parsed again, as a new run). A range that
fails fails its file, with the pages in the detail; the file's other parts are dropped.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.parts import FilePart
from ingest.records import FileFailure, FileInfo, Item

log = logging.getLogger("ingest.parse")

RANGE_PAGES = 64
"""Pages of one range handed to another worker (four 16-page parts): long enough that reopening
the PDF and reading the plan is noise, short enough that two workers share a 200-page file."""


@dataclass(frozen=True)
class Fanout:
    """A worker's announcement: ``info``'s pages in ``ranges`` (0-based, end excluded) are to be
    parsed by any worker from the plan in ``plan_file``."""

    info: FileInfo
    plan_file: str
    ranges: list[tuple[int, int]]


Share = Callable[[object, FileInfo, list[tuple[int, int]]], str]
"""In a pool worker: writes a plan, announces its ranges, returns the run name."""


def ranges_after_first(pages: int) -> list[tuple[int, int]]:
    """The ranges a PDF of ``pages`` pages hands to other workers: all but the first."""
    return [(s, min(s + RANGE_PAGES, pages)) for s in range(RANGE_PAGES, pages, RANGE_PAGES)]


def pages_of(start: int, end: int) -> str:
    """``pages 65-128`` for the 0-based range ``start``..``end`` (end excluded)."""
    return f"pages {start + 1}-{end}"


def write_plan(plan: object, folder: str, name: str) -> str:
    """Pickle ``plan`` to ``folder/name.plan`` (atomically); its path."""
    path = Path(folder) / f"{name}.plan"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(plan, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return str(path)


def range_attempt(info: FileInfo, cfg: IngestConfig, media_dir: Path, *, plan_file: str, start: int,
                  end: int) -> Iterator[FilePart | FileFailure]:
    """Parse pages ``start``..``end`` of ``info`` from its plan (runs in a worker): its parts, or a
    ``FileFailure`` naming the pages."""
    from ingest.ocr import get_ocr_engine
    from ingest.parse import _read
    from ingest.pdf import open_pdf, parts_of_range

    run = Path(plan_file).stem
    try:
        with open(plan_file, "rb") as f:
            plan = pickle.load(f)
        data = _read(info, cfg)
        doc = open_pdf(info.path, data, cfg)
        try:
            for part in parts_of_range(doc, plan, info, cfg, media_dir, get_ocr_engine(cfg.ocr), start, end,
                                       first_seconds=False):
                yield part.model_copy(update={"run": run})
        finally:
            doc.close()
    except IngestError as exc:
        detail = f"{pages_of(start, end)}: {exc.detail}" if exc.detail else pages_of(start, end)
        yield FileFailure(path=info.path, reason=exc.reason, detail=detail)
    except Exception as exc:  # one odd range must not stop the folder
        log.exception("%s: parse of %s failed", info.path, pages_of(start, end))
        yield FileFailure(path=info.path, reason="parse failed",
                          detail=f"{pages_of(start, end)}: {type(exc).__name__}: {exc}")


@dataclass
class _File:
    run: str | None = None  # the run whose part 0 came; None before
    next: int = 0  # index of the next part to hand on
    chunks: int = 0  # text chunks handed on so far (their ``order``)
    held: dict[str, dict[int, FilePart]] = field(default_factory=dict)  # run → index → part


class Reassembly:
    """Parts of files (any interleaving, a file's ranges from several workers) handed on per file
    in page order, chunks numbered in that order; failures passed on once per file."""

    def __init__(self) -> None:
        self._files: dict[str, _File] = {}
        self._ended: set[str] = set()  # complete or failed: what comes later is stale

    def feed(self, got: FilePart | FileFailure) -> Iterator[FilePart | FileFailure]:
        """What ``got`` lets through, in order."""
        if isinstance(got, FileFailure):
            if got.path not in self._ended:
                self._ended.add(got.path)
                self._files.pop(got.path, None)
                yield got
            return
        path = got.document.path
        if path in self._ended:
            return
        f = self._files.setdefault(path, _File())
        if got.index == 0:  # a parse (re)starts: the parts of earlier runs are stale
            f.held = {got.run: f.held.get(got.run, {})} if got.run != f.run or f.next == 0 else {}
            f.run, f.next, f.chunks = got.run, 0, 0
        f.held.setdefault(got.run, {})[got.index] = got
        if f.run is None:
            return
        mine = f.held.setdefault(f.run, {})
        while (part := mine.pop(f.next, None)) is not None:
            f.next += 1
            items: list[Item] = []
            for item in part.items:
                if item.kind == "text":
                    item = item.model_copy(update={"order": f.chunks})
                    f.chunks += 1
                items.append(item)
            yield part.model_copy(update={"items": items})
            if part.last:
                self._ended.add(path)
                del self._files[path]
                return

    def unfinished(self) -> list[str]:
        """Files with parts held but not complete (a stream that ends with these lost parts)."""
        return sorted(self._files)
