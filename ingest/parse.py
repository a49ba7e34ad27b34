"""Parse files into items: one file (``parse_file``) or many, in worker processes (``parse_many``),
or many streamed in page ranges (``parse_stream``: a long PDF's first pages are handed on while
its worker still renders and OCRs the rest)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.limits import check_before_parse
from ingest.parse_pool import _in_pool, sharer
from ingest.parse_ranges import RANGE_PAGES, Reassembly, Share, ranges_after_first
from ingest.parts import FilePart, whole
from ingest.records import FileFailure, FileInfo, Item, ParsedFile, content_hash
from ingest.registry import parser_for, preload_parsers, unsupported_reason

log = logging.getLogger(__name__)

preload_parsers()  # in a worker, before any file's clock starts (parsers are imported lazily otherwise)

Outcome = ParsedFile | FileFailure
Streamed = FilePart | FileFailure


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
    check_before_parse(info.path, data, cfg)  # image headers, zip directories: before any decoding
    return data


def parse_file(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> ParsedFile:
    """Parse one discovered file into a ``ParsedFile``.

    The parser is the one ``ingest.registry`` names for the file's suffix. Images (page
    renders, figure and table crops) are written under ``media_dir/<doc_id>/``.
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
        parsed = parser_for(suffix)(info, data, cfg, media_dir)
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


def _shared_pdf_parts(info: FileInfo, data: bytes, cfg: IngestConfig, media_dir: Path, share: Share
                      ) -> Iterator[FilePart]:
    """A PDF's parts when other workers may take its later page ranges: pass 1 here, then, for a
    PDF of more than ``RANGE_PAGES`` pages, the plan shared and only the first range parsed here."""
    from ingest.ocr import get_ocr_engine
    from ingest.pdf import open_pdf, parts_of_range, plan_pdf
    from ingest.pdf_state import _State

    st = _State(path=info.path, max_render_pixels=cfg.max_render_pixels)
    with st.timed("open"):
        doc = open_pdf(info.path, data, cfg)
    try:
        engine = get_ocr_engine(cfg.ocr)
        plan = plan_pdf(info, doc, cfg, engine, st)
        pages, run = doc.page_count, ""
        if pages > RANGE_PAGES:
            run = share(plan, info, ranges_after_first(pages))  # pickled now, before this range adds OCR
        for part in parts_of_range(doc, plan, info, cfg, media_dir, engine, 0, min(pages, RANGE_PAGES)
                                   if run else pages):
            yield part.model_copy(update={"run": run}) if run else part
    finally:
        doc.close()


def parse_parts(info: FileInfo, cfg: IngestConfig, media_dir: Path, share: Share | None = None
                ) -> Iterator[FilePart]:
    """``parse_file`` in parts: a PDF in page ranges as they are made
    (:func:`ingest.pdf.iter_pdf_parts`), any other file as one part. The items, their ids and the
    chunks' ``order`` are ``parse_file``'s (a PDF's in page order rather than chunks first).
    Raises ``IngestError`` as ``parse_file`` does; a PDF's only before its first part.

    ``share`` (in a pool worker of several, :func:`ingest.parse_pool.sharer`): a PDF of more than
    ``ingest.parse_ranges.RANGE_PAGES`` pages yields only its first range; the others go to any
    worker (:mod:`ingest.parse_ranges`), and the parent puts them back in order and numbers the
    chunks (:class:`~ingest.parse_ranges.Reassembly`)."""
    suffix = Path(info.path).suffix.lower()
    if suffix != ".pdf":
        yield whole(parse_file(info, cfg, media_dir))
        return
    from ingest.pdf import iter_pdf_parts  # the registry's lazy import, for the one streamed format

    data = _read(info, cfg)
    t0 = time.perf_counter()
    n = 0
    parts = iter_pdf_parts(info, data, cfg, media_dir) if share is None else _shared_pdf_parts(
        info, data, cfg, media_dir, share)
    while True:
        try:
            part = next(parts, None)
        except IngestError:
            raise
        except Exception as exc:  # one odd file must not stop the folder
            log.exception("%s: parse failed", info.path)
            raise IngestError(info.path, "parse failed", f"{type(exc).__name__}: {exc}") from exc
        if part is None:
            return
        items: list[Item] = []
        for item in part.items:
            if item.kind == "text":
                item = item.model_copy(update={"order": n})
                n += 1
            items.append(item)
        seconds = part.seconds
        if part.last:
            seconds = {**seconds, "total": round(time.perf_counter() - t0, 4)}
        yield part.model_copy(update={"items": items, "seconds": seconds})


def _attempt(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Outcome:
    """``parse_file`` with every failure turned into a ``FileFailure`` (runs in workers)."""
    try:
        return parse_file(info, cfg, media_dir)
    except IngestError as exc:
        return FileFailure(path=info.path, reason=exc.reason, detail=exc.detail)
    except Exception as exc:  # parse_file wraps errors; this is the last guard
        return FileFailure(path=info.path, reason="parse failed", detail=f"{type(exc).__name__}: {exc}")


def _stream_attempt(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Iterator[Streamed]:
    """``parse_parts`` with every failure turned into a ``FileFailure`` (after any parts made); in
    a pool worker of several, a long PDF's later page ranges are shared with the other workers."""
    try:
        yield from parse_parts(info, cfg, media_dir, sharer())
    except IngestError as exc:
        yield FileFailure(path=info.path, reason=exc.reason, detail=exc.detail)
    except Exception as exc:  # parse_parts wraps errors; this is the last guard
        yield FileFailure(path=info.path, reason="parse failed", detail=f"{type(exc).__name__}: {exc}")


def parse_many(infos: Iterable[FileInfo], cfg: IngestConfig, media_dir: Path) -> Iterator[Outcome]:
    """Parse every file, yielding a ``ParsedFile`` or a ``FileFailure`` per file.

    Files are parsed in worker processes (``cfg.workers`` of them, started without re-importing
    the caller's main, ended with this process) and yielded as they finish, not in input order;
    also with ``workers`` = 1, so ``cfg.file_timeout_s`` holds. Only ``workers`` = 1 with
    ``file_timeout_s`` None parses in this process, in order. A bad file, even one that crashes
    its worker or runs past ``cfg.file_timeout_s``, becomes a ``FileFailure``; the rest go on.
    """
    if cfg.workers <= 1 and cfg.file_timeout_s is None:
        for info in infos:
            yield _attempt(info, cfg, media_dir)
        return
    for got in _in_pool(infos, cfg, media_dir, _attempt):
        assert not isinstance(got, FilePart)  # _attempt returns whole files
        yield got


def parse_stream(infos: Iterable[FileInfo], cfg: IngestConfig, media_dir: Path) -> Iterator[Streamed]:
    """``parse_many`` in parts: every file as :class:`~ingest.parts.FilePart` s (a PDF in page ranges,
    handed on while its worker still parses later pages), or a ``FileFailure``.

    Parts of one file come in order; files interleave. A file is complete at its part with
    ``last`` set. A failure can follow parts of its file (drop them), and a part with ``index`` 0
    can follow parts of its file when a crashed worker's files are parsed again (drop the held
    ones). Same workers, time limit and crash handling as ``parse_many``. With several workers, a
    PDF of more than ``ingest.parse_ranges.RANGE_PAGES`` pages is parsed by all of them, range by
    range (pass 1 by one, its page ranges by any), and handed on in page order; a range's time
    limit and crash are its own, and its failure names the file and the pages.
    """
    if cfg.workers <= 1 and cfg.file_timeout_s is None:
        for info in infos:
            yield from _stream_attempt(info, cfg, media_dir)
        return
    order = Reassembly()
    for got in _in_pool(infos, cfg, media_dir, _stream_attempt):
        assert not isinstance(got, ParsedFile)  # _stream_attempt sends parts
        yield from order.feed(got)
    for path in order.unfinished():  # cannot happen unless a worker lost a range's parts
        yield FileFailure(path=path, reason="parse failed", detail="some page ranges never came back")
