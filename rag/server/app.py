"""The FastAPI application: ``create_app(pipeline, server_cfg)``.

One :class:`~rag.pipeline.Pipeline` serves every request. Queries run on the event loop (the
pipeline moves blocking work to threads); ingest jobs and deletes run on one worker thread of their
own, so they never block queries. Errors come back as :class:`~rag.server.protocol.ErrorResponse`
with a status code and a sentence, never as a stack trace.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.config import ServerConfig
from rag.errors import ConfigError, EmbedError, GenerateError, MmragError, StoreError
from rag.generate.chat import ChatTurn, acondense
from rag.records import Answer, SearchFilter
from rag.server import web
from rag.server.auth import AuthError, KeyRing, Principal
from rag.server.jobs import JobManager
from rag.server.metrics import Metrics
from rag.server.paths import PathMissing, PathRefused, check_ingest_path, resolve_roots
from rag.server.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    DeleteRequest,
    DeleteResponse,
    Delta,
    ErrorBody,
    ErrorResponse,
    FilterOptions,
    Health,
    IngestRequest,
    Job,
    MmragExtra,
    ModelCard,
    ModelList,
    SearchRequest,
    SearchResponse,
    completion_id,
    now,
)

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)

MODEL_ID = "mmrag"
INTERNAL_ERROR = "internal server error; the server log has the details"
MAX_QUESTION_CHARS = 10_000
MAX_TURN_CHARS = 20_000
"""Earlier turns are cut to their last characters: condensing reads only the end of each."""

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error",
                413: "request_too_large", 415: "invalid_request_error", 422: "invalid_request_error",
                503: "unavailable_error"}


class ApiError(Exception):
    """Raised by handlers: becomes an :class:`ErrorResponse` with ``status``."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def error_response(status: int, message: str, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error body every failure uses."""
    body = ErrorResponse(error=ErrorBody(message=message, type=_ERROR_TYPES.get(status, "server_error"),
                                         code=status, param=param))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _mmrag_error_status(exc: MmragError) -> int:
    """Backends that are down or broken are 503; bad input is 400; a misconfigured server is 500."""
    if isinstance(exc, EmbedError | StoreError | GenerateError):
        return 503
    if isinstance(exc, ConfigError):
        return 500
    return 400


@dataclass
class ServerState:
    """Everything a request handler needs, built once in :func:`create_app`."""

    pipeline: Pipeline
    cfg: ServerConfig
    keys: KeyRing
    jobs: JobManager
    metrics: Metrics
    root_templates: list[str]
    """``server.ingest_roots`` as configured; ``{tenant}`` is filled per request."""
    model_created: int
    stream_takes_history: bool


# ------------------------------------------------------------------------------- ASGI middleware
class GuardMiddleware:
    """Request size limit (413) and per-route metrics, as plain ASGI so streaming is untouched.

    A body is read fully (at most ``max_bytes``) before the app sees it, so an oversized upload is
    refused whether or not it declares its ``Content-Length``.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        self.metrics.request_started()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            replay = await self._read_body(scope, receive)
            if replay is None:
                await self._too_large(scope, receive, send_wrapper)
            else:
                await self.app(scope, replay, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.request_finished(scope["method"], route, status, time.perf_counter() - start)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        msg = f"request body larger than server.max_request_mb ({self.max_bytes / 2**20:g} MB)"
        await error_response(413, msg)(scope, receive, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive | None:
        """A ``receive`` that replays the buffered body, or ``None`` when it exceeds the limit."""
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_bytes:
                        return None
                except ValueError:
                    pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                chunks = []
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                break
        buffered: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return buffered
            return await receive()  # after the body: wait for the disconnect, as Starlette expects

        return replay


# -------------------------------------------------------------------------------------- helpers
def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.mmrag
    return state


async def _principal(request: Request,
                     authorization: Annotated[str | None, Header()] = None) -> Principal:
    return _state(request).keys.authenticate(authorization)


PrincipalDep = Annotated[Principal, Depends(_principal)]
StateDep = Annotated[ServerState, Depends(_state)]


def _filter(principal: Principal, opts: FilterOptions | None) -> SearchFilter:
    """The search filter of a request: the tenant always comes from the key, never from the body."""
    opts = opts or FilterOptions()
    return SearchFilter(tenant=principal.search_tenant, files=opts.files, kinds=opts.kinds, tags=opts.tags,
                        file_globs=opts.file_globs, modified=opts.modified, created=opts.created)


def _split_conversation(messages: list[ChatMessage]) -> tuple[str, list[ChatTurn]]:
    """The question (last message, which must be the user's) and the earlier user/assistant turns."""
    last = messages[-1]
    if last.role != "user":
        raise ApiError(400, f"the last message must have role 'user', got {last.role!r}",
                       f"messages.{len(messages) - 1}.role")
    if last.has_images():
        raise ApiError(400, "images in the question are not supported: ask in text; retrieval finds "
                       "the document images", f"messages.{len(messages) - 1}.content")
    question = last.text().strip()
    if not question:
        raise ApiError(400, "the last user message is empty", f"messages.{len(messages) - 1}.content")
    if len(question) > MAX_QUESTION_CHARS:
        raise ApiError(400, f"the question has {len(question)} characters; at most {MAX_QUESTION_CHARS} "
                       "are accepted", f"messages.{len(messages) - 1}.content")
    history = [ChatTurn(role=m.role, content=m.text()[-MAX_TURN_CHARS:]) for m in messages[:-1]
               if m.role in ("user", "assistant") and m.text()]
    return question, history


def _extra(answer: Answer) -> MmragExtra:
    return MmragExtra(abstained=answer.abstained, citations=answer.citations, evidence=answer.evidence,
                      dropped_citations=answer.dropped_citations, seconds=answer.seconds)


def _sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


def _observe_answer(metrics: Metrics, answer: Answer) -> None:
    for stage, seconds in answer.seconds.items():
        metrics.observe_stage(stage, seconds)


# ---------------------------------------------------------------------------------------- the app
def create_app(pipeline: Pipeline, server_cfg: ServerConfig | None = None) -> FastAPI:
    """The HTTP face over one shared ``pipeline``; ``server_cfg`` defaults to the pipeline's own
    ``settings.server``. The caller owns the pipeline (and closes it); the app owns its ingest worker."""
    cfg = server_cfg or pipeline.settings.server
    metrics = Metrics()
    jobs = JobManager(pipeline, metrics)
    params = inspect.signature(pipeline.astream).parameters
    state = ServerState(pipeline=pipeline, cfg=cfg, keys=KeyRing(cfg), jobs=jobs, metrics=metrics,
                        root_templates=list(cfg.ingest_roots), model_created=now(),
                        stream_takes_history="history" in params)
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
    _install_error_handlers(app)
    _add_routes(app)
    app.include_router(web.router)  # the web page at / and the cited page images
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.param)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        return error_response(401, str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, message, headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = errors[0].get("ctx", {}).get("error", "")
            return error_response(400, f"request body is not valid JSON: {detail}".rstrip(": "))
        parts = []
        for e in errors:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
        first = errors[0] if errors else {}
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        return error_response(422, "; ".join(parts), param)

    @app.exception_handler(MmragError)
    async def mmrag_error(request: Request, exc: MmragError) -> Response:
        status = _mmrag_error_status(exc)
        if status >= 500:
            log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return error_response(status, str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, INTERNAL_ERROR)


def _add_routes(app: FastAPI) -> None:
    @app.get("/health", response_model=Health, tags=["admin"])
    async def health(st: StateDep, authorization: Annotated[str | None, Header()] = None) -> Health:
        """Liveness and what this server runs (no key needed). Job counts: every tenant's with
        ``server.metrics_key`` (or on an open server), the caller's own with an API key, none without."""
        view = st.keys.viewer(authorization)
        jobs = st.jobs.counts() if view.all_tenants else st.jobs.counts(view.tenant) if view.tenant else None
        s = st.pipeline.settings
        return Health(profile=s.profile, embedder=st.pipeline.embedder.id, generator=s.generate.backend,
                      jobs=jobs, auth=st.keys.enabled)

    @app.get("/metrics", response_class=PlainTextResponse, tags=["admin"])
    async def metrics(st: StateDep, authorization: Annotated[str | None, Header()] = None) -> PlainTextResponse:
        """Prometheus text format. With ``server.metrics_key`` set, only for that key; job counts and
        ingest timings only for it (or on an open server)."""
        view = st.keys.viewer(authorization)
        if st.keys.metrics_protected and not view.operator:
            raise AuthError("/metrics needs the metrics key: send 'Authorization: Bearer <server.metrics_key>'")
        return PlainTextResponse(st.metrics.render(tenant_data=view.all_tenants),
                                 media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", response_model=ModelList, tags=["openai"])
    async def models(st: StateDep, who: PrincipalDep) -> ModelList:
        """The one model this server answers as."""
        return ModelList(data=[ModelCard(id=MODEL_ID, created=st.model_created)])

    @app.post("/v1/chat/completions", response_model=ChatCompletion, tags=["openai"])
    async def chat(req: ChatCompletionRequest, st: StateDep, who: PrincipalDep) -> Response:
        """OpenAI chat completions. The last message (the user's) is the question; earlier user and
        assistant turns are history that turns a follow-up into a standalone question; system messages
        are ignored (mmrag's own system prompt applies). ``stream: true`` answers with
        ``chat.completion.chunk`` events; citations and evidence come in ``mmrag`` (on the last chunk
        when streaming)."""
        if req.model != MODEL_ID:
            raise ApiError(404, f"model {req.model!r} does not exist; this server serves {MODEL_ID!r}",
                           "model")
        question, history = _split_conversation(req.messages)
        kwargs: dict[str, Any] = {"flt": _filter(who, req.mmrag)}
        if history and st.stream_takes_history:
            kwargs["history"] = history
        elif history:  # a follow-up ("and in 2024?") must stand alone before retrieval
            question = await acondense(history, question, st.pipeline.generator)
        parts = st.pipeline.astream(question, **kwargs)
        if req.stream:
            return await _stream_chat(st, req.model, parts)
        answer: Answer | None = None
        async for part in parts:
            if isinstance(part, Answer):
                answer = part
        if answer is None:
            raise MmragError("the pipeline produced no answer")
        _observe_answer(st.metrics, answer)
        choice = Choice(message=AssistantMessage(content=answer.text))
        body = ChatCompletion(model=req.model, choices=[choice], mmrag=_extra(answer))
        return JSONResponse(body.model_dump(mode="json"))

    @app.post("/v1/search", response_model=SearchResponse, tags=["mmrag"])
    async def search(req: SearchRequest, st: StateDep, who: PrincipalDep) -> SearchResponse:
        """Evidence for a query, best first, from the caller's tenant only."""
        t = time.perf_counter()
        evidence = await st.pipeline.asearch(req.query, req.k, _filter(who, req))
        seconds = time.perf_counter() - t
        st.metrics.observe_stage("search", seconds)
        return SearchResponse(evidence=evidence, seconds=round(seconds, 4))

    @app.post("/v1/ingest", response_model=Job, status_code=202, tags=["mmrag"])
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

    @app.get("/v1/jobs/{job_id}", response_model=Job, tags=["mmrag"])
    async def get_job(job_id: str, st: StateDep, who: PrincipalDep) -> Job:
        """Status of an ingest job, and its report once done."""
        job = st.jobs.get(job_id, who.search_tenant)
        if job is None:
            raise ApiError(404, f"no job {job_id!r}")
        return job

    @app.delete("/v1/documents", response_model=DeleteResponse, tags=["mmrag"])
    async def delete(req: DeleteRequest, st: StateDep, who: PrincipalDep) -> DeleteResponse:
        """Remove ingested files (by path) of the caller's tenant from the index; another tenant's
        copy of the same file stays."""
        result = await st.jobs.run_exclusive(
            lambda: st.pipeline.ingestor.delete(req.paths, tenant=who.search_tenant))
        if not result.deleted:
            raise ApiError(404, f"no ingested documents at {', '.join(result.not_found)}", "paths")
        return DeleteResponse(deleted=result.deleted, not_found=result.not_found)


async def _stream_chat(st: ServerState, model: str, parts: AsyncIterator[str | Answer]) -> Response:
    """SSE in OpenAI's chunk format. The first part is awaited here, so retrieval errors still get
    a real status code; a failure after that is sent as an ``error`` event, then the stream ends."""
    cid, created = completion_id(), now()
    iterator = aiter(parts)
    try:
        first: str | Answer | None = await anext(iterator)
    except StopAsyncIteration:
        first = None

    def chunk(delta: Delta, finish: bool = False, extra: MmragExtra | None = None) -> bytes:
        choice = ChunkChoice(delta=delta, finish_reason="stop" if finish else None)
        body = ChatCompletionChunk(id=cid, created=created, model=model, mmrag=extra, choices=[choice])
        return _sse(body.model_dump_json(exclude_none=True))

    async def events() -> AsyncIterator[bytes]:
        yield chunk(Delta(role="assistant", content=""))
        part = first
        try:
            while part is not None:
                if isinstance(part, Answer):
                    _observe_answer(st.metrics, part)
                    yield chunk(Delta(), finish=True, extra=_extra(part))
                elif part:
                    yield chunk(Delta(content=part))
                part = await anext(iterator, None)
        except MmragError as exc:
            log.error("stream %s failed: %s: %s", cid, type(exc).__name__, exc)
            status = _mmrag_error_status(exc)
            err = ErrorResponse(error=ErrorBody(message=str(exc), code=status,
                                                type=_ERROR_TYPES.get(status, "server_error")))
            yield _sse(err.model_dump_json())
        except Exception:
            log.exception("stream %s failed", cid)
            err = ErrorResponse(error=ErrorBody(message=INTERNAL_ERROR, type="server_error", code=500))
            yield _sse(err.model_dump_json())
        finally:  # also on a client that hung up: stop the generator (and its model request) now
            if isinstance(iterator, AsyncGenerator):
                await iterator.aclose()
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


__all__ = ["MODEL_ID", "ApiError", "ServerState", "create_app", "error_response"]
