"""The Python API: documents belong to (tenant, path), ``Pipeline.delete`` removes one tenant's,
old manifests migrate, a file that yields nothing gets a notice, and ``mmrag ingest`` says in its
exit status that files failed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pymupdf
import pytest

from rag.cli import EXIT_FILES_FAILED, build_parser, main
from rag.ingest_run import NO_POINTS, NO_TEXT
from rag.pipeline import Pipeline
from rag.records import FileNotice, SearchFilter
from tests.pdfs import write_corrupt, write_report


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    index = tmp_path_factory.mktemp("index")
    with Pipeline.from_config("cpu", {"store.path": str(index), "ingest.ocr": "none"}, environ={}) as p:
        yield p


def _files(pipe: Pipeline, tenant: str, query: str) -> set[str]:
    return {e.file for e in pipe.search(query, k=20, flt=SearchFilter(tenant=tenant))}


def test_two_tenants_own_two_documents_and_delete_their_own(pipe: Pipeline, tmp_path: Path) -> None:
    doc = write_report(tmp_path / "docs" / "hr.pdf", {1: "Headcount grew to 812 employees."}, "HR")
    assert pipe.ingest([tmp_path / "docs"], tenant="alpha", progress=False).files_ingested == 1
    beta = pipe.ingest([tmp_path / "docs"], tenant="beta", progress=False)
    assert (beta.files_ingested, beta.files_unchanged) == (1, 0)
    for tenant in ("alpha", "beta"):
        assert str(doc) in _files(pipe, tenant, "How many employees?"), tenant
    assert pipe.ingest([tmp_path / "docs"], tenant="beta", progress=False).files_unchanged == 1

    result = pipe.delete([doc], tenant="beta")
    assert result.deleted[str(doc)] >= 1 and result.not_found == []
    assert str(doc) not in _files(pipe, "beta", "How many employees?")
    assert str(doc) in _files(pipe, "alpha", "How many employees?")
    assert pipe.delete([doc], tenant="beta").not_found == [str(doc)]
    # a folder's deleted file is removed for the ingesting tenant only
    doc.unlink()
    assert pipe.ingest([tmp_path / "docs"], tenant="beta", progress=False).files_deleted == 0
    assert pipe.ingest([tmp_path / "docs"], tenant="alpha", progress=False).files_deleted == 1
    assert pipe.store.count(SearchFilter(files=[str(doc)])) == 0


def test_old_manifest_migrates_to_the_tenant_of_its_points(pipe: Pipeline, tmp_path: Path) -> None:
    doc = write_report(tmp_path / "old" / "ops.pdf")
    assert pipe.ingest([doc], tenant="gamma", progress=False).files_ingested == 1
    # rewrite the manifest as the path-keyed schema (1) stored it
    with closing(sqlite3.connect(pipe.ingestor.manifest_path)) as conn, conn:
        conn.execute("CREATE TABLE old (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL, "
                     "sha256 TEXT NOT NULL, doc_id TEXT NOT NULL, item_ids TEXT NOT NULL, "
                     "ingested_at TEXT NOT NULL)")
        conn.execute("INSERT INTO old SELECT path, size, mtime, sha256, doc_id, item_ids, ingested_at FROM files")
        conn.execute("DROP TABLE files")
        conn.execute("ALTER TABLE old RENAME TO files")
        conn.execute("PRAGMA user_version=0")
    with pipe.ingestor.open_manifest() as manifest:  # migrated on open
        assert manifest.tenants(str(doc)) == ["gamma"], "the row went to the points' tenant"
        assert manifest.embeddings() == {"text": 1}  # rows older than the page-vector rule: `text`
    report = pipe.ingest([doc], tenant="gamma", progress=False)
    # the `cpu` profile's page vectors are `window`: the file is embedded again, in gamma's row
    assert (report.files_unchanged, report.files_ingested) == (0, 1)
    with closing(sqlite3.connect(pipe.ingestor.manifest_path)) as conn:
        assert conn.execute("SELECT tenant FROM files WHERE path = ?", (str(doc),)).fetchall() == [("gamma",)]


def test_a_file_that_yields_no_points_gets_a_notice(pipe: Pipeline, tmp_path: Path) -> None:
    blank = _blank_pdf(tmp_path / "blank.pdf")
    report = pipe.ingest([blank], progress=False)
    assert report.files_failed == []
    assert report.notices == [FileNotice(path=str(blank), notice=NO_POINTS)]


def _blank_pdf(path: Path, pages: int = 2) -> Path:
    pdf = pymupdf.open()
    for _ in range(pages):
        pdf.new_page()
    pdf.save(str(path))
    pdf.close()
    return path.resolve()


def test_a_file_with_only_images_gets_a_notice(tiny_llava_dir: Path, tmp_path: Path) -> None:
    """With an image space (E5-V) a blank PDF's page renders are points, but no text is anywhere."""
    over = {"store.path": str(tmp_path / "ix"), "embed.model": str(tiny_llava_dir)}
    with Pipeline.from_config("test", over, environ={}) as p:
        blank = _blank_pdf(tmp_path / "blank.pdf")
        report = p.ingest([blank, write_report(tmp_path / "ops.pdf")], progress=False)
    assert report.files_ingested == 2 and report.items["page"] >= 2
    assert report.notices == [FileNotice(path=str(blank), notice=NO_TEXT)]


def test_ingest_exits_3_when_a_file_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_report(tmp_path / "docs" / "good.pdf")
    write_corrupt(tmp_path / "docs" / "broken.pdf")
    code = main(["ingest", str(tmp_path / "docs"), "--config", "cpu", "--index", str(tmp_path / "ix"),
                 "--set", "ingest.ocr=none", "--json"])
    assert code == EXIT_FILES_FAILED == 3
    report = json.loads(capsys.readouterr().out)
    assert report["files_ingested"] == 1 and [Path(f["path"]).name for f in report["files_failed"]] == ["broken.pdf"]
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    help_text = " ".join(sub.choices["ingest"].format_help().split())  # type: ignore[attr-defined]
    assert "exit status:" in help_text and "3 finished, but some files failed" in help_text
