"""How parse worker processes start and end: a clean spawn, tied to the life of their parent.

**A clean start.** Python's ``spawn`` start method runs the parent's main script again in every
child (as ``__mp_main__``), so the script must hide its work behind
``if __name__ == "__main__":``. A plain script without that guard re-ran its whole body in each
worker (re-opening the index, which fails: "already open"); a script fed on stdin
(``python - <<EOF``) cannot be re-run at all. Either way every worker died and every file was
reported "parser crashed". Workers need nothing from the caller's main, only ``ingest``, so
:func:`clean_spawn_context` starts them without it: the same fresh interpreter as ``spawn``
(no forked copies of MuPDF state, threads or locks), minus the re-import of ``__main__``.

**Ending with the parent.** A worker OCRs for minutes; when ``mmrag ingest`` is killed (SIGTERM,
or SIGKILL, which no handler sees), its workers must not run on. :func:`die_with_parent` (the
pool initializer calls it) asks Linux to SIGKILL the worker when its parent dies
(``prctl(PR_SET_PDEATHSIG)``) and, where that is unavailable, a watchdog thread ends the worker
within a second of its parent's death.
"""

from __future__ import annotations

import ctypes
import io
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing import context, popen_spawn_posix, reduction, spawn, util
from typing import Any

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_S = 1.0
"""How often the watchdog thread checks that the parent is alive."""


class _CleanPopen(popen_spawn_posix.Popen):
    """``spawn``'s launch (CPython 3.11-3.13 ``popen_spawn_posix.Popen._launch``), with the
    caller's main module left out of the preparation data the child runs."""

    _fds: list[int]  # set by the base class (typeshed does not declare it)

    def _launch(self, process_obj: Any) -> None:
        from multiprocessing import resource_tracker

        tracker_fd: Any = resource_tracker.getfd()
        self._fds.append(tracker_fd)
        prep_data = spawn.get_preparation_data(process_obj._name)
        # The only change: the child must not import the parent's __main__ (see the module doc).
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        fp = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, fp)
            reduction.dump(process_obj, fp)
        finally:
            context.set_spawning_popen(None)
        parent_r = child_w = child_r = parent_w = None
        try:
            parent_r, child_w = os.pipe()
            child_r, parent_w = os.pipe()
            cmd = spawn.get_command_line(tracker_fd=tracker_fd, pipe_handle=child_r)
            self._fds.extend([child_r, child_w])
            spawnv: Any = util.spawnv_passfds  # typeshed: bytes; CPython passes the str it gets
            self.pid = spawnv(spawn.get_executable(), cmd, self._fds)
            self.sentinel = parent_r
            with open(parent_w, "wb", closefd=False) as f:
                f.write(fp.getbuffer())
        finally:
            close_fds: Any = getattr(util, "close_fds")  # noqa: B009 - absent from typeshed
            self.finalizer = util.Finalize(self, close_fds, [fd for fd in (parent_r, parent_w) if fd is not None])
            for fd in (child_r, child_w):
                if fd is not None:
                    os.close(fd)


class _CleanProcess(context.SpawnProcess):
    _start_method = "spawn"

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _CleanPopen(process_obj)


class _CleanSpawnContext(context.SpawnContext):
    Process = _CleanProcess


def clean_spawn_context() -> context.BaseContext:
    """A ``spawn`` context whose children never import the caller's ``__main__`` (POSIX); plain
    ``spawn`` elsewhere."""
    if sys.platform == "win32":  # pragma: no cover - the POSIX launcher is what is replaced
        return context.SpawnContext()
    return _CleanSpawnContext()


_prctl: Any = None  # in a worker on Linux: libc's prctl, resolved before any fork needs it


def _set_pdeathsig() -> bool:
    global _prctl
    if not sys.platform.startswith("linux"):
        return False
    try:
        _prctl = ctypes.CDLL(None, use_errno=True).prctl
        return int(_prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        _prctl = None
        return False


def _kill_me_with_parent() -> None:
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def subprocess_guard() -> Callable[[], None] | None:
    """A ``preexec_fn`` for the programs a worker runs (Tesseract): they get SIGKILL when the
    worker dies, instead of finishing a page nobody reads. None outside workers and off Linux,
    where nothing is added (a ``preexec_fn`` in a process full of threads is best avoided)."""
    return _kill_me_with_parent if _prctl is not None else None


def _watch(parent_pid: int) -> None:
    while True:
        time.sleep(WATCH_S)
        if os.getppid() != parent_pid:  # orphaned: re-parented to init or a subreaper
            os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` (its parent) dies, however it dies.

    Linux delivers SIGKILL at once through ``PR_SET_PDEATHSIG`` (set for the thread that
    spawned the worker, which lives as long as the pool); a daemon thread polling
    ``getppid()`` is the fallback elsewhere and for a parent already gone.
    """
    _set_pdeathsig()
    if os.getppid() != parent_pid:  # died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="mmrag-parent-watch", daemon=True).start()


def exit_reason(exitcode: int | None) -> str:
    """How a worker process ended, in words: "killed by SIGKILL (...)", "exited with code 139"."""
    if exitcode is None:
        return "ended for an unknown reason"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the kernel's out-of-memory killer sends SIGKILL)" if -exitcode == signal.SIGKILL else ""
        if -exitcode == signal.SIGSEGV:
            hint = " (a crash in native code)"
        return f"killed by {name}{hint}"
    hint = " (a crash in native code)" if exitcode in (134, 139) else ""
    return f"exited with code {exitcode}{hint}"
