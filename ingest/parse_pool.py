"""The parse worker pool behind :func:`ingest.parse.parse_many` and :func:`ingest.parse.parse_stream`:
files in worker processes, per-file time limits, streamed parts, and crash recovery (a file that
kills its worker is found by retrying the files in flight one by one)."""

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
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.config import IngestConfig
from ingest.parse_ranges import Fanout, pages_of, range_attempt, write_plan
from ingest.parts import FilePart
from ingest.records import FileFailure, FileInfo, ParsedFile
from ingest.workers import clean_spawn_context, die_with_parent, exit_reason

if TYPE_CHECKING:
    from ingest.parse import Outcome, Streamed

    Work = Callable[[FileInfo, IngestConfig, Path], Outcome | Iterator[Streamed]]
    """A file's parse in a worker: one outcome, or a stream of parts (ending in a failure, maybe)."""

log = logging.getLogger("ingest.parse")  # the parser's logger, as before the split


_PARTS_POLL_S = 0.05  # how often the parent collects streamed parts (and start reports) while files are in flight

_started: Any = None  # in a worker: the queue on which it reports each file it starts
_parts: tuple[Any, str] | None = None  # in a worker: (queue, folder) through which parts go
_plans: str | None = None  # in a worker of several: the folder of plans shared with the others


def _init_worker(started: Any, parent_pid: int, parts: tuple[Any, str] | None = None,
                 plans: str | None = None) -> None:
    global _started, _parts, _plans
    _started, _parts, _plans = started, parts, plans
    die_with_parent(parent_pid)


@dataclass
class _Job:
    """One unit of the pool: a file, or a page range of one (``what`` names the pages)."""

    info: FileInfo
    work: Work
    what: str = ""

    def failure_detail(self, detail: str) -> str:
        return f"{self.what}: {detail}" if self.what else detail


def sharer() -> Callable[[object, FileInfo, list[tuple[int, int]]], str] | None:
    """In a worker of a pool of several: how a PDF's later page ranges are handed to the other
    workers (the plan written to the shared folder, a :class:`Fanout` sent to the parent; returns
    the run name its parts carry). None elsewhere: the file is parsed whole where it is."""
    if _plans is None or _parts is None:
        return None

    def share(plan: object, info: FileInfo, ranges: list[tuple[int, int]]) -> str:
        assert _plans is not None
        name = f"{os.getpid()}-{time.monotonic_ns()}"
        _send(Fanout(info=info, plan_file=write_plan(plan, _plans, name), ranges=ranges))
        return name

    return share


def _send(part: FilePart | Fanout) -> None:
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


def _collect(queue: Any) -> Iterator[FilePart | Fanout]:
    """The parts announced on ``queue`` so far, read back (and their files removed)."""
    while not queue.empty():
        name = queue.get()
        with open(name, "rb") as f:
            part = pickle.load(f)
        os.unlink(name)
        yield part


def _late(running: dict[Future[Outcome | None], tuple[int, _Job]], clocks: dict[int, tuple[int, float]],
          limit: float) -> list[Future[Outcome | None]]:
    """The files still parsing ``limit`` seconds after their worker started them."""
    now = time.time()
    return [f for f, (t, _) in running.items() if t in clocks and now - clocks[t][1] > limit and not f.done()]


def _timed_out(job: _Job, limit: float) -> FileFailure:
    log.warning("%s: parsing %s timed out after %g s; its worker was killed", job.info.path, job.what or "it", limit)
    return FileFailure(path=job.info.path, reason=f"parsing timed out after {limit:g} s",
                       detail=job.failure_detail("the process parsing it was killed (ingest.file_timeout_s)"))


@dataclass
class _Broken:
    """A pool pass that ended because a worker died: the files in flight, and why it died."""

    suspects: list[_Job]
    why: dict[int, str] = field(default_factory=dict)
    """``id`` of a job → how the worker that had started it ended; jobs not yet started are absent."""
    started_any: bool = False
    """Whether any worker of the pass had started a file: if none did, workers die at start."""


def _pool_pass(todo: deque[_Job], cfg: IngestConfig, media_dir: Path, plans: str, *, workers: int,
               per_worker: int) -> Generator[Outcome | FilePart, None, _Broken | None]:
    """Parse files from ``todo`` in one pool until ``todo`` is empty or the pool breaks.

    A file over ``cfg.file_timeout_s`` becomes a ``FileFailure`` and its worker is killed,
    which ends the pool; the other files in flight go back to the front of ``todo``.
    Returns, when a worker died on its own, the files in flight (the suspects of a crash).
    A PDF's later page ranges, announced by its worker (:class:`Fanout`), join the front of
    ``todo`` as jobs of their own (with several workers).
    """
    ctx = clean_spawn_context()  # never re-imports the caller's main: plain scripts, stdin, notebooks
    # A SimpleQueue writes at once, no feeder thread: a report made just before a worker dies
    # arrives, so a crash is told apart from workers that never start.
    started = ctx.SimpleQueue()
    parts = ctx.SimpleQueue()  # names of streamed parts' files (see _send)
    folder = tempfile.mkdtemp(prefix="mmrag-parts-")
    limit = cfg.file_timeout_s
    running: dict[Future[Outcome | None], tuple[int, _Job]] = {}
    clocks: dict[int, tuple[int, float]] = {}  # ticket → (worker pid, start time)
    procs: dict[int, Any] = {}  # worker pid → its Process (exit codes, once the pool is down)
    tickets = itertools.count()
    broken: tuple[list[_Job], list[tuple[int, _Job]]] | None = None
    share = plans if workers > 1 else None  # one worker: nobody to share a file's pages with
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(started, os.getpid(), (parts, folder), share)) as pool:
            while todo or running:
                submit_broke = False
                while todo and len(running) < per_worker * workers:
                    job = todo.popleft()
                    ticket = next(tickets)
                    try:
                        fut = pool.submit(_start_then, ticket, job.work, job.info, cfg, media_dir)
                    # A worker died since the last submit; while the pool is breaking, starting a
                    # replacement worker can also fail on its closed pipes ("handle is closed":
                    # OSError; "bad value(s) in fds_to_keep": ValueError).
                    except (BrokenProcessPool, OSError, ValueError):
                        todo.appendleft(job)
                        submit_broke = True
                        break
                    running[fut] = (ticket, job)
                procs.update(getattr(pool, "_processes", None) or {})
                if submit_broke:
                    wait(running)  # a broken pool fails every file it holds, at once
                done, _ = wait(running, timeout=_PARTS_POLL_S, return_when=FIRST_COMPLETED)
                # Parts first: a file's last part is announced before its worker returns.
                for got in _collect(parts):
                    if isinstance(got, Fanout):
                        todo.extendleft(reversed([
                            _Job(got.info, partial(range_attempt, plan_file=got.plan_file, start=s, end=e),
                                 pages_of(s, e)) for s, e in got.ranges]))
                    else:
                        yield got
                crashed: list[tuple[int, _Job]] = []
                for fut in sorted(done, key=lambda f: running[f][0]):  # in submission order
                    ticket, job = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        crashed.append((ticket, job))
                    else:
                        clocks.setdefault(ticket, (0, time.time()))  # finished: it did start
                        if outcome is not None:
                            yield outcome
                _drain(started, clocks)  # also without a limit: a full pipe would block workers' exit
                if crashed or submit_broke:
                    broken = ([j for _, j in crashed] + [j for _, j in running.values()],
                              crashed + list(running.values()))
                    break
                if limit is not None and (late := _late(running, clocks, limit)):
                    for fut in late:
                        ticket, job = running.pop(fut)
                        with contextlib.suppress(ProcessLookupError):  # stuck in native code: only a kill works
                            os.kill(clocks[ticket][0], signal.SIGKILL)
                        yield _timed_out(job, limit)
                    # Killing a worker breaks the pool: the rest start again in a fresh one.
                    todo.extendleft(reversed([job for _, job in running.values()]))
                    return None
    finally:
        started.close()
        parts.close()
        shutil.rmtree(folder, ignore_errors=True)  # parts never read: their files were redone or failed
    if broken is None:
        return None
    # The pool is down: every worker has been joined, so exit codes are known.
    suspects, tagged = broken
    why = {id(job): exit_reason(procs[clocks[t][0]].exitcode)
           for t, job in tagged if t in clocks and clocks[t][0] in procs}
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
    todo = deque(_Job(info, work) for info in infos)
    plans = tempfile.mkdtemp(prefix="mmrag-plans-")  # outlives pool passes: ranges may be retried in the next
    try:
        while todo:
            broken = yield from _pool_pass(todo, cfg, media_dir, plans, workers=cfg.workers, per_worker=2)
            if broken is None:
                continue
            if not broken.started_any:
                yield from _in_process_fallback([*broken.suspects, *todo], cfg, media_dir)
                return
            log.warning("a parse worker died; retrying %d job(s) one by one", len(broken.suspects))
            yield from _one_by_one(broken.suspects, cfg, media_dir, plans)
    finally:
        shutil.rmtree(plans, ignore_errors=True)


def _in_process_fallback(jobs: list[_Job], cfg: IngestConfig, media_dir: Path) -> Iterator[Outcome | FilePart]:
    log.error("parse worker processes die before parsing any file (see their error above); parsing "
              "%d file(s) in this process instead, without ingest.file_timeout_s", len(jobs))
    for job in jobs:
        out = job.work(job.info, cfg, media_dir)
        if isinstance(out, ParsedFile | FileFailure):
            yield out
        else:
            yield from out


def _one_by_one(jobs: list[_Job], cfg: IngestConfig, media_dir: Path, plans: str) -> Iterator[Outcome | FilePart]:
    """Parse ``jobs`` one at a time in a single worker: a crash now names its file (and pages)."""
    pending = deque(jobs)
    while pending:
        broken = yield from _pool_pass(pending, cfg, media_dir, plans, workers=1, per_worker=1)
        if broken is None:
            continue
        if not broken.started_any:
            yield from _in_process_fallback([*broken.suspects, *pending], cfg, media_dir)
            return
        for job in broken.suspects:
            how = broken.why.get(id(job), "ended for an unknown reason")
            log.warning("%s: the parse worker %s while parsing %s", job.info.path, how, job.what or "it")
            yield FileFailure(path=job.info.path, reason="parser crashed",
                              detail=job.failure_detail(f"the worker process parsing this file {how}"))
