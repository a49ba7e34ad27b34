"""LlamaIndex adapter: mmrag's hybrid multimodal retrieval as a LlamaIndex retriever.

``MmragRetriever(pipeline)`` returns ``NodeWithScore``: a ``TextNode`` for text and table evidence,
an ``ImageNode`` (with ``image_path``) for figure and page evidence; metadata carries ``file``,
``page``, ``kind``, ``bbox`` and ``section``. Plug it into any LlamaIndex query engine:

    from rag.llamaindex import MmragRetriever, build_query_engine
    engine = build_query_engine(pipe, llm=my_llamaindex_llm, k=5)
    print(engine.query("What was revenue in Europe?"))

or let mmrag answer with its own generator and citations: ``MmragQueryEngine(pipeline=pipe)``.
No global LlamaIndex default (``Settings.llm``) is ever consulted: the LLM is passed explicitly.
Needs ``pip install 'mmrag[llamaindex]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingest.records import IMAGE_KINDS
from rag.aio import run_sync
from rag.errors import MissingPartError
from rag.records import Answer, Evidence, SearchFilter

try:
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.base.response.schema import Response
    from llama_index.core.query_engine import CustomQueryEngine, RetrieverQueryEngine
    from llama_index.core.schema import ImageNode, NodeWithScore, QueryBundle, TextNode
except ImportError as exc:  # pragma: no cover - depends on the environment
    _HINT = "the LlamaIndex adapter needs llama-index-core: pip install 'mmrag[llamaindex]'"
    raise MissingPartError(_HINT) from exc

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from rag.pipeline import Pipeline

_HIDDEN_FROM_MODEL = ["bbox", "image_path", "section", "score"]


def evidence_to_node(ev: Evidence) -> NodeWithScore:
    """One piece of evidence as a LlamaIndex node: ``ImageNode`` for figures and pages (its text is
    the bridge text: caption, OCR, nearby text), ``TextNode`` for text and tables."""
    metadata: dict[str, Any] = {
        "file": ev.file,
        "page": ev.page,
        "kind": ev.kind,
        "bbox": [ev.bbox.x0, ev.bbox.y0, ev.bbox.x1, ev.bbox.y1] if ev.bbox else None,
        "section": " > ".join(ev.section),
        "image_path": ev.image_path,
    }
    common: dict[str, Any] = {"id_": ev.id, "text": ev.text, "metadata": metadata,
                              "excluded_llm_metadata_keys": _HIDDEN_FROM_MODEL,
                              "excluded_embed_metadata_keys": _HIDDEN_FROM_MODEL}
    node: TextNode
    if ev.kind in IMAGE_KINDS and ev.image_path:
        node = ImageNode(image_path=ev.image_path, **common)
    else:
        node = TextNode(**common)
    # a reranked page is ordered by its reranker's score, so that is the node's (sorted, as LlamaIndex expects)
    return NodeWithScore(node=node, score=ev.rerank_score if ev.rerank_score is not None else ev.score)


class MmragRetriever(BaseRetriever):
    """A LlamaIndex retriever over an mmrag :class:`~rag.pipeline.Pipeline` (hybrid dense + keyword
    search, page grouping, tenant and file filters all applied by mmrag)."""

    def __init__(self, pipeline: Pipeline, k: int | None = None, flt: SearchFilter | None = None,
                 **kwargs: Any) -> None:
        """``k``: nodes returned (``None``: the profile's ``retrieve.k``); ``flt``: restrict by tenant,
        files, kinds or tags; ``kwargs`` go to ``BaseRetriever`` (callback_manager, verbose, ...)."""
        if k is not None and k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.k = k
        self.flt = flt

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return run_sync(self._aretrieve(query_bundle))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        evidence = await self.pipeline.asearch(query_bundle.query_str, self.k, self.flt)
        return [evidence_to_node(ev) for ev in evidence]


def build_query_engine(pipeline: Pipeline, *, llm: LLM, k: int | None = None, flt: SearchFilter | None = None,
                       **kwargs: Any) -> RetrieverQueryEngine:
    """A ``RetrieverQueryEngine`` that retrieves with mmrag and answers with ``llm`` (any LlamaIndex
    LLM, e.g. ``OpenAILike`` pointed at a vLLM server). ``kwargs`` go to
    ``RetrieverQueryEngine.from_args`` (``response_mode``, ``streaming``, ``node_postprocessors``...)."""
    if llm is None:
        raise ValueError("build_query_engine needs an explicit llm (LlamaIndex's global default would call "
                         "a cloud API); or use MmragQueryEngine to answer with mmrag's own generator")
    return RetrieverQueryEngine.from_args(MmragRetriever(pipeline, k=k, flt=flt), llm=llm, **kwargs)


class MmragQueryEngine(CustomQueryEngine):
    """A LlamaIndex query engine that answers with mmrag's own generator: the response text carries
    [n] citations, ``source_nodes`` the evidence, ``metadata`` the citations and abstention."""

    pipeline: Any
    """The :class:`~rag.pipeline.Pipeline` (typed ``Any`` because the engine is a pydantic model)."""
    flt: SearchFilter | None = None

    def custom_query(self, query_str: str) -> Response:
        return run_sync(self.acustom_query(query_str))

    async def acustom_query(self, query_str: str) -> Response:
        answer: Answer = await self.pipeline.aask(query_str, flt=self.flt)
        return Response(
            response=answer.text,
            source_nodes=[evidence_to_node(ev) for ev in answer.evidence],
            metadata={"citations": [c.model_dump() for c in answer.citations], "abstained": answer.abstained,
                      "seconds": answer.seconds},
        )


__all__ = ["MmragQueryEngine", "MmragRetriever", "build_query_engine", "evidence_to_node"]
