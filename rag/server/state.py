"""What every route needs, built once by :func:`rag.server.app.create_app`, and the FastAPI
dependencies that hand it (and the caller's key) to a route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Request

from rag.config import ServerConfig
from rag.records import SearchFilter
from rag.server.auth import KeyRing, Principal
from rag.server.jobs import JobManager
from rag.server.metrics import Metrics
from rag.server.protocol import FilterOptions

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

MODEL_ID = "mmrag"
"""The one model name the OpenAI-compatible endpoints answer as."""


@dataclass
class ServerState:
    """Everything a request handler needs, built once in :func:`~rag.server.app.create_app`."""

    pipeline: Pipeline
    cfg: ServerConfig
    keys: KeyRing
    jobs: JobManager
    metrics: Metrics
    root_templates: list[str]
    """``server.ingest_roots`` as configured; ``{tenant}`` is filled per request."""
    model_created: int


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.mmrag
    return state


async def _principal(request: Request,
                     authorization: Annotated[str | None, Header()] = None) -> Principal:
    return _state(request).keys.authenticate(authorization)


PrincipalDep = Annotated[Principal, Depends(_principal)]
"""The caller, from its ``Authorization: Bearer`` key (401 without a valid one on a keyed server)."""
StateDep = Annotated[ServerState, Depends(_state)]


def request_filter(principal: Principal, opts: FilterOptions | None) -> SearchFilter:
    """The search filter of a request: the tenant always comes from the key, never from the body."""
    opts = opts or FilterOptions()
    return SearchFilter(tenant=principal.search_tenant, files=opts.files, kinds=opts.kinds, tags=opts.tags,
                        file_globs=opts.file_globs, modified=opts.modified, created=opts.created)
