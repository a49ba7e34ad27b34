"""A small real HTTP/1.1 server that speaks the OpenAI schema (``/v1/models``, ``/v1/chat/completions``
with and without streaming, ``/v1/embeddings``), for transport tests: connections, keep-alive,
closing, live streaming. The replies are fixed; answers from a real model are tested against the
vLLM CPU server (slow tier).

It records every TCP connection (by the client's port) and when each one closes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OpenAIHTTPServer:
    """Serve on ``127.0.0.1`` in a background thread; ``url`` is the API root (``.../v1``).

    ``reply``: the chat completion text. ``stream_pieces``: the deltas of a streamed reply.
    ``between_pieces(i)``: called (in the server's thread) before piece ``i`` > 0 is written, so a
    test can hold the stream open until the client has seen the earlier pieces."""

    def __init__(self, *, reply: str = "ok", stream_pieces: list[str] | None = None,
                 between_pieces: Callable[[int], None] | None = None, dim: int = 2) -> None:
        self.reply = reply
        self.stream_pieces = stream_pieces or ["o", "k"]
        self.between_pieces = between_pieces
        self.dim = dim
        self.lock = threading.Lock()
        self.opened: list[int] = []
        """Client ports of the connections accepted, in order."""
        self.closed: set[int] = set()
        """Client ports of the connections that have ended."""
        self.requests: list[tuple[int, str]] = []
        """(client port, path) of every request."""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def open_connections(self) -> set[int]:
        with self.lock:
            return set(self.opened) - self.closed

    def __enter__(self) -> OpenAIHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection carries many requests

            def setup(self) -> None:
                super().setup()
                with server.lock:
                    server.opened.append(self.client_address[1])

            def finish(self) -> None:
                super().finish()
                with server.lock:
                    server.closed.add(self.client_address[1])

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> None:
                with server.lock:
                    server.requests.append((self.client_address[1], self.path))

            def do_GET(self) -> None:
                self._record()
                if self.path == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                self._record()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                if self.path == "/v1/chat/completions" and body.get("stream"):
                    self._stream()
                elif self.path == "/v1/chat/completions":
                    self._json(200, {
                        "id": "c", "object": "chat.completion", "model": "tiny",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": server.reply}}],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}})
                elif self.path == "/v1/embeddings":
                    n = len(body["input"]) if "input" in body else 1
                    self._json(200, {"object": "list", "data": [
                        {"index": i, "embedding": [1.0 + i] + [0.5] * (server.dim - 1)} for i in range(n)]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def _stream(self) -> None:
                """Server-sent events, one chunk (HTTP chunked encoding) per event, flushed at once."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def chunk(payload: str) -> None:
                    data = f"data: {payload}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                for i, piece in enumerate(server.stream_pieces):
                    if i and server.between_pieces:
                        server.between_pieces(i)
                    chunk(json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}))
                chunk("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler
