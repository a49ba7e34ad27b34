"""``POST /v1/search``, ``POST /v1/ingest``, ``GET /v1/jobs/{id}`` and ``DELETE /v1/documents``:
everything on the caller's tenant only."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Response

from rag.server.errors import ApiError
from rag.server.paths import PathMissing, PathRefused, check_ingest_path, resolve_roots
from rag.server.protocol import DeleteRequest, DeleteResponse, IngestRequest, Job, SearchRequest, SearchResponse
from rag.server.state import PrincipalDep, StateDep, request_filter

router = APIRouter()


@router.post("/v1/search", response_model=SearchResponse, tags=["mmrag"])
async def search(req: SearchRequest, st: StateDep, who: PrincipalDep) -> SearchResponse:
    """Evidence for a query, best first, from the caller's tenant only."""
    t = time.perf_counter()
    evidence = await st.pipeline.asearch(req.query, req.k, request_filter(who, req))
    seconds = time.perf_counter() - t
    st.metrics.observe_stage("search", seconds)
    return SearchResponse(evidence=evidence, seconds=round(seconds, 4))


@router.post("/v1/ingest", response_model=Job, status_code=202, tags=["mmrag"])
async def ingest(req: IngestRequest, st: StateDep, who: PrincipalDep, response: Response) -> Job:
    """Queue an ingest of files or folders under ``server.ingest_roots`` (``{tenant}`` in a root is
    the caller's tenant), tagged with the caller's tenant. Poll ``GET /v1/jobs/{id}`` for its report."""
    roots = resolve_roots(st.root_templates, who.tenant)
    paths = []
    for i, raw in enumerate(req.paths):
        try:
            paths.append(await asyncio.to_thread(check_ingest_path, raw, roots))
        except PathRefused as exc:
            raise ApiError(403, str(exc), f"paths.{i}") from None
        except PathMissing as exc:
            raise ApiError(404, str(exc), f"paths.{i}") from None
    job = st.jobs.submit(paths, who.tenant, req.tags, roots)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.get("/v1/jobs/{job_id}", response_model=Job, tags=["mmrag"])
async def get_job(job_id: str, st: StateDep, who: PrincipalDep) -> Job:
    """Status of an ingest job, and its report once done."""
    job = st.jobs.get(job_id, who.search_tenant)
    if job is None:
        raise ApiError(404, f"no job {job_id!r}")
    return job


@router.delete("/v1/documents", response_model=DeleteResponse, tags=["mmrag"])
async def delete(req: DeleteRequest, st: StateDep, who: PrincipalDep) -> DeleteResponse:
    """Remove ingested files (by path) of the caller's tenant from the index; another tenant's
    copy of the same file stays."""
    result = await st.jobs.run_exclusive(
        lambda: st.pipeline.ingestor.delete(req.paths, tenant=who.search_tenant))
    if not result.deleted:
        raise ApiError(404, f"no ingested documents at {', '.join(result.not_found)}", "paths")
    return DeleteResponse(deleted=result.deleted, not_found=result.not_found)
