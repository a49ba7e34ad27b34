"""ASGI middleware of the server: the request size limit and per-route metrics."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.server.errors import error_response
from rag.server.metrics import Metrics


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
