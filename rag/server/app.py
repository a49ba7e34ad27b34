"""The FastAPI application: ``create_app(pipeline, server_cfg)``.

One :class:`~rag.pipeline.Pipeline` serves every request. Queries run on the event loop (the
pipeline moves blocking work to threads); ingest jobs and deletes run on one worker thread of their
own, so they never block queries. Errors come back as :class:`~rag.server.protocol.ErrorResponse`
with a status code and a sentence, never as a stack trace (:mod:`rag.server.errors`).

The parts: :mod:`rag.server.middleware` (size limit, metrics), :mod:`rag.server.state` (what routes
share), :mod:`rag.server.routes` (one module per face; ``web``: the page).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from rag.config import ServerConfig
from rag.server.auth import KeyRing
from rag.server.errors import ApiError, error_response, install_error_handlers
from rag.server.jobs import JobManager
from rag.server.metrics import Metrics
from rag.server.middleware import GuardMiddleware
from rag.server.protocol import ErrorResponse, now
from rag.server.routes import admin, chat, documents, web
from rag.server.state import MODEL_ID, ServerState

if TYPE_CHECKING:
    from rag.pipeline import Pipeline


def create_app(pipeline: Pipeline, server_cfg: ServerConfig | None = None) -> FastAPI:
    """The HTTP face over one shared ``pipeline``; ``server_cfg`` defaults to the pipeline's own
    ``settings.server``. The caller owns the pipeline (and closes it); the app owns its ingest worker."""
    cfg = server_cfg or pipeline.settings.server
    metrics = Metrics()
    jobs = JobManager(pipeline, metrics)
    state = ServerState(pipeline=pipeline, cfg=cfg, keys=KeyRing(cfg), jobs=jobs, metrics=metrics,
                        root_templates=list(cfg.ingest_roots), model_created=now())
    metrics.gauge("mmrag_ingest_jobs", "Ingest jobs held by the server, by status.",
                  lambda: {k: float(v) for k, v in jobs.counts().items()}, "status", per_tenant=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(jobs.shutdown)

    app = FastAPI(title="mmrag", version="0.1.0", lifespan=lifespan,
                  description="Multimodal RAG: OpenAI-compatible chat with citations, search, ingest.",
                  responses={code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 503)})
    app.state.mmrag = state
    app.add_middleware(GuardMiddleware, max_bytes=int(cfg.max_request_mb * 2**20), metrics=metrics)
    install_error_handlers(app)
    for routes in (admin, chat, documents, web):  # web: the page at / and the cited page images
        app.include_router(routes.router)
    return app


__all__ = ["MODEL_ID", "ApiError", "ServerState", "create_app", "error_response"]
