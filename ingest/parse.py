"""Parse files into items: one file (``parse_file``) or many, in a process pool (``parse_many``)."""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.formats import (
    IMAGE_SUFFIXES,
    OFFICE_MODULES,
    PDF_SUFFIXES,
    TEXT_SUFFIXES,
    parse_image,
    parse_text,
    unsupported_reason,
)
from ingest.office import parse_office
from ingest.pdf import parse_pdf
from ingest.records import FileFailure, FileInfo, Item, ParsedFile, content_hash

log = logging.getLogger(__name__)

Outcome = ParsedFile | FileFailure


def _read(info: FileInfo, cfg: IngestConfig) -> bytes:
    if info.size > cfg.max_file_mb * 1024 * 1024:
        raise IngestError(info.path, "too large", f"{info.size / 2**20:.1f} MB > {cfg.max_file_mb:g} MB")
    try:
        data = Path(info.path).read_bytes()
    except FileNotFoundError as exc:
        raise IngestError(info.path, "missing file") from exc
    except OSError as exc:
        raise IngestError(info.path, "unreadable", exc.strerror or str(exc)) from exc
    if not data:
        raise IngestError(info.path, "empty file")
    # Ids derive from ``info.sha256``: parsing bytes that differ from it would mislabel items.
    if content_hash(data) != info.sha256:
        raise IngestError(info.path, "changed during ingestion", "content no longer matches its hash")
    return data


def parse_file(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> ParsedFile:
    """Parse one discovered file into a ``ParsedFile``.

    Images (page renders, figure and table crops) are written under ``media_dir/<doc_id>/``.
    Raises ``IngestError`` with a short reason ("empty file", "corrupt PDF", "encrypted PDF
    (no password configured)", "too large", "unsupported type .xyz", ...); any other error
    is wrapped as "parse failed" so callers handle one exception type.
    """
    suffix = Path(info.path).suffix.lower()
    reason = unsupported_reason(suffix)
    if reason:
        raise IngestError(info.path, reason)
    data = _read(info, cfg)
    t0 = time.perf_counter()
    try:
        if suffix in PDF_SUFFIXES:
            parsed = parse_pdf(info, data, cfg, media_dir)
        elif suffix in IMAGE_SUFFIXES:
            parsed = parse_image(info, data, cfg, media_dir)
        elif suffix in TEXT_SUFFIXES:
            parsed = parse_text(info, data, cfg)
        elif suffix in OFFICE_MODULES:
            parsed = parse_office(info, data, cfg, media_dir)
        else:  # pragma: no cover - unsupported_reason covers every other suffix
            raise IngestError(info.path, f"unsupported type {suffix}")
    except IngestError:
        raise
    except Exception as exc:  # one odd file must not stop the folder
        log.exception("%s: parse failed", info.path)
        raise IngestError(info.path, "parse failed", f"{type(exc).__name__}: {exc}") from exc
    seconds = {**parsed.seconds, "total": round(time.perf_counter() - t0, 4)}
    return parsed.model_copy(update={"items": number_chunks(parsed.items), "seconds": seconds})


def number_chunks(items: list[Item]) -> list[Item]:
    """``items`` with every text chunk's ``order`` set to its position among the document's chunks
    (items come out of the parsers in reading order)."""
    out: list[Item] = []
    n = 0
    for item in items:
        if item.kind == "text":
            item = item.model_copy(update={"order": n})
            n += 1
        out.append(item)
    return out


def _attempt(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Outcome:
    """``parse_file`` with every failure turned into a ``FileFailure`` (runs in workers)."""
    try:
        return parse_file(info, cfg, media_dir)
    except IngestError as exc:
        return FileFailure(path=info.path, reason=exc.reason, detail=exc.detail)
    except Exception as exc:  # parse_file wraps errors; this is the last guard
        return FileFailure(path=info.path, reason="parse failed", detail=f"{type(exc).__name__}: {exc}")


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn: no forked copies of MuPDF state or of the caller's threads and locks.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


Work = Callable[[FileInfo, IngestConfig, Path], Outcome]


def _in_pool(infos: Iterable[FileInfo], cfg: IngestConfig, media_dir: Path, work: Work) -> Iterator[Outcome]:
    """Parse in ``cfg.workers`` processes, at most two files in flight per worker.

    A worker that dies (a segfault in a native library, the OOM killer) breaks the pool and
    every file in flight with it. Those files are retried one at a time, each in a fresh
    one-process pool, so only the file that really kills its worker is reported as failed.
    """
    todo = deque(infos)
    suspects: list[FileInfo] = []
    while todo:
        with _pool(cfg.workers) as pool:
            running: dict[Future[Outcome], FileInfo] = {}
            broken = False
            while (todo or running) and not broken:
                while todo and len(running) < 2 * cfg.workers:
                    info = todo.popleft()
                    running[pool.submit(work, info, cfg, media_dir)] = info
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    info = running.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        broken = True
                        suspects.append(info)
            if broken:
                suspects.extend(running.values())
                log.warning("a parse worker died; retrying %d file(s) one by one", len(suspects))
        yield from _one_by_one(suspects, cfg, media_dir, work)
        suspects = []


def _one_by_one(infos: list[FileInfo], cfg: IngestConfig, media_dir: Path, work: Work) -> Iterator[Outcome]:
    """Parse ``infos`` one at a time in a single worker: a crash now names its file."""
    pending = deque(infos)
    while pending:
        with _pool(1) as solo:
            while pending:
                info = pending.popleft()
                try:
                    yield solo.submit(work, info, cfg, media_dir).result()
                except BrokenProcessPool:
                    yield FileFailure(path=info.path, reason="parser crashed",
                                      detail="the worker process died while parsing this file")
                    break  # the pool is dead: start a fresh one for the rest


def parse_many(infos: Iterable[FileInfo], cfg: IngestConfig, media_dir: Path) -> Iterator[Outcome]:
    """Parse every file, yielding a ``ParsedFile`` or a ``FileFailure`` per file.

    With ``cfg.workers > 1`` files are parsed in a spawn process pool and yielded as they
    finish (not in input order); otherwise in this process, in order. A bad file, even one
    that crashes its worker, becomes a ``FileFailure`` and the rest go on.
    """
    if cfg.workers <= 1:
        for info in infos:
            yield _attempt(info, cfg, media_dir)
        return
    yield from _in_pool(infos, cfg, media_dir, _attempt)
