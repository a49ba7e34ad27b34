"""The web page of ``mmrag serve``: ``/`` and its static files, and the page images citations point at.

The page (``rag/server/static/``: plain HTML, JavaScript and CSS shipped inside the package, no
CDN and no build step) talks to the same API as every client: ``/v1/chat/completions`` with
``stream: true`` to ask, ``/v1/ingest`` and ``/v1/jobs/{id}`` to ingest, and
``GET /v1/pages/image`` below to show a cited page with its region highlighted.

The page and its files carry no data and need no key; the page image does: it is served only for a
file that holds points of the caller's tenant, so a key never sees another tenant's pages.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from ingest.manifest import Manifest
from rag.records import SearchFilter
from rag.server.state import PrincipalDep, StateDep

STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
PIXELS_PER_POINT_HEADER = "X-Mmrag-Pixels-Per-Point"
"""Scale of a page render: bbox coordinates (PDF points) times this are pixels of the image."""

router = APIRouter()


def _static(name: str) -> bytes:
    """A file of ``rag/server/static`` by its plain name (no folders: nothing else is reachable)."""
    if "/" in name or "\\" in name or name.startswith(".") or Path(name).suffix not in STATIC_TYPES:
        raise HTTPException(404, f"no static file {name!r}")
    ref = resources.files("rag.server").joinpath("static", name)
    if not ref.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return ref.read_bytes()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> Response:
    """The web page: ask with streaming answers, see cited regions, ingest a folder."""
    return Response(_static("index.html"), media_type=STATIC_TYPES[".html"],
                    headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    """The page's script, style sheet and icons."""
    return Response(_static(name), media_type=STATIC_TYPES[Path(name).suffix],
                    headers={"Cache-Control": "no-cache"})


def page_render_path(media_dir: Path, index_dir: Path, file: str, page: int,
                     tenant: str | None) -> Path | None:
    """The stored render of ``page`` of ``tenant``'s copy of ``file`` (``<media>/<doc_id>/page-NNNN.png``;
    ``tenant=None``, an open server: any tenant's copy), None if absent."""
    with Manifest(index_dir / "manifest.sqlite") as manifest:
        tenants = [tenant] if tenant is not None else manifest.tenants(file)
        doc_ids = [d for d in (manifest.doc_id(file, t) for t in tenants) if d]
    for doc_id in doc_ids:
        path = media_dir / doc_id / f"page-{page:04d}.png"
        if path.is_file():
            return path
    return None


@router.get("/v1/pages/image", tags=["mmrag"], response_class=FileResponse,
            responses={200: {"content": {"image/png": {}}}})
async def page_image(st: StateDep, who: PrincipalDep, file: Annotated[str, Query(min_length=1, max_length=4096)],
                     page: Annotated[int, Query(ge=1, le=1_000_000)]) -> Response:
    """The rendered image of one page of an ingested file (as cited: ``file`` and ``page``), for the
    caller's tenant only. The ``X-Mmrag-Pixels-Per-Point`` header scales a citation's bbox (PDF
    points) to the image's pixels."""
    pipeline = st.pipeline
    settings = pipeline.settings
    # The same 404 for "not yours" and "not there": a key learns nothing about other tenants' files.
    missing = HTTPException(404, f"no page {page} of an ingested file {file!r}")
    held = await asyncio.to_thread(pipeline.store.count, SearchFilter(tenant=who.search_tenant, files=[file]))
    if not held:
        raise missing
    path = await asyncio.to_thread(page_render_path, settings.media_dir.resolve(), settings.index_dir, file, page,
                                   who.search_tenant)
    if path is None:
        raise missing
    return FileResponse(path, media_type="image/png", headers={
        PIXELS_PER_POINT_HEADER: f"{settings.ingest.page_dpi / 72:.6g}",
        "Cache-Control": "private, max-age=300",
        "Access-Control-Expose-Headers": PIXELS_PER_POINT_HEADER,
    })


__all__ = ["PIXELS_PER_POINT_HEADER", "page_render_path", "router"]
