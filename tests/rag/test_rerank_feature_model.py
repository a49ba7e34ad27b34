"""The ``features`` reranker: its packaged weights, and a pipeline that selects it by config on a
tiny real index (cpu profile: multilingual-e5-small, Qdrant Edge)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.pipeline import Pipeline
from rag.records import SearchFilter
from rag.rerank import WEIGHTS_FILE, FeatureReranker, LinearWeights, RerankContext
from rag.rerank_features import FEATURES
from tests.pdfs import write_report


def test_the_packaged_weights_load_for_both_models() -> None:
    for model in ("file", "folder"):
        w = LinearWeights.load(WEIGHTS_FILE, model)
        assert w.weights.shape == w.mean.shape == w.scale.shape == (len(FEATURES),)
        assert np.all(w.scale > 0) and np.any(w.weights != 0)
    raw = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    assert raw["features"] == list(FEATURES) and "held_out" in raw  # the numbers it was fitted to


def test_weights_for_other_features_are_refused(tmp_path: Path) -> None:
    raw = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({**raw, "features": raw["features"][:-1]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"stale\.json: reranker weights are for features"):
        LinearWeights.load(stale)
    with pytest.raises(ConfigError, match="no reranker model 'other'"):
        LinearWeights.load(WEIGHTS_FILE, "other")
    with pytest.raises(ConfigError, match="cannot read reranker weights"):
        LinearWeights.load(tmp_path / "missing.json")


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, Path]]:
    docs = tmp_path_factory.mktemp("docs")
    write_report(docs / "operations_2025.pdf")
    write_report(docs / "finance.pdf", {
        1: "Letter to shareholders. The year brought new customers in every region.",
        2: "CONSOLIDATED STATEMENTS OF CASH FLOWS (in thousands). Dividends paid 41,200 in 2025; "
           "capital expenditure 12,900.",
        3: "CONSOLIDATED BALANCE SHEETS (in thousands). Total assets 880,100; total current liabilities 90,400.",
    }, "Annual report")
    index = tmp_path_factory.mktemp("index")
    overrides = {"store.path": str(index), "ingest.ocr": "none", "retrieve.rerank": "features"}
    with Pipeline.from_config("cpu", overrides, environ={}) as p:
        p.ingest([docs], progress=False)
        yield p, docs


def test_config_selects_the_feature_reranker_and_it_reorders_real_pages(pipe: tuple[Pipeline, Path]) -> None:
    p, docs = pipe
    assert isinstance(p.retriever.reranker, FeatureReranker)
    flt = SearchFilter(files=[str((docs / "finance.pdf").resolve())])
    evidence, seconds = p.retriever.retrieve("How much did the company pay in dividends in 2025?", k=3, flt=flt)
    assert evidence[0].page == 2 and "rerank" in seconds
    assert all(e.rerank_score is not None for e in evidence)
    assert [e.rerank_score for e in evidence] == sorted((e.rerank_score or 0.0 for e in evidence), reverse=True)
    # whole folder: both files in the pool, the folder model
    found = p.search("What is the replacement part number of the cooling pump?", k=3)
    assert (Path(found[0].file).name, found[0].page) == ("operations_2025.pdf", 3)


def test_candidates_have_every_pool_page_item_and_its_cosine(pipe: tuple[Pipeline, Path]) -> None:
    p, docs = pipe
    reranker = p.retriever.reranker
    assert isinstance(reranker, FeatureReranker)
    question = "What were total assets?"
    flt = SearchFilter(files=[str((docs / "finance.pdf").resolve())])
    plan = p.retriever.plan(question, 3, flt)
    evidence = p.retriever.retrieve(question, k=3, flt=flt)[0]
    # no branch hits at all: what the features need comes from the store calls alone
    cands = reranker.candidates(question, evidence, RerankContext(plan.dense, (), p.store, plan.filter, plan.sparse))
    assert sorted(c.page for c in cands) == [1, 2, 3]
    assert all(c.page_cos is not None and 0 < c.page_cos <= 1 and c.chunk_cos is not None for c in cands)
    assert "Total assets 880,100" in next(c for c in cands if c.page == 3).text  # the page item's text
    assert max(cands, key=lambda c: c.keyword_score or 0.0).page == 3


def test_the_weights_file_ships_in_the_wheel() -> None:
    """The cpu profile reads it at start-up: an installed package without it cannot search."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    assert WEIGHTS_FILE.name in data["rag"] and WEIGHTS_FILE.parent == root / "rag"
