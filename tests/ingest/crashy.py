"""A parse function that kills its worker process for files named *crash* and hangs on files
named *slow*: used to prove that one crashing or stuck file does not take the rest of a
process pool down with it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ingest.config import IngestConfig
from ingest.parse import Outcome, _attempt
from ingest.records import FileInfo


def attempt(info: FileInfo, cfg: IngestConfig, media_dir: Path) -> Outcome:
    """``_attempt``, except that a file named *crash* ends the process like a segfault would and
    one named *slow* hangs for a minute, like a parser stuck in a loop."""
    if "crash" in Path(info.path).name:
        os._exit(139)
    if "slow" in Path(info.path).name:
        time.sleep(60)
    return _attempt(info, cfg, media_dir)
