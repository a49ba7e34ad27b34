"""The server's small parts on their own: keys, path checks, metrics text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.config import ServerConfig
from rag.server.auth import AuthError, KeyRing
from rag.server.metrics import Metrics
from rag.server.paths import PathMissing, PathRefused, check_ingest_path, resolve_roots


def test_keyring_binds_keys_to_tenants() -> None:
    ring = KeyRing(ServerConfig(api_keys={"k1": "acme", "k2": "globex"}))
    assert ring.enabled
    p = ring.authenticate("Bearer k2")
    assert (p.tenant, p.restricted, p.search_tenant) == ("globex", True, "globex")
    assert ring.authenticate("bearer   k1 ").tenant == "acme"
    for header in (None, "", "Bearer", "Token k1", "Bearer k3"):
        with pytest.raises(AuthError):
            ring.authenticate(header)


def test_open_mode_sees_all_and_ingests_as_default() -> None:
    p = KeyRing(ServerConfig()).authenticate(None)
    assert (p.tenant, p.search_tenant) == ("default", None)


def test_empty_tenant_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        KeyRing(ServerConfig(api_keys={"k": " "}))


def test_paths(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "doc.pdf").write_bytes(b"%PDF")
    (outside / "x.pdf").write_bytes(b"%PDF")
    roots = resolve_roots([str(root)], "acme")
    assert check_ingest_path("a", roots) == (root / "a").resolve()
    assert check_ingest_path(str(root / "a" / "doc.pdf"), roots) == (root / "a" / "doc.pdf").resolve()
    os.symlink(root / "a" / "doc.pdf", root / "inner-link.pdf")  # a link that stays inside is fine
    assert check_ingest_path("inner-link.pdf", roots) == (root / "a" / "doc.pdf").resolve()
    for bad in (str(outside), "a/../../outside", str(root / "a" / ".." / "a"), "\x00", ""):
        with pytest.raises(PathRefused):
            check_ingest_path(bad, roots)
    os.symlink(outside / "x.pdf", root / "a" / "b" / "x.pdf")
    with pytest.raises(PathRefused, match=r"b/x\.pdf is a symlink leading outside"):
        check_ingest_path("a", roots)
    with pytest.raises(PathMissing):
        check_ingest_path("missing", roots)
    with pytest.raises(PathRefused, match="ingest_roots is empty"):
        check_ingest_path(str(root), [])


def test_tenant_placeholder_gives_each_tenant_its_folder(tmp_path: Path) -> None:
    for tenant in ("acme", "globex"):
        (tmp_path / tenant).mkdir()
    template = [str(tmp_path / "{tenant}")]
    assert resolve_roots(template, "acme") == [(tmp_path / "acme").resolve()]
    acme = resolve_roots(template, "acme")
    assert check_ingest_path(".", acme) == (tmp_path / "acme").resolve()
    with pytest.raises(PathRefused, match="outside the ingest roots"):
        check_ingest_path(str(tmp_path / "globex"), acme)


def test_metrics_text_format() -> None:
    m = Metrics()
    m.request_started()
    m.request_finished("POST", "/v1/search", 200, 0.03)
    m.observe_stage("retrieve", 0.2)
    m.count_job("done")
    m.gauge("mmrag_ingest_jobs", "Jobs.", lambda: {"queued": 2.0}, "status")
    text = m.render()
    assert 'mmrag_http_requests_total{method="POST",route="/v1/search",status="200"} 1' in text
    assert 'mmrag_http_request_duration_seconds_bucket{route="/v1/search",le="0.025"} 0' in text
    assert 'mmrag_http_request_duration_seconds_bucket{route="/v1/search",le="0.05"} 1' in text
    assert 'mmrag_stage_duration_seconds_sum{stage="retrieve"} 0.2' in text
    assert 'mmrag_ingest_jobs_total{status="done"} 1' in text
    assert 'mmrag_ingest_jobs{status="queued"} 2' in text
    assert "mmrag_http_requests_in_flight 0" in text
    assert text.endswith("\n")


def test_metrics_without_tenant_data() -> None:
    m = Metrics()
    m.request_finished("GET", "/health", 200, 0.01)
    m.observe_stage("retrieve", 0.2)
    m.observe_stage("ingest.parse", 3.0)
    m.count_job("done")
    m.gauge("mmrag_ingest_jobs", "Jobs.", lambda: {"queued": 2.0}, "status", per_tenant=True)
    m.gauge("mmrag_cache_entries", "Cache.", lambda: {"embed": 5.0}, "cache")
    public = m.render(tenant_data=False)
    assert 'stage="retrieve"' in public and 'mmrag_cache_entries{cache="embed"} 5' in public
    assert "mmrag_ingest_jobs" not in public and "ingest." not in public  # no job counts or ingest timings
    full = m.render()
    assert 'stage="ingest.parse"' in full and "mmrag_ingest_jobs{" in full and "mmrag_ingest_jobs_total" in full


def test_viewer_of_health_and_metrics() -> None:
    ring = KeyRing(ServerConfig(api_keys={"k1": "acme"}, metrics_key="mk"))
    assert ring.metrics_protected
    assert ring.viewer("Bearer mk").operator and ring.viewer("Bearer mk").all_tenants
    assert ring.viewer(None) == ring.viewer("") and not ring.viewer(None).all_tenants
    assert ring.viewer(None).tenant is None
    acme = ring.viewer("Bearer k1")
    assert (acme.operator, acme.all_tenants, acme.tenant) == (False, False, "acme")
    with pytest.raises(AuthError):
        ring.viewer("Bearer nope")
    open_ring = KeyRing(ServerConfig())
    assert not open_ring.metrics_protected and open_ring.viewer(None).all_tenants
    with pytest.raises(ValueError, match="differ"):
        KeyRing(ServerConfig(api_keys={"k1": "acme"}, metrics_key="k1"))
