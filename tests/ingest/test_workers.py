"""Parse workers: they start from any caller (a plain script, stdin, a thread), end with their
parent however it dies, say why when they die, and hold the wall-time limit also with one worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ingest.config import IngestConfig
from ingest.parse import parse_many
from ingest.records import FileFailure, ParsedFile

from .builders import info_of, needs_tesseract, report_pdf, scanned_pdf

REPO_ROOT = Path(__file__).resolve().parents[2]

# The way a user writes it: no ``if __name__ == "__main__":`` guard.
SCRIPT = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from ingest.config import IngestConfig
    from ingest.parse import parse_many
    from tests.ingest.builders import info_of

    files = [Path(p) for p in sys.argv[1:]]
    cfg = IngestConfig(ocr="none", render_pages=False, workers=2)
    for r in parse_many([info_of(p) for p in files], cfg, files[0].parent / "media"):
        print(type(r).__name__, Path(getattr(r, "path", "") or r.document.path).name, getattr(r, "reason", ""))
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def _pdfs(tmp_path: Path, n: int = 3, prefix: str = "r") -> list[Path]:
    return [report_pdf(tmp_path / f"{prefix}{i}.pdf", pages=1) for i in range(n)]


def _parsed_names(stdout: str) -> list[str]:
    return sorted(line.split()[1] for line in stdout.splitlines() if line.startswith("ParsedFile "))


def test_plain_script_without_main_guard(tmp_path: Path) -> None:
    files = _pdfs(tmp_path)
    (tmp_path / "example.py").write_text(SCRIPT)
    done = subprocess.run([sys.executable, "example.py", *map(str, files)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _parsed_names(done.stdout) == ["r0.pdf", "r1.pdf", "r2.pdf"], done.stdout + done.stderr[-2000:]


def test_script_on_stdin(tmp_path: Path) -> None:
    files = _pdfs(tmp_path)
    done = subprocess.run([sys.executable, "-", *map(str, files)], input=SCRIPT, cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _parsed_names(done.stdout) == ["r0.pdf", "r1.pdf", "r2.pdf"], done.stdout + done.stderr[-2000:]


def test_from_threads(tmp_path: Path, media: Path) -> None:
    files = _pdfs(tmp_path, 2, "a") + _pdfs(tmp_path, 2, "b")
    cfg = IngestConfig(ocr="none", render_pages=False, workers=2)
    results: dict[str, list[ParsedFile | FileFailure]] = {}

    def run(name: str, paths: list[Path]) -> None:
        results[name] = list(parse_many([info_of(p) for p in paths], cfg, media))

    threads = [threading.Thread(target=run, args=(n, [p for p in files if p.name.startswith(n)])) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for name in "ab":
        assert all(isinstance(r, ParsedFile) for r in results[name]), results[name]
        assert len(results[name]) == 2


def test_workers_that_cannot_start_fall_back_to_this_process(tmp_path: Path) -> None:
    files = _pdfs(tmp_path, 2)
    # Every worker "interpreter" exits at once (multiprocessing's resource tracker still runs).
    fake = tmp_path / "python-that-fails"
    fake.write_text(f'#!/bin/sh\ncase "$*" in *resource_tracker*) exec {sys.executable} "$@";; esac\n'
                    'echo "this interpreter cannot start workers" >&2\nexit 3\n')
    fake.chmod(0o755)
    script = f"import multiprocessing\nmultiprocessing.set_executable({str(fake)!r})\n" + SCRIPT
    done = subprocess.run([sys.executable, "-", *map(str, files)], input=script, cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _parsed_names(done.stdout) == ["r0.pdf", "r1.pdf"], done.stdout + done.stderr[-2000:]
    assert "die before parsing any file" in done.stderr and "in this process instead" in done.stderr


# -- workers end with their parent ---------------------------------------------------------------

PARENT = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from ingest.config import IngestConfig
    from ingest.parse import _in_pool
    from tests.ingest import crashy
    from tests.ingest.builders import info_of

    if __name__ == "__main__":  # guarded: the workers must start on any code, old or new
        files = [Path(p) for p in sys.argv[1:]]
        cfg = IngestConfig(ocr="none", render_pages=False, workers=2, file_timeout_s=None)
        for r in _in_pool([info_of(p) for p in files], cfg, files[0].parent / "media", crashy.attempt):
            print(r, flush=True)
""")


def _state(pid: int) -> str | None:
    """The process's state letter from /proc, None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _alive(pid: int) -> bool:
    return _state(pid) not in (None, "Z", "X")  # a zombie has ended; only reaping is left


def _workers_of(parent: int) -> list[int]:
    """Pids of the spawned worker processes whose parent is ``parent``."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int(proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = proc.joinpath("cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            out.append(int(proc.name))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_end_with_their_parent(tmp_path: Path, sig: signal.Signals) -> None:
    files = _pdfs(tmp_path, 2, "slow")  # crashy.attempt sleeps 60 s on files named *slow*
    (tmp_path / "parent.py").write_text(PARENT)
    parent = subprocess.Popen([sys.executable, "parent.py", *map(str, files)], cwd=tmp_path, env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
            workers = _workers_of(parent.pid)
        err = parent.stderr.read().decode()[-2000:] if parent.stderr and parent.poll() is not None else ""
        assert len(workers) == 2, f"workers did not start: {err}"
        time.sleep(3.0)  # both are inside their 60 s file by now
        os.kill(parent.pid, sig)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=30)
        for w in workers:  # never leave them behind, also when the test fails
            if _alive(w):
                os.kill(w, signal.SIGKILL)


# -- wall time per file with one worker ---------------------------------------------------------

@needs_tesseract
def test_file_timeout_holds_with_one_worker(tmp_path: Path, media: Path) -> None:
    # OCR at 600 dpi takes seconds a page; with workers: 1 the file used to run to its end here.
    slow, _ = scanned_pdf(tmp_path / "scan.pdf", "Inspection minutes of the north depot. " * 8)
    quick = report_pdf(tmp_path / "quick.pdf", pages=1)
    cfg = IngestConfig(ocr="tesseract", ocr_dpi=600, render_pages=False, workers=1, file_timeout_s=1)
    results = {Path(getattr(r, "path", "") or r.document.path).name: r
               for r in parse_many([info_of(slow), info_of(quick)], cfg, media)}
    assert isinstance(results["quick.pdf"], ParsedFile)
    failed = results["scan.pdf"]
    assert isinstance(failed, FileFailure) and failed.reason == "parsing timed out after 1 s"
    assert "ingest.file_timeout_s" in failed.detail



@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc")
def test_programs_a_worker_runs_end_with_it(tmp_path: Path) -> None:
    # Tesseract runs through subprocess with this guard: killing the worker kills its OCR too.
    worker = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""\
            import os, subprocess
            from ingest.workers import die_with_parent, subprocess_guard
            die_with_parent(os.getppid())
            child = subprocess.Popen(["sleep", "60"], preexec_fn=subprocess_guard())
            print(child.pid, flush=True)
            child.wait()
        """)], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert worker.stdout is not None
        child = int(worker.stdout.readline())
        assert _alive(child)
        worker.kill()
        worker.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the program outlived the worker that ran it"
    finally:
        if worker.poll() is None:
            worker.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
