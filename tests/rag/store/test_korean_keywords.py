"""Korean through the keyword branch alone, on a real Edge store: particles and endings do not
separate a question from the page, a code glued to a particle stays whole, and an index keeps
the tokenizer it was built with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.text.tokens import TOKENIZER_VERSION, keyword_terms
from rag.errors import StoreError
from rag.records import Prefetch, QueryPlan
from rag.store.common import StoreMeta
from rag.store.edge import EdgeStore
from rag.store.sparse import encode_sparse_query
from rag.testing.corpus import DIM, make_item, make_point, structured_vectors

PAGES = {
    # The answer page states the figure with 은; distractors share particles and other nouns.
    1: "2023년 영업이익은 1,234억 원으로 전년 대비 12.5% 증가했다.",
    2: "매출이 감소한 이유를 설명한다. 원가를 줄였다.",
    3: "이 부품은 교체 주기를 지켜야 하며 안전 수칙을 따른다.",
    4: "부품 번호는 HX-7720-K이며 교체 주기는 6개월이다.",
    5: "회의 참석자는 김철수, 이영희이며 다음 회의는 3월에 열린다.",
    6: "정보보호관리체계 인증을 받았으며 모든 부서가 참여하였다.",
}


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeStore]:
    store = EdgeStore(tmp_path_factory.mktemp("korean") / "idx")
    store.ensure("test:embedder", DIM)
    vecs = structured_vectors(np.random.default_rng(0), len(PAGES))
    store.upsert([make_point(make_item("text", "/docs/보고서.pdf", page, page, text), vecs[i])
                  for i, (page, text) in enumerate(PAGES.items())])
    yield store
    store.close()


def sparse_pages(store: EdgeStore, query: str, limit: int = 3) -> list[int]:
    plan = QueryPlan(sparse=encode_sparse_query(query), prefetch=[Prefetch(using="sparse", limit=limit)],
                     limit=limit)
    return [h.item.page for h in store.query(plan)]


@pytest.mark.parametrize("query", ["영업이익은", "영업이익이", "영업이익을", "영업이익", "영업이익이 얼마인가?"])
def test_particle_variants_find_the_same_page(edge: EdgeStore, query: str) -> None:
    assert sparse_pages(edge, query)[:1] == [1]


def test_spaced_and_partial_compounds_find_the_page(edge: EdgeStore) -> None:
    assert sparse_pages(edge, "영업 이익")[:1] == [1]
    assert sparse_pages(edge, "정보보호 인증")[:1] == [6]


def test_part_number_with_a_glued_particle(edge: EdgeStore) -> None:
    assert keyword_terms("HX-7720-K이며")[:1] == ["hx-7720-k"]
    assert "hx-7720-k" in keyword_terms("부품 번호는 HX-7720-K이며 교체 주기는 6개월이다.")
    assert sparse_pages(edge, "HX-7720-K")[:1] == [4]
    assert sparse_pages(edge, "HX-7720-K의 교체 주기")[:1] == [4]


def test_particles_and_endings_are_not_terms() -> None:
    assert keyword_terms("영업이익은 증가했다") == ["영업이익", "영업", "이익", "증가"]
    assert keyword_terms("가장 높은 매출") == ["높다", "매출"]
    for particle in ("은", "는", "이", "가", "을", "를", "이며", "했다"):
        assert particle not in keyword_terms(f"영업이익{particle} 매출")


def test_english_is_tokenised_as_before() -> None:
    assert keyword_terms("Fit part XK-4471-B.") == ["fit", "part", "xk-4471-b", "xk", "4471", "b"]


def test_index_records_its_tokenizer(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "idx") as store:
        store.ensure("e", DIM)
    meta = json.loads((tmp_path / "idx" / "store.json").read_text(encoding="utf-8"))
    assert meta["tokenizer"] == TOKENIZER_VERSION
    with EdgeStore(tmp_path / "idx") as store:
        store.ensure("e", DIM)  # same tokenizer: opens


def _rewrite_meta(path: Path, **changes: object) -> None:
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del meta[key]
    path.write_text(json.dumps(meta), encoding="utf-8")


def test_index_of_another_tokenizer_is_refused_naming_both(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "idx") as store:
        store.ensure("e", DIM)
    _rewrite_meta(tmp_path / "idx" / "store.json", tokenizer="mmrag-kw9+other")
    with EdgeStore(tmp_path / "idx") as store, pytest.raises(StoreError) as err:
        store.ensure("e", DIM)
    assert "mmrag-kw9+other" in str(err.value) and TOKENIZER_VERSION in str(err.value)
    assert "Re-ingest" in str(err.value)


def test_index_without_a_recorded_tokenizer_is_the_legacy_one_and_refused(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "idx") as store:
        store.ensure("e", DIM)
    _rewrite_meta(tmp_path / "idx" / "store.json", tokenizer=None)  # as written before this version
    with EdgeStore(tmp_path / "idx") as store, pytest.raises(StoreError, match=r"'mmrag-kw1'.*Re-ingest"):
        store.ensure("e", DIM)


def test_local_qdrant_refuses_another_tokenizer(tmp_path: Path) -> None:
    from qdrant_client import QdrantClient

    from rag.store.qdrant import META_KEY
    from rag.store.qdrant_local import QdrantLocalStore

    client = QdrantClient(path=str(tmp_path / "local"))
    store = QdrantLocalStore(client, "c")
    store.ensure("e", DIM)
    assert StoreMeta.model_validate(
        client.get_collection("c").config.metadata[META_KEY]).tokenizer == TOKENIZER_VERSION
    legacy = StoreMeta(embedder_id="e", dim=DIM).model_dump()
    client.update_collection("c", metadata={META_KEY: legacy})
    store = QdrantLocalStore(client, "c")
    with pytest.raises(StoreError, match=r"'mmrag-kw1'.*" + TOKENIZER_VERSION.replace("+", r"\+")):
        store.ensure("e", DIM)
    client.close()
