"""Nothing crosses a tenant over HTTP: a symlink chain cannot lead a tenant's ingest into another
tenant's folder, documents belong to (tenant, path), and /health and /metrics show tenants' data
only to the keys allowed to see it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.pipeline import Pipeline
from tests.rag.server.conftest import ACME_KEY, KEYS, LiveServer
from tests.rag.server.test_tenants import _auth, _wait_job, _write_pdf

ALPHA_KEY = "key-alpha-0123456789"
BETA_KEY = "key-beta-0123456789"
AB_KEYS = {ALPHA_KEY: "alpha", BETA_KEY: "beta"}
METRICS_KEY = "key-metrics-0123456789"

ALPHA_SECRET = "Operation Quokka: the merger with Wombat Holdings closes on the ninth of March."
SHARED_V1 = "The Nimbus handbook says the cafeteria opens at seven thirty."
SHARED_V2 = "The Nimbus handbook now says the cafeteria opens at nine fifteen."

Serve = Callable[..., AbstractContextManager[LiveServer]]


def _ingest(srv: LiveServer, key: str, paths: list[str]) -> dict[str, Any]:
    resp = httpx.post(f"{srv.url}/v1/ingest", json={"paths": paths}, headers=_auth(key))
    assert resp.status_code == 202, resp.text
    job = _wait_job(srv.url, resp.json()["id"], key)
    assert job["status"] == "done", job
    return job


def _texts(srv: LiveServer, key: str, query: str) -> tuple[set[str], str]:
    """(files, all evidence text) of a search."""
    resp = httpx.post(f"{srv.url}/v1/search", json={"query": query, "k": 50}, headers=_auth(key), timeout=60)
    assert resp.status_code == 200, resp.text
    evidence = resp.json()["evidence"]
    return {e["file"] for e in evidence}, " ".join(e["text"] for e in evidence)


def _chat(srv: LiveServer, key: str, question: str) -> str:
    body = {"model": "mmrag", "messages": [{"role": "user", "content": question}]}
    resp = httpx.post(f"{srv.url}/v1/chat/completions", json=body, headers=_auth(key), timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.text


# ------------------------------------------------------------------------------------- item 1
@pytest.fixture(scope="module")
def per_tenant(serve: Serve, roots: Path) -> Iterator[tuple[LiveServer, Path]]:
    """A server whose tenants alpha and beta each ingest only from ``<base>/<tenant>``."""
    base = roots / "t13"
    with serve(api_keys=AB_KEYS, ingest_roots=[str(base / "{tenant}")]) as srv:
        yield srv, base


def test_a_symlink_chain_cannot_lead_into_another_tenants_folder(per_tenant: tuple[LiveServer, Path]) -> None:
    srv, base = per_tenant
    secret = _write_pdf(base / "alpha" / "board" / "quokka.pdf", ALPHA_SECRET)
    mine = _write_pdf(base / "beta" / "sub" / "notes.pdf", "Beta's notes on the garden party.")
    (base / "beta" / "other").mkdir()
    os.symlink("../other", base / "beta" / "sub" / "link")  # inside beta's root
    os.symlink(base / "alpha", base / "beta" / "other" / "evil")  # leads into alpha's root
    job = _ingest(srv, BETA_KEY, ["sub"])
    report = job["report"]
    assert report["files_ingested"] == 1 and report["files_seen"] == 1
    assert str(secret) not in str(report)
    skipped = {Path(s["path"]).name: s["reason"] for s in report["files_skipped"]}
    assert skipped["link"].startswith("symlink leads outside")
    files, text = _texts(srv, BETA_KEY, "Operation Quokka merger Wombat Holdings")
    assert str(mine) in files and str(secret) not in files
    assert "Quokka" not in text
    assert "Quokka" not in _chat(srv, BETA_KEY, "When does the merger with Wombat Holdings close?")
    # alpha's own ingest finds it, and beta still does not
    assert _ingest(srv, ALPHA_KEY, ["."])["report"]["files_ingested"] == 1
    assert str(secret) in _texts(srv, ALPHA_KEY, "Operation Quokka merger")[0]
    files, text = _texts(srv, BETA_KEY, "Operation Quokka merger Wombat Holdings")
    assert str(secret) not in files and "Quokka" not in text
    # from beta's whole root, other/evil is a direct link out: refused before a job is queued
    resp = httpx.post(f"{srv.url}/v1/ingest", json={"paths": ["."]}, headers=_auth(BETA_KEY))
    assert resp.status_code == 403 and "other/evil" in resp.json()["error"]["message"], resp.text


# ------------------------------------------------------------------------------------- item 2
@pytest.fixture(scope="module")
def shared(serve: Serve, roots: Path) -> Iterator[tuple[LiveServer, Path]]:
    """A server whose tenants alpha and beta both ingest from one shared folder."""
    folder = roots / "t13-shared"
    folder.mkdir()
    with serve(api_keys=AB_KEYS, ingest_roots=[str(folder)]) as srv:
        yield srv, folder


def test_documents_belong_to_tenant_and_path(shared: tuple[LiveServer, Path], pipeline: Pipeline) -> None:
    srv, folder = shared
    path = _write_pdf(folder / "handbook.pdf", SHARED_V1)
    assert _ingest(srv, ALPHA_KEY, [str(path)])["report"]["files_ingested"] == 1
    beta = _ingest(srv, BETA_KEY, [str(path)])["report"]
    assert (beta["files_ingested"], beta["files_unchanged"]) == (1, 0), "beta's copy is a document of its own"
    for key in (ALPHA_KEY, BETA_KEY):
        files, text = _texts(srv, key, "When does the Nimbus cafeteria open?")
        assert str(path) in files and "seven thirty" in text, key

    # the file changes; beta re-ingests: beta gets the new text, alpha keeps its document
    _write_pdf(path, SHARED_V2)
    assert _ingest(srv, BETA_KEY, [str(path)])["report"]["files_ingested"] == 1
    files, text = _texts(srv, BETA_KEY, "When does the Nimbus cafeteria open?")
    assert str(path) in files and "nine fifteen" in text and "seven thirty" not in text
    files, text = _texts(srv, ALPHA_KEY, "When does the Nimbus cafeteria open?")
    assert str(path) in files and "seven thirty" in text and "nine fifteen" not in text
    assert _ingest(srv, ALPHA_KEY, [str(path)])["report"]["files_ingested"] == 1, "alpha's copy is changed too"

    # beta deletes: alpha's copy, and the page renders both share, stay
    media = pipeline.settings.media_dir
    before = {d.name for d in media.iterdir()}
    resp = httpx.request("DELETE", f"{srv.url}/v1/documents", json={"paths": [str(path)]}, headers=_auth(BETA_KEY))
    assert resp.status_code == 200 and resp.json()["deleted"][str(path)] >= 1, resp.text
    assert str(path) not in _texts(srv, BETA_KEY, "Nimbus cafeteria")[0]
    files, text = _texts(srv, ALPHA_KEY, "When does the Nimbus cafeteria open?")
    assert str(path) in files and "nine fifteen" in text
    assert {d.name for d in media.iterdir()} == before
    again = httpx.request("DELETE", f"{srv.url}/v1/documents", json={"paths": [str(path)]}, headers=_auth(BETA_KEY))
    assert again.status_code == 404
    # beta's re-ingest adds its copy back without touching alpha's
    assert _ingest(srv, BETA_KEY, [str(path)])["report"]["files_ingested"] == 1
    assert "nine fifteen" in _texts(srv, ALPHA_KEY, "Nimbus cafeteria")[1]


# ------------------------------------------------------------------------------------ item 10
def test_metrics_need_the_metrics_key_when_one_is_set(serve: Serve, sample_dir: Path) -> None:
    with serve(api_keys=KEYS, metrics_key=METRICS_KEY) as srv:
        for headers in ({}, _auth(ACME_KEY), _auth("wrong")):
            resp = httpx.get(f"{srv.url}/metrics", headers=headers)
            assert resp.status_code == 401, (headers, resp.text)
            assert resp.json()["error"]["type"] == "authentication_error"
        text = httpx.get(f"{srv.url}/metrics", headers=_auth(METRICS_KEY)).text
        assert "mmrag_ingest_jobs{" in text and "mmrag_ingest_jobs_total" in text
        assert httpx.get(f"{srv.url}/health").json()["jobs"] is None
        assert httpx.get(f"{srv.url}/health", headers=_auth(METRICS_KEY)).json()["jobs"] is not None


def test_keyless_callers_get_no_tenant_data(serve: Serve, sample_dir: Path) -> None:
    with serve(api_keys=KEYS, ingest_roots=[str(sample_dir.parent)]) as srv:
        resp = httpx.post(f"{srv.url}/v1/ingest", json={"paths": ["acme"]}, headers=_auth(ACME_KEY))
        assert resp.status_code == 202
        _wait_job(srv.url, resp.json()["id"], ACME_KEY)
        text = httpx.get(f"{srv.url}/metrics").text
        assert "mmrag_http_requests_total" in text
        assert "mmrag_ingest_jobs" not in text and 'stage="ingest.' not in text
        health = httpx.get(f"{srv.url}/health").json()
        assert health["status"] == "ok" and health["jobs"] is None
        assert httpx.get(f"{srv.url}/health", headers=_auth(ACME_KEY)).json()["jobs"]["done"] == 1
        assert httpx.get(f"{srv.url}/health", headers=_auth("key-globex-0123456789")).json()["jobs"]["done"] == 0
        assert httpx.get(f"{srv.url}/health", headers=_auth("wrong")).status_code == 401
    with serve() as srv:  # an open server: everyone sees everything, as with search
        assert "mmrag_ingest_jobs{" in httpx.get(f"{srv.url}/metrics").text
        assert httpx.get(f"{srv.url}/health").json()["jobs"] is not None
