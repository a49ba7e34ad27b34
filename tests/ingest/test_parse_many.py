"""parse_many: in-process and in a spawn process pool, with failures and a crashing worker."""

from __future__ import annotations

import time
from pathlib import Path

from ingest.config import IngestConfig
from ingest.parse import _in_pool, parse_many
from ingest.records import FileFailure, ParsedFile

from . import crashy
from .builders import info_of, report_pdf


def _files(tmp_path: Path) -> list[Path]:
    (tmp_path / "junk.pdf").write_bytes(b"not a pdf" * 50)
    return [report_pdf(tmp_path / f"r{i}.pdf", pages=1 + i) for i in range(3)] + [tmp_path / "junk.pdf"]


def test_pool_matches_in_process(tmp_path: Path, media: Path) -> None:
    infos = [info_of(p) for p in _files(tmp_path)]
    serial = list(parse_many(infos, IngestConfig(ocr="none", render_pages=False), media))
    pooled = list(parse_many(infos, IngestConfig(ocr="none", render_pages=False, workers=2), media))
    in_order = [r.path if isinstance(r, FileFailure) else r.document.path for r in serial]
    assert in_order == [i.path for i in infos]

    def key(r: ParsedFile | FileFailure) -> tuple[str, list[str]]:
        if isinstance(r, FileFailure):
            return (r.path, [r.reason])
        return (r.document.path, [i.id for i in r.items])

    assert sorted(map(key, pooled)) == sorted(map(key, serial))


def test_crashing_worker_fails_only_its_file(tmp_path: Path, media: Path) -> None:
    paths = [report_pdf(tmp_path / f"ok{i}.pdf", pages=1) for i in range(3)]
    paths.append(report_pdf(tmp_path / "crash.pdf", pages=1))
    cfg = IngestConfig(ocr="none", render_pages=False, workers=2)
    results = list(_in_pool([info_of(p) for p in paths], cfg, media, crashy.attempt))
    failures = [r for r in results if isinstance(r, FileFailure)]
    parsed = [r for r in results if isinstance(r, ParsedFile)]
    assert [(Path(f.path).name, f.reason) for f in failures] == [("crash.pdf", "parser crashed")]
    # Why, not only that: the exit code, read once the pool is down.
    assert failures[0].detail == "the worker process parsing this file exited with code 139 (a crash in native code)"
    assert sorted(Path(p.document.path).name for p in parsed) == ["ok0.pdf", "ok1.pdf", "ok2.pdf"]


def test_slow_file_times_out_and_the_rest_go_on(tmp_path: Path, media: Path) -> None:
    paths = [report_pdf(tmp_path / f"ok{i}.pdf", pages=1) for i in range(4)]
    paths.insert(1, report_pdf(tmp_path / "slow.pdf", pages=1))
    cfg = IngestConfig(ocr="none", render_pages=False, workers=2, file_timeout_s=2)
    t0 = time.monotonic()
    results = list(_in_pool([info_of(p) for p in paths], cfg, media, crashy.attempt))
    assert time.monotonic() - t0 < 30  # the slow file sleeps 60 s: its worker was killed, not waited for
    failures = [r for r in results if isinstance(r, FileFailure)]
    parsed = [r for r in results if isinstance(r, ParsedFile)]
    assert [(f.path, f.reason) for f in failures] == [(str(paths[1].resolve()), "parsing timed out after 2 s")]
    assert sorted(Path(p.document.path).name for p in parsed) == ["ok0.pdf", "ok1.pdf", "ok2.pdf", "ok3.pdf"]
