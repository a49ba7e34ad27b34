"""The LlamaIndex adapter inside LlamaIndex's own query engines, over a real ``cpu`` pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import ImageNode, TextNode

from ingest.samples import write_sample_folder
from rag.llamaindex import MmragQueryEngine, MmragRetriever, build_query_engine
from rag.pipeline import Pipeline
from rag.records import SearchFilter

QUESTION = "What was ACME's revenue in Europe in 2025?"


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    write_sample_folder(folder)
    return folder.resolve()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Iterator[Pipeline]:
    pipe = Pipeline.from_config("cpu", {"store.path": str(tmp_path_factory.mktemp("index"))}, environ={})
    pipe.ingest([sample_dir], tenant="acme", progress=False)
    yield pipe
    pipe.close()


def test_retriever_returns_typed_nodes(pipeline: Pipeline, sample_dir: Path) -> None:
    nodes = MmragRetriever(pipeline, k=8).retrieve(QUESTION)
    assert 1 <= len(nodes) <= 8
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)
    for n in nodes:
        meta = n.node.metadata
        assert Path(meta["file"]).parent == sample_dir and meta["page"] >= 1
        if meta["kind"] in ("figure", "page"):
            assert isinstance(n.node, ImageNode) and Path(n.node.image_path).is_file()
        else:
            assert type(n.node) is TextNode
    assert any("Europe" in n.node.get_content() for n in nodes)


def test_filters_pass_through(pipeline: Pipeline) -> None:
    pages = MmragRetriever(pipeline, flt=SearchFilter(kinds=["page"])).retrieve("revenue chart")
    assert pages and all(isinstance(n.node, ImageNode) and n.node.metadata["kind"] == "page" for n in pages)
    assert MmragRetriever(pipeline, flt=SearchFilter(tenant="nobody")).retrieve(QUESTION) == []


def test_bad_k_fails_at_once(pipeline: Pipeline) -> None:
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        MmragRetriever(pipeline, k=0)


def test_retriever_query_engine_with_an_explicit_llm(pipeline: Pipeline) -> None:
    engine = build_query_engine(pipeline, llm=MockLLM(), k=4)  # MockLLM echoes its prompt
    assert isinstance(engine, RetrieverQueryEngine)
    response = engine.query(QUESTION)
    assert 1 <= len(response.source_nodes) <= 4
    prompt = str(response)
    assert "Europe" in prompt and "file: " in prompt and "bbox" not in prompt


def test_async_query_inside_a_running_loop(pipeline: Pipeline) -> None:
    engine = build_query_engine(pipeline, llm=MockLLM(), k=3)

    async def main() -> tuple[int, int]:
        response = await engine.aquery(QUESTION)
        nodes = MmragRetriever(pipeline, k=2).retrieve(QUESTION)  # sync call while a loop runs
        return len(response.source_nodes), len(nodes)

    assert asyncio.run(main()) == (3, 2)


def test_mmrag_query_engine_answers_with_citations(pipeline: Pipeline, sample_dir: Path) -> None:
    response = MmragQueryEngine(pipeline=pipeline).query(QUESTION)
    assert "[1]" in str(response)
    assert response.metadata and response.metadata["abstained"] is False
    cited = {c["file"] for c in response.metadata["citations"]}
    assert cited and all(Path(f).parent == sample_dir for f in cited)
    assert response.source_nodes


def test_build_query_engine_refuses_a_missing_llm(pipeline: Pipeline) -> None:
    with pytest.raises(ValueError, match="explicit llm"):
        build_query_engine(pipeline, llm=None)  # type: ignore[arg-type]
