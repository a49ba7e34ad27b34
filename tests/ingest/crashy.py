"""A parse function that kills its worker process for files named *crash* and hangs on files
named *slow*: used to prove that one crashing or stuck file does not take the rest of a
process pool down with it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from ingest.config import IngestConfig
from ingest.parse import Outcome, Streamed, _attempt, _stream_attempt
from ingest.records import FileInfo


def attempt(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Outcome:
    """``_attempt``, except that a file named *crash* ends the process like a segfault would and
    one named *slow* hangs for a minute, like a parser stuck in a loop."""
    if "crash" in Path(info.path).name:
        os._exit(139)
    if "slow" in Path(info.path).name:
        time.sleep(60)
    return _attempt(info, cfg, media_dir)


def gated_stream(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Iterator[Streamed]:
    """``_stream_attempt``, holding back everything after a file's first part until a file named
    ``<pdf>.go`` exists (up to 60 s): the test sees the first part while the worker still waits
    before the rest of the file."""
    gate = Path(info.path + ".go")
    for n, got in enumerate(_stream_attempt(info, cfg, media_dir)):
        yield got
        if n == 0:
            deadline = time.monotonic() + 60
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.02)


def crash_after_first_part(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Iterator[Streamed]:
    """``_stream_attempt``, killing its worker after the first part of a file named *crash* unless
    ``<pdf>.crashed`` exists (made before dying): the retry then streams the file whole."""
    mark = Path(info.path + ".crashed")
    for n, got in enumerate(_stream_attempt(info, cfg, media_dir)):
        yield got
        if n == 0 and "crash" in Path(info.path).name and not mark.exists():
            time.sleep(0.3)  # the parent collects the part first
            mark.touch()
            os._exit(139)


def _stamped(got: Streamed) -> Streamed:
    from ingest.parts import FilePart

    if isinstance(got, FilePart):
        return got.model_copy(update={"seconds": {**got.seconds, "pid": float(os.getpid())}})
    return got


def _wait_for(mark: Path) -> None:
    deadline = time.monotonic() + 60
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def stamped_stream(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Iterator[Streamed]:
    """``_stream_attempt``, each part stamped with its worker's pid (``seconds["pid"]``); a file
    named *wait* holds its parts back until a page range of it has started elsewhere
    (``<pdf>.range``), and ``<pdf>.lead-done`` marks the end of its own parts."""
    started_elsewhere = Path(info.path + ".range")
    for got in _stream_attempt(info, cfg, media_dir):
        if "wait" in Path(info.path).name:
            _wait_for(started_elsewhere)
        yield _stamped(got)
    Path(info.path + ".lead-done").touch()


def stamped_range(info: FileInfo, cfg: IngestConfig, media_dir: Path, *, plan_file: str, start: int,
                  end: int) -> Iterator[Streamed]:
    """``range_attempt``, marking ``<pdf>.range`` when it starts and stamping its parts' pid."""
    from ingest.parse_ranges import range_attempt

    Path(info.path + ".range").touch()
    for got in range_attempt(info, cfg, media_dir, plan_file=plan_file, start=start, end=end):
        yield _stamped(got)


def range_crash(info: FileInfo, cfg: IngestConfig, media_dir: Path, *, plan_file: str, start: int,
                end: int) -> Iterator[Streamed]:
    """``range_attempt``, except that the range starting at page 65 kills its worker like a
    segfault, once the file's first range is all sent (``<pdf>.lead-done``)."""
    from ingest.parse_ranges import range_attempt

    if start == 64:
        _wait_for(Path(info.path + ".lead-done"))
        os._exit(139)
    yield from range_attempt(info, cfg, media_dir, plan_file=plan_file, start=start, end=end)
