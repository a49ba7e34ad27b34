"""Every failure of the HTTP API as one JSON body (:class:`~rag.server.protocol.ErrorResponse`): a
status code and a sentence, never a stack trace."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import ConfigError, EmbedError, GenerateError, MmragError, StoreError
from rag.server.auth import AuthError
from rag.server.protocol import ErrorBody, ErrorResponse

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal server error; the server log has the details"

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error",
               413: "request_too_large", 415: "invalid_request_error", 422: "invalid_request_error",
               503: "unavailable_error"}
"""OpenAI's ``error.type`` for each status code; anything else is ``server_error``."""


class ApiError(Exception):
    """Raised by handlers: becomes an :class:`ErrorResponse` with ``status``."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def error_body(status: int, message: str, param: str | None = None) -> ErrorResponse:
    """The error model of ``status``: also sent as the last event of a stream that failed."""
    return ErrorResponse(error=ErrorBody(message=message, type=ERROR_TYPES.get(status, "server_error"),
                                         code=status, param=param))


def error_response(status: int, message: str, param: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error body every failure uses."""
    return JSONResponse(error_body(status, message, param).model_dump(), status_code=status, headers=headers)


def mmrag_error_status(exc: MmragError) -> int:
    """Backends that are down or broken are 503; bad input is 400; a misconfigured server is 500."""
    if isinstance(exc, EmbedError | StoreError | GenerateError):
        return 503
    if isinstance(exc, ConfigError):
        return 500
    return 400


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception a request can raise to :func:`error_response` (5xx are logged)."""
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
        status = mmrag_error_status(exc)
        if status >= 500:
            log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return error_response(status, str(exc))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, INTERNAL_ERROR)
