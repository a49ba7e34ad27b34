"""What the parse-pool benchmarks share (``bench_parse_memory.py``, ``bench_parse_ranges.py``):
their common flags, the run of one measurement in a fresh child process (so one mode's workers and
caches never meet the next's), and a watcher polling the worker processes' ``/proc`` entries."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Child = Callable[[Path, str, int, str, dict[str, Any]], dict[str, Any]]
"""``child(target, mode, workers, profile, overrides)``: one measurement, as a JSON-able dict."""


def add_common(parser: argparse.ArgumentParser, modes: Sequence[str], repeats: int, target: str) -> None:
    """The flags every parse benchmark takes; ``target`` names the child's first argument."""
    parser.add_argument("--modes", nargs="+", choices=modes, default=list(modes))
    parser.add_argument("--repeats", type=int, default=repeats, help="runs of each (median)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--set", action="append", default=[], help="profile override, section.field=value")
    parser.add_argument("--child", nargs=2, metavar=(target, "MODE"), help=argparse.SUPPRESS)


def child_main(args: argparse.Namespace, child: Child) -> bool:
    """With ``--child``: run the measurement, print it as JSON and return True."""
    if not args.child:
        return False
    from rag.cli_options import parse_sets

    got = child(Path(args.child[0]), args.child[1], args.workers, args.profile, parse_sets(args.set))
    print(json.dumps(got))
    return True


def run_child(script: str, target: Path, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement of ``mode`` on ``target`` in a fresh interpreter running ``script``."""
    cmd = [sys.executable, script, "--child", str(target), mode, "--workers", str(args.workers),
           "--profile", args.profile, *[a for s in args.set for a in ("--set", s)]]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {mode} on {target} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def children(pid: int) -> list[int]:
    """The direct children of process ``pid`` (empty once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


@contextmanager
def watching_children(sample: Callable[[int], None], every_s: float = 0.1) -> Iterator[None]:
    """Call ``sample(pid)`` for each child of this process every ``every_s`` while the block runs."""
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            for pid in children(os.getpid()):
                sample(pid)
            time.sleep(every_s)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
