"""mmrag: multimodal RAG over document folders. Start with :class:`rag.Pipeline`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

__all__ = ["Pipeline"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import rag` stays light (no torch, no Qdrant) until a pipeline is built.
    if name == "Pipeline":
        from rag.pipeline import Pipeline

        return Pipeline
    raise AttributeError(name)
