"""A parse function that kills its worker process for files named *crash*: used to prove
that one crashing file does not take the rest of a process pool down with it."""

from __future__ import annotations

import os
from pathlib import Path

from ingest.config import IngestConfig
from ingest.parse import Outcome, _attempt
from ingest.records import FileInfo


def attempt(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Outcome:
    """``_attempt``, except that a file named *crash* ends the process like a segfault would."""
    if "crash" in Path(info.path).name:
        os._exit(139)
    return _attempt(info, cfg, media_dir)
