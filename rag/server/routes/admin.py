"""``GET /health``, ``GET /metrics`` and ``GET /v1/models``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import PlainTextResponse

from rag.server.auth import AuthError
from rag.server.protocol import Health, ModelCard, ModelList
from rag.server.state import MODEL_ID, PrincipalDep, StateDep

router = APIRouter()


@router.get("/health", response_model=Health, tags=["admin"])
async def health(st: StateDep, authorization: Annotated[str | None, Header()] = None) -> Health:
    """Liveness and what this server runs (no key needed). Job counts: every tenant's with
    ``server.metrics_key`` (or on an open server), the caller's own with an API key, none without."""
    view = st.keys.viewer(authorization)
    jobs = st.jobs.counts() if view.all_tenants else st.jobs.counts(view.tenant) if view.tenant else None
    s = st.pipeline.settings
    return Health(profile=s.profile, embedder=st.pipeline.embedder.id, generator=s.generate.backend,
                  jobs=jobs, auth=st.keys.enabled)


@router.get("/metrics", response_class=PlainTextResponse, tags=["admin"])
async def metrics(st: StateDep, authorization: Annotated[str | None, Header()] = None) -> PlainTextResponse:
    """Prometheus text format. With ``server.metrics_key`` set, only for that key; job counts and
    ingest timings only for it (or on an open server)."""
    view = st.keys.viewer(authorization)
    if st.keys.metrics_protected and not view.operator:
        raise AuthError("/metrics needs the metrics key: send 'Authorization: Bearer <server.metrics_key>'")
    return PlainTextResponse(st.metrics.render(tenant_data=view.all_tenants),
                             media_type="text/plain; version=0.0.4")


@router.get("/v1/models", response_model=ModelList, tags=["openai"])
async def models(st: StateDep, who: PrincipalDep) -> ModelList:
    """The one model this server answers as."""
    return ModelList(data=[ModelCard(id=MODEL_ID, created=st.model_created)])
