"""Parse files into items: one file (``parse_file``) or many, in worker processes (``parse_many``),
or many streamed in page ranges (``parse_stream``: a long PDF's first pages are handed on while
its worker still renders and OCRs the rest)."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.config import IngestConfig
from ingest.errors import IngestError
from ingest.limits import check_before_parse
from ingest.parts import FilePart, whole
from ingest.records import FileFailure, FileInfo, Item, ParsedFile, content_hash
from ingest.registry import parser_for, preload_parsers, unsupported_reason
from ingest.workers import clean_spawn_context, die_with_parent, exit_reason

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


def parse_parts(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Iterator[FilePart]:
    """``parse_file`` in parts: a PDF in page ranges as they are made
    (:func:`ingest.pdf.iter_pdf_parts`), any other file as one part. The items, their ids and the
    chunks' ``order`` are ``parse_file``'s (a PDF's in page order rather than chunks first).
    Raises ``IngestError`` as ``parse_file`` does; a PDF's only before its first part."""
    suffix = Path(info.path).suffix.lower()
    if suffix != ".pdf":
        yield whole(parse_file(info, cfg, media_dir))
        return
    from ingest.pdf import iter_pdf_parts  # the registry's lazy import, for the one streamed format

    data = _read(info, cfg)
    t0 = time.perf_counter()
    n = 0
    parts = iter_pdf_parts(info, data, cfg, media_dir)
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
    """``parse_parts`` with every failure turned into a ``FileFailure`` (after any parts made)."""
    try:
        yield from parse_parts(info, cfg, media_dir)
    except IngestError as exc:
        yield FileFailure(path=info.path, reason=exc.reason, detail=exc.detail)
    except Exception as exc:  # parse_parts wraps errors; this is the last guard
        yield FileFailure(path=info.path, reason="parse failed", detail=f"{type(exc).__name__}: {exc}")


Work = Callable[[FileInfo, IngestConfig, Path], Outcome | Iterator[Streamed]]
"""A file's parse in a worker: one outcome, or a stream of parts (ending in a failure, maybe)."""
_PARTS_POLL_S = 0.05  # how often the parent collects streamed parts (and start reports) while files are in flight

_started: Any = None  # in a worker: the queue on which it reports each file it starts
_parts: tuple[Any, str] | None = None  # in a worker: (queue, folder) through which parts go


def _init_worker(started: Any, parent_pid: int, parts: tuple[Any, str] | None = None) -> None:
    global _started, _parts
    _started, _parts = started, parts
    die_with_parent(parent_pid)


def _send(part: FilePart) -> None:
    """Hand ``part`` to the parent: pickled to a file in the pass's folder, then its name on the
    queue. Only short names cross the pipe (one atomic write), so a worker killed mid-way never
    leaves half a message there; its unannounced file goes with the folder."""
    assert _parts is not None
    queue, folder = _parts
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        pickle.dump(part, f, protocol=pickle.HIGHEST_PROTOCOL)
    final = tmp[:-4] + ".part"
    os.replace(tmp, final)
    queue.put(final)


def _start_then(ticket: int, work: Work, info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Outcome | None:
    """Runs in a worker: report which process starts ``ticket`` and when, then ``work`` on it.

    A file's clock starts here, not at submission: files wait in the pool's queue, and a
    fresh worker spends seconds importing before it parses anything. A streamed file's parts go
    to the parent as they are made (:func:`_send`); its failure, if any, is the result.
    """
    _started.put((ticket, os.getpid(), time.time()))  # wall clock: comparable across processes
    out = work(info, cfg, media_dir)
    if isinstance(out, ParsedFile | FileFailure):
        return out
    failure: FileFailure | None = None
    for got in out:
        if isinstance(got, FilePart):
            _send(got)
        else:
            failure = got
    return failure


def _drain(started: Any, clocks: dict[int, tuple[int, float]]) -> None:
    """Move the start reports waiting in ``started`` into ``clocks``."""
    while not started.empty():
        ticket, pid, t0 = started.get()
        clocks[ticket] = (pid, t0)


def _collect(queue: Any) -> Iterator[FilePart]:
    """The parts announced on ``queue`` so far, read back (and their files removed)."""
    while not queue.empty():
        name = queue.get()
        with open(name, "rb") as f:
            part = pickle.load(f)
        os.unlink(name)
        yield part


def _late(running: dict[Future[Outcome | None], tuple[int, FileInfo]], clocks: dict[int, tuple[int, float]],
          limit: float) -> list[Future[Outcome | None]]:
    """The files still parsing ``limit`` seconds after their worker started them."""
    now = time.time()
    return [f for f, (t, _) in running.items() if t in clocks and now - clocks[t][1] > limit and not f.done()]


def _timed_out(info: FileInfo, limit: float) -> FileFailure:
    log.warning("%s: parsing timed out after %g s; its worker was killed", info.path, limit)
    return FileFailure(path=info.path, reason=f"parsing timed out after {limit:g} s",
                       detail="the process parsing it was killed (ingest.file_timeout_s)")


@dataclass
class _Broken:
    """A pool pass that ended because a worker died: the files in flight, and why it died."""

    suspects: list[FileInfo]
    why: dict[str, str]
    """File path → how the worker that had started it ended; files not yet started are absent."""
    started_any: bool
    """Whether any worker of the pass had started a file: if none did, workers die at start."""


def _pool_pass(todo: deque[FileInfo], cfg: IngestConfig, media_dir: Path, work: Work, *, workers: int,
               per_worker: int) -> Generator[Outcome | FilePart, None, _Broken | None]:
    """Parse files from ``todo`` in one pool until ``todo`` is empty or the pool breaks.

    A file over ``cfg.file_timeout_s`` becomes a ``FileFailure`` and its worker is killed,
    which ends the pool; the other files in flight go back to the front of ``todo``.
    Returns, when a worker died on its own, the files in flight (the suspects of a crash).
    """
    ctx = clean_spawn_context()  # never re-imports the caller's main: plain scripts, stdin, notebooks
    # A SimpleQueue writes at once, no feeder thread: a report made just before a worker dies
    # arrives, so a crash is told apart from workers that never start.
    started = ctx.SimpleQueue()
    parts = ctx.SimpleQueue()  # names of streamed parts' files (see _send)
    folder = tempfile.mkdtemp(prefix="mmrag-parts-")
    limit = cfg.file_timeout_s
    running: dict[Future[Outcome | None], tuple[int, FileInfo]] = {}
    clocks: dict[int, tuple[int, float]] = {}  # ticket → (worker pid, start time)
    procs: dict[int, Any] = {}  # worker pid → its Process (exit codes, once the pool is down)
    tickets = itertools.count()
    broken: tuple[list[FileInfo], list[tuple[int, FileInfo]]] | None = None
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(started, os.getpid(), (parts, folder))) as pool:
            while todo or running:
                submit_broke = False
                while todo and len(running) < per_worker * workers:
                    info = todo.popleft()
                    ticket = next(tickets)
                    try:
                        fut = pool.submit(_start_then, ticket, work, info, cfg, media_dir)
                    # A worker died since the last submit; while the pool is breaking, starting a
                    # replacement worker can also fail on its closed pipes ("handle is closed":
                    # OSError; "bad value(s) in fds_to_keep": ValueError).
                    except (BrokenProcessPool, OSError, ValueError):
                        todo.appendleft(info)
                        submit_broke = True
                        break
                    running[fut] = (ticket, info)
                procs.update(getattr(pool, "_processes", None) or {})
                if submit_broke:
                    wait(running)  # a broken pool fails every file it holds, at once
                done, _ = wait(running, timeout=_PARTS_POLL_S, return_when=FIRST_COMPLETED)
                # Parts first: a file's last part is announced before its worker returns.
                yield from _collect(parts)
                crashed: list[tuple[int, FileInfo]] = []
                for fut in sorted(done, key=lambda f: running[f][0]):  # in submission order
                    ticket, info = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        crashed.append((ticket, info))
                    else:
                        clocks.setdefault(ticket, (0, time.time()))  # finished: it did start
                        if outcome is not None:
                            yield outcome
                _drain(started, clocks)  # also without a limit: a full pipe would block workers' exit
                if crashed or submit_broke:
                    broken = ([i for _, i in crashed] + [i for _, i in running.values()],
                              crashed + list(running.values()))
                    break
                if limit is not None and (late := _late(running, clocks, limit)):
                    for fut in late:
                        ticket, info = running.pop(fut)
                        with contextlib.suppress(ProcessLookupError):  # stuck in native code: only a kill works
                            os.kill(clocks[ticket][0], signal.SIGKILL)
                        yield _timed_out(info, limit)
                    # Killing a worker breaks the pool: the rest start again in a fresh one.
                    todo.extendleft(reversed([info for _, info in running.values()]))
                    return None
    finally:
        started.close()
        parts.close()
        shutil.rmtree(folder, ignore_errors=True)  # parts never read: their files were redone or failed
    if broken is None:
        return None
    # The pool is down: every worker has been joined, so exit codes are known.
    suspects, tagged = broken
    why = {info.path: exit_reason(procs[clocks[t][0]].exitcode)
           for t, info in tagged if t in clocks and clocks[t][0] in procs}
    return _Broken(suspects, why, started_any=bool(clocks))


def _in_pool(infos: Iterable[FileInfo], cfg: IngestConfig, media_dir: Path, work: Work
             ) -> Iterator[Outcome | FilePart]:
    """Parse in ``cfg.workers`` processes, at most two files in flight per worker.

    A worker that dies (a segfault in a native library, the OOM killer) breaks the pool and
    every file in flight with it. Those files are retried one at a time, each in a fresh
    one-process pool, so only the file that really kills its worker is reported as failed,
    with how the worker ended. A file that runs past ``cfg.file_timeout_s`` is failed and its
    worker killed; the files in flight with it are parsed again in a fresh pool. When workers
    die before parsing anything (they cannot start here), the files are parsed in this
    process instead, with an error in the log saying why.
    """
    todo = deque(infos)
    while todo:
        broken = yield from _pool_pass(todo, cfg, media_dir, work, workers=cfg.workers, per_worker=2)
        if broken is None:
            continue
        if not broken.started_any:
            yield from _in_process_fallback([*broken.suspects, *todo], cfg, media_dir, work)
            return
        log.warning("a parse worker died; retrying %d file(s) one by one", len(broken.suspects))
        yield from _one_by_one(broken.suspects, cfg, media_dir, work)


def _in_process_fallback(infos: list[FileInfo], cfg: IngestConfig, media_dir: Path, work: Work
                         ) -> Iterator[Outcome | FilePart]:
    log.error("parse worker processes die before parsing any file (see their error above); parsing "
              "%d file(s) in this process instead, without ingest.file_timeout_s", len(infos))
    for info in infos:
        out = work(info, cfg, media_dir)
        if isinstance(out, ParsedFile | FileFailure):
            yield out
        else:
            yield from out


def _one_by_one(infos: list[FileInfo], cfg: IngestConfig, media_dir: Path, work: Work
                ) -> Iterator[Outcome | FilePart]:
    """Parse ``infos`` one at a time in a single worker: a crash now names its file."""
    pending = deque(infos)
    while pending:
        broken = yield from _pool_pass(pending, cfg, media_dir, work, workers=1, per_worker=1)
        if broken is None:
            continue
        if not broken.started_any:
            yield from _in_process_fallback([*broken.suspects, *pending], cfg, media_dir, work)
            return
        for info in broken.suspects:
            how = broken.why.get(info.path, "ended for an unknown reason")
            log.warning("%s: the parse worker %s while parsing it", info.path, how)
            yield FileFailure(path=info.path, reason="parser crashed",
                              detail=f"the worker process parsing this file {how}")


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
    ones). Same workers, time limit and crash handling as ``parse_many``.
    """
    if cfg.workers <= 1 and cfg.file_timeout_s is None:
        for info in infos:
            yield from _stream_attempt(info, cfg, media_dir)
        return
    for got in _in_pool(infos, cfg, media_dir, _stream_attempt):
        assert not isinstance(got, ParsedFile)  # _stream_attempt sends parts
        yield got
