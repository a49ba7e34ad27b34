"""``kill -9`` in the middle of ``mmrag ingest``, then the same command again: the index must end up
exactly as one clean ingest of the same folder leaves it.

The pipeline deletes a file's old points, upserts the new ones and only then records the file in the
manifest (one SQLite transaction), so a crash leaves at worst points of a file the manifest does not
know; the rerun must replace them, not duplicate them. Real subprocesses, the real CPU profile
(MiniLM, Qdrant Edge on disk); only OCR is off, to keep the run short.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rag.config import load_settings
from rag.store.base import open_store
from rag.store.edge import EdgeStore
from tests.manifest_rows import recorded_files
from tests.pdfs import write_report

REPO_ROOT = Path(__file__).resolve().parents[1]
N_FILES = 8
PAGE_COUNTS = (6, 24, 96)
"""Pages per file, tried in turn while a run finishes before it could be killed mid-folder."""
TIMEOUT_S = 600.0
POLL_S = 0.01


def _write_folder(root: Path, pages: int) -> list[Path]:
    """``N_FILES`` PDFs of ``pages`` pages, each page with its own fact."""
    return [write_report(root / f"depot_{i:02d}.pdf",
                         {p: f"Depot {i} shipped {1000 * i + p} pumps in week {p}. Audit code D{i}-W{p}-{7 * i + p}."
                          for p in range(1, pages + 1)},
                         title=f"Depot {i} weekly report")
            for i in range(N_FILES)]


def _command(folder: Path, index: Path) -> list[str]:
    return [sys.executable, "-m", "rag.cli", "ingest", str(folder), "--config", "cpu", "--index", str(index),
            "--set", "ingest.ocr=none", "--set", "ingest.workers=1", "--json"]


def _env() -> dict[str, str]:
    """This environment without ``MMRAG__`` overrides, offline (no weight downloads)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMRAG__")}
    return {**env, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}


def _kill_mid_ingest(folder: Path, index: Path, log: Path) -> int | None:
    """Start the ingest, SIGKILL it once 2 <= recorded files < N_FILES; the files recorded at the kill,
    or None when the run finished (or recorded every file) before it could be killed."""
    with log.open("wb") as err:
        proc = subprocess.Popen(_command(folder, index), cwd=REPO_ROOT, env=_env(), stdout=subprocess.DEVNULL,
                                stderr=err)
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while proc.poll() is None:
                if 2 <= recorded_files(index) < N_FILES:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"ingest recorded {recorded_files(index)} file(s) in {TIMEOUT_S:.0f}s; "
                                f"stderr: {log.read_text()[-2000:]}")
                time.sleep(POLL_S)
        finally:
            if proc.poll() is None:  # killed above and not yet reaped, or a failure: never leave it running
                proc.kill()
            proc.wait(timeout=60)
    if proc.returncode != -signal.SIGKILL:
        assert proc.returncode == 0, log.read_text()[-2000:]
        return None
    recorded = recorded_files(index)
    return recorded if recorded < N_FILES else None


def _ingest(folder: Path, index: Path) -> dict[str, Any]:
    """Run the ingest to completion; its JSON report."""
    done = subprocess.run(_command(folder, index), cwd=REPO_ROOT, env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _state(index: Path, files: list[str]) -> dict[str, Any]:
    """What the index holds: points, ids per file (through the Store), manifest rows and media files."""
    settings = load_settings("cpu", {"store.path": str(index)}, environ={})
    store = open_store(settings.store)
    try:
        stats = store.stats()
        ids = {f: store.file_ids(f) for f in files}
    finally:
        store.close()
    with closing(sqlite3.connect(f"file:{index / 'manifest.sqlite'}?mode=ro", uri=True)) as conn:
        manifest = {p: json.loads(ids_json) for p, ids_json in conn.execute("SELECT path, item_ids FROM files")}
    media = settings.media_dir
    return {"points": stats.points, "files": stats.files, "ids": ids, "manifest": manifest,
            "png": sorted(str(p.relative_to(media)) for p in media.rglob("*.png")),
            "tmp": sorted(str(p.relative_to(media)) for p in media.rglob("*.tmp"))}


def _assert_whole_pngs(media: Path) -> None:
    """Every image under its final name is a complete PNG (writes go through a temp file and a rename)."""
    for png in media.rglob("*.png"):
        with Image.open(png) as img:
            img.verify()


@pytest.mark.slow
def test_kill_9_mid_ingest_then_rerun_equals_a_clean_ingest(tmp_path: Path) -> None:
    killed_at = None
    for pages in PAGE_COUNTS:
        folder, index = tmp_path / f"docs-{pages}", tmp_path / f"ix-killed-{pages}"
        files = [str(p.resolve()) for p in _write_folder(folder, pages)]
        killed_at = _kill_mid_ingest(folder, index, tmp_path / f"killed-{pages}.log")
        if killed_at is not None:
            break
    if killed_at is None:
        pytest.fail(f"every ingest finished before it could be killed, up to {PAGE_COUNTS[-1]} pages per file")
    assert 2 <= killed_at < N_FILES
    _assert_whole_pngs(index / "media")

    rerun = _ingest(folder, index)
    clean_index = tmp_path / "ix-clean"
    clean = _ingest(folder, clean_index)

    assert rerun["files_failed"] == [] and clean["files_failed"] == []
    assert rerun["files_seen"] == N_FILES
    assert rerun["files_ingested"] + rerun["files_unchanged"] == N_FILES
    assert rerun["files_unchanged"] == killed_at  # exactly the files committed before the kill
    assert rerun["files_deleted"] == 0
    assert clean["files_ingested"] == N_FILES

    got, want = _state(index, files), _state(clean_index, files)
    assert got["points"] == want["points"] > 0
    assert got["files"] == want["files"] == N_FILES
    all_ids = [i for ids in got["ids"].values() for i in ids]
    assert len(all_ids) == len(set(all_ids)) == got["points"], "duplicate or unattributed points"
    assert {f: sorted(ids) for f, ids in got["ids"].items()} == {f: sorted(ids) for f, ids in want["ids"].items()}
    assert sorted(got["manifest"]) == sorted(files)
    for f in files:  # the manifest's ids are exactly the store's
        assert sorted(got["manifest"][f]) == sorted(got["ids"][f]), f
    assert got["png"] == want["png"]
    _assert_whole_pngs(index / "media")
    assert got["tmp"] == [], f"half-written images left under {index / 'media'}: {got['tmp']}"


def test_interrupted_optimize_leftovers_are_removed_when_the_index_opens(tmp_path: Path) -> None:
    # A killed `mmrag optimize` leaves Edge's half-built segment (~90 MB) under temp_segments/.
    store = EdgeStore(tmp_path / "ix")
    store.ensure("embedder-x", 4)
    store.close()
    leftovers = [store.shard_dir / "temp_segments" / "segment_builder_Qx81vZ",
                 store.shard_dir / "temp_segments" / "segment_builder_0aB3kd"]
    for leftover in leftovers:
        (leftover / "vector_storage").mkdir(parents=True)
        (leftover / "vector_storage" / "vectors.dat").write_bytes(bytes(4096))
    unrelated = store.shard_dir / "temp_segments" / "notes.txt"  # only the builder's leftovers go
    unrelated.write_text("kept")
    again = EdgeStore(tmp_path / "ix")
    try:
        assert [p for p in leftovers if p.exists()] == []
        assert unrelated.exists()
        assert again.stats().points == 0  # and the index opens as usual
    finally:
        again.close()
