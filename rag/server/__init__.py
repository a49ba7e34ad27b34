"""The HTTP face: an OpenAI-compatible ``/v1/chat/completions`` with citations, plus search, ingest
jobs, document deletion, health and Prometheus metrics. Needs ``pip install 'mmrag[server]'``.

``create_app(pipeline)`` builds the FastAPI app over one shared pipeline; ``serve(config)`` (the
``mmrag serve`` command) builds the pipeline and runs it with uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.server.app import create_app
    from rag.server.run import serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Lazy: FastAPI is an optional extra, imported only when a server is built.
    if name == "create_app":
        from rag.server.app import create_app

        return create_app
    if name == "serve":
        from rag.server.run import serve

        return serve
    raise AttributeError(name)
