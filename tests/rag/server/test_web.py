"""The web page's routes: ``/`` and its static files (no key needed, nothing else reachable), and
``GET /v1/pages/image`` (behind the key, the caller's tenant only, with the bbox scale)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from PIL import Image

from rag.pipeline import Pipeline
from rag.server.routes.web import PIXELS_PER_POINT_HEADER
from tests.rag.server.conftest import ACME_KEY, GLOBEX_KEY, KEYS, LiveServer


@pytest.fixture(scope="module")
def srv(serve: Callable[..., AbstractContextManager[LiveServer]], roots: Path) -> Iterator[LiveServer]:
    with serve(api_keys=KEYS, ingest_roots=[str(roots / "{tenant}")]) as s:
        yield s


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_page_and_static_files_are_served_from_the_package(srv: LiveServer) -> None:
    page = httpx.get(f"{srv.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == ["/static/app.js", "/static/style.css"]  # no CDN: every asset comes from here
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        r = httpx.get(f"{srv.url}/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind) and len(r.content) > 500
    for bad in ("../web.py", "..%2Fweb.py", "web.py", ".hidden.js", "missing.js"):
        r = httpx.get(f"{srv.url}/static/{bad}")
        assert r.status_code == 404, bad
        assert "error" in r.json()


def _cited_page(srv: LiveServer, key: str) -> tuple[str, int]:
    r = httpx.post(f"{srv.url}/v1/search", headers=_auth(key), json={"query": "revenue in Europe 2025", "k": 3},
                   timeout=60)
    ev = r.json()["evidence"][0]
    return ev["file"], ev["page"]


def test_page_image_for_the_callers_tenant_only(srv: LiveServer, pipeline: Pipeline) -> None:
    file, page = _cited_page(srv, ACME_KEY)
    url = f"{srv.url}/v1/pages/image"
    assert httpx.get(url, params={"file": file, "page": page}).status_code == 401
    r = httpx.get(url, params={"file": file, "page": page}, headers=_auth(ACME_KEY))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    scale = float(r.headers[PIXELS_PER_POINT_HEADER])
    assert scale == pytest.approx(pipeline.settings.ingest.page_dpi / 72, rel=1e-5)
    width, _ = Image.open(io.BytesIO(r.content)).size
    assert width == pytest.approx(612 * scale, abs=2)  # the sample report is US Letter, 612 points wide
    # another tenant's key gets the same 404 as a file that is not there
    other = httpx.get(url, params={"file": file, "page": page}, headers=_auth(GLOBEX_KEY))
    nowhere = httpx.get(url, params={"file": "/etc/passwd", "page": 1}, headers=_auth(ACME_KEY))
    assert other.status_code == nowhere.status_code == 404
    assert other.json()["error"]["message"] == f"no page {page} of an ingested file {file!r}"
    assert httpx.get(url, params={"file": file, "page": 999}, headers=_auth(ACME_KEY)).status_code == 404
    assert httpx.get(url, params={"file": file, "page": 0}, headers=_auth(ACME_KEY)).status_code == 422
