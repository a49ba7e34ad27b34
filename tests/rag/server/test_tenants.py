"""Keys are bound to tenants: ingest is tagged, search/ask/jobs/deletes see only the key's tenant;
ingest paths stay inside ``server.ingest_roots``."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pymupdf
import pytest

from ingest.samples import write_sample_folder
from rag.embed.batching import QueryBatcher
from rag.pipeline import Pipeline
from tests.rag.server.conftest import ACME_KEY, GLOBEX_KEY, KEYS, LiveServer

SECRET = "Project Zorblax has a confidential budget of 42 million credits for quantum turnips."


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _write_pdf(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 400), text, fontsize=12)
    doc.save(str(path))
    doc.close()
    return path.resolve()


def _wait_job(url: str, job_id: str, key: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", headers=_auth(key)).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


@pytest.fixture(scope="module")
def server(serve: Callable[..., AbstractContextManager[LiveServer]], roots: Path) -> Iterator[LiveServer]:
    with serve(api_keys=KEYS, ingest_roots=[str(roots)]) as srv:
        yield srv


@pytest.fixture(scope="module")
def globex_file(server: LiveServer, roots: Path) -> Path:
    """Globex's confidential document, ingested over HTTP with Globex's key."""
    path = _write_pdf(roots / "globex" / "zorblax.pdf", SECRET)
    resp = httpx.post(f"{server.url}/v1/ingest", json={"paths": ["globex"], "tags": ["secret"]},
                      headers=_auth(GLOBEX_KEY))
    assert resp.status_code == 202, resp.text
    assert resp.headers["location"] == f"/v1/jobs/{resp.json()['id']}"
    job = _wait_job(server.url, resp.json()["id"], GLOBEX_KEY)
    assert job["status"] == "done", job
    assert job["report"]["files_ingested"] == 1
    assert (job["files_done"], job["files_total"]) == (1, 1)
    assert job["tenant"] == "globex"
    return path


def _search(server: LiveServer, key: str | None, query: str) -> list[dict[str, Any]]:
    resp = httpx.post(f"{server.url}/v1/search", json={"query": query, "k": 20}, headers=_auth(key),
                      timeout=60)
    assert resp.status_code == 200, resp.text
    evidence: list[dict[str, Any]] = resp.json()["evidence"]
    return evidence


def _ask(server: LiveServer, key: str, question: str) -> dict[str, Any]:
    body = {"model": "mmrag", "messages": [{"role": "user", "content": question}]}
    resp = httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=_auth(key), timeout=60)
    assert resp.status_code == 200, resp.text
    extra: dict[str, Any] = resp.json()["mmrag"]
    return extra


def test_each_tenant_sees_only_its_own_evidence(server: LiveServer, globex_file: Path,
                                                sample_dir: Path) -> None:
    globex = _search(server, GLOBEX_KEY, "Zorblax confidential budget")
    assert str(globex_file) in {e["file"] for e in globex}
    assert all(Path(e["file"]).is_relative_to(globex_file.parent) for e in globex)
    acme = _search(server, ACME_KEY, "Zorblax confidential budget")
    assert acme, "acme has documents of its own"
    assert all(Path(e["file"]).parent == sample_dir for e in acme)


def test_concurrent_searches_of_two_tenants_share_embed_calls_but_not_evidence(
        server: LiveServer, pipeline: Pipeline, globex_file: Path, sample_dir: Path) -> None:
    batcher = getattr(pipeline.embedder, "inner", None)
    assert isinstance(batcher, QueryBatcher), "the cpu profile batches query embeddings"
    calls_before = batcher.inner_calls
    keys = [ACME_KEY, GLOBEX_KEY] * 4
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        found = list(pool.map(lambda ik: _search(server, ik[1], f"Zorblax budget {ik[0]} {uuid.uuid4()}"),
                              enumerate(keys)))
    assert 0 < batcher.inner_calls - calls_before <= len(keys)
    for key, evidence in zip(keys, found, strict=True):
        home = sample_dir if key == ACME_KEY else globex_file.parent
        assert evidence and all(Path(e["file"]).is_relative_to(home) for e in evidence), (key, evidence)


def test_chat_never_cites_another_tenants_document(server: LiveServer, globex_file: Path) -> None:
    acme = _ask(server, ACME_KEY, "What is the budget of Project Zorblax?")
    assert str(globex_file) not in {e["file"] for e in acme["evidence"]}
    assert "Zorblax" not in str(acme)
    globex = _ask(server, GLOBEX_KEY, "What is the budget of Project Zorblax?")
    assert all(Path(e["file"]).is_relative_to(globex_file.parent) for e in globex["evidence"])
    assert any(c["file"] == str(globex_file) for c in globex["citations"])


def test_streaming_chat_is_filtered_too(server: LiveServer, globex_file: Path) -> None:
    body = {"model": "mmrag", "stream": True,
            "messages": [{"role": "user", "content": "What is the budget of Project Zorblax?"}]}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, headers=_auth(ACME_KEY),
                      timeout=60) as resp:
        raw = "".join(resp.iter_text())
    assert "Zorblax" not in raw and str(globex_file) not in raw


def test_job_shows_files_done_of_files_total(server: LiveServer, roots: Path) -> None:
    for i in range(3):
        _write_pdf(roots / "globex" / "progress" / f"memo-{i}.pdf", f"Memo {i} about quarterly turnip yields.")
    resp = httpx.post(f"{server.url}/v1/ingest", json={"paths": ["globex/progress"]}, headers=_auth(GLOBEX_KEY))
    assert resp.status_code == 202, resp.text
    job = _wait_job(server.url, resp.json()["id"], GLOBEX_KEY)
    assert job["status"] == "done", job
    assert job["files_done"] == job["files_total"] == job["report"]["files_ingested"] == 3


def test_jobs_are_private_to_their_tenant(server: LiveServer, roots: Path) -> None:
    resp = httpx.post(f"{server.url}/v1/ingest", json={"paths": [str(roots / "acme")]},
                      headers=_auth(ACME_KEY))
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    assert httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=_auth(GLOBEX_KEY)).status_code == 404
    job = _wait_job(server.url, job_id, ACME_KEY)
    assert job["status"] == "done" and job["report"]["files_unchanged"] >= 2


def test_delete_is_limited_to_the_tenant(server: LiveServer, roots: Path, pipeline: Pipeline) -> None:
    memo = "Memo: the Quibbleton office closes in May."
    path = _write_pdf(roots / "globex" / "to-delete" / "memo.pdf", memo)
    resp = httpx.post(f"{server.url}/v1/ingest", json={"paths": [str(path)]}, headers=_auth(GLOBEX_KEY))
    assert _wait_job(server.url, resp.json()["id"], GLOBEX_KEY)["status"] == "done"
    assert any(e["file"] == str(path) for e in _search(server, GLOBEX_KEY, "Quibbleton office"))

    media = pipeline.settings.media_dir / hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert media.is_dir(), "ingest rendered the memo's page"
    other = httpx.request("DELETE", f"{server.url}/v1/documents", json={"paths": [str(path)]},
                          headers=_auth(ACME_KEY))
    assert other.status_code == 404, other.text
    mine = httpx.request("DELETE", f"{server.url}/v1/documents", json={"paths": [str(path)]},
                         headers=_auth(GLOBEX_KEY))
    assert mine.status_code == 200, mine.text
    assert mine.json()["deleted"][str(path)] >= 1
    assert not media.exists(), "the deleted file's page renders are gone"
    assert all(e["file"] != str(path) for e in _search(server, GLOBEX_KEY, "Quibbleton office"))

    again = httpx.post(f"{server.url}/v1/ingest", json={"paths": [str(path)]}, headers=_auth(GLOBEX_KEY))
    job = _wait_job(server.url, again.json()["id"], GLOBEX_KEY)
    assert job["report"]["files_ingested"] == 1, "a deleted file is forgotten, so it can come back"


@pytest.mark.parametrize("make_path", [
    lambda roots, tmp: "/etc",
    lambda roots, tmp: str(roots / "acme" / ".." / ".." / "outside"),
    lambda roots, tmp: "../outside",
    lambda roots, tmp: str(roots / "escape-link"),
    lambda roots, tmp: str(roots / "tree-with-link"),
], ids=["absolute-outside", "dotdot-absolute", "dotdot-relative", "symlink", "symlink-inside-folder"])
def test_paths_outside_roots_are_refused(server: LiveServer, roots: Path, tmp_path: Path,
                                         make_path: Callable[[Path, Path], str]) -> None:
    outside = tmp_path / "outside"
    _write_pdf(outside / "private.pdf", "Outside the roots.")
    if not (roots / "escape-link").is_symlink():
        os.symlink(outside, roots / "escape-link")
        (roots / "tree-with-link").mkdir()
        os.symlink(outside / "private.pdf", roots / "tree-with-link" / "private.pdf")
    resp = httpx.post(f"{server.url}/v1/ingest", json={"paths": [make_path(roots, tmp_path)]},
                      headers=_auth(ACME_KEY))
    assert resp.status_code == 403, resp.text
    error = resp.json()["error"]
    assert error["type"] == "permission_error" and error["param"] == "paths.0"
    assert "root" in error["message"] or ".." in error["message"]


def test_missing_path_is_404(server: LiveServer) -> None:
    resp = httpx.post(f"{server.url}/v1/ingest", json={"paths": ["no-such-folder"]}, headers=_auth(ACME_KEY))
    assert resp.status_code == 404
    assert "no such file" in resp.json()["error"]["message"]


def test_ingest_without_roots_is_refused(serve: Callable[..., AbstractContextManager[LiveServer]],
                                         sample_dir: Path) -> None:
    with serve() as srv:
        resp = httpx.post(f"{srv.url}/v1/ingest", json={"paths": [str(sample_dir)]})
    assert resp.status_code == 403
    assert "ingest_roots is empty" in resp.json()["error"]["message"]


def test_open_mode_sees_every_tenant(serve: Callable[..., AbstractContextManager[LiveServer]],
                                     globex_file: Path) -> None:
    with serve() as srv:
        found = _search(srv, None, "Zorblax confidential budget")
    assert str(globex_file) in {e["file"] for e in found}


def test_queries_are_answered_while_an_ingest_job_runs(server: LiveServer, roots: Path) -> None:
    write_sample_folder(roots / "initech" / "copy")  # new paths: a full ingest, several seconds
    resp = httpx.post(f"{server.url}/v1/ingest", json={"paths": ["initech"]}, headers=_auth(GLOBEX_KEY))
    job_id = resp.json()["id"]
    answered_while_running = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/v1/jobs/{job_id}", headers=_auth(GLOBEX_KEY)).json()["status"]
        if status in ("done", "failed"):
            break
        t = time.perf_counter()
        _search(server, ACME_KEY, "revenue by region")
        if status == "running" and time.perf_counter() - t < 5:
            answered_while_running += 1
    assert status == "done"
    assert answered_while_running >= 1, "search waited for the ingest job"


def test_tenant_placeholder_confines_ingest_to_the_tenants_folder(
        serve: Callable[..., AbstractContextManager[LiveServer]], roots: Path, globex_file: Path) -> None:
    with serve(api_keys=KEYS, ingest_roots=[str(roots / "{tenant}")]) as srv:
        theirs = httpx.post(f"{srv.url}/v1/ingest", json={"paths": [str(globex_file)]}, headers=_auth(ACME_KEY))
        mine = httpx.post(f"{srv.url}/v1/ingest", json={"paths": ["."]}, headers=_auth(ACME_KEY))
        assert theirs.status_code == 403, theirs.text
        assert mine.status_code == 202, mine.text
        assert _wait_job(srv.url, mine.json()["id"], ACME_KEY)["status"] == "done"
