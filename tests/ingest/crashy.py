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
