"""The Reranker contract: what every reranker backend must do, as a test class to subclass.

A backend's test module subclasses :class:`RerankerContract` and provides the ``reranker`` fixture.
Needs pytest (the ``dev`` extra).
"""

from __future__ import annotations

import pytest

from rag.records import Evidence
from rag.rerank import Reranker


def page_evidence() -> list[Evidence]:
    """Five pages of two files in fused order, one about the question's topic."""
    texts = ["Employees: 1,200 engineers in Seoul.", "The Busan plant opened in 2024.",
             "Revenue in Europe was 146.2 million euros in 2025.", "Board members and their terms.",
             "유럽 매출은 2025년에 늘었다."]
    return [Evidence(id=f"00000000-0000-0000-0000-{i:012d}", file=f"/docs/f{i % 2}.pdf", page=i + 1, kind="page",
                     score=1.0 / (i + 1), text=t) for i, t in enumerate(texts)]


class RerankerContract:
    """Tests every :class:`~rag.rerank.Reranker` passes. Subclass and provide ``reranker``."""

    @pytest.fixture
    def reranker(self) -> Reranker:
        raise NotImplementedError("a RerankerContract subclass provides the `reranker` fixture")

    def test_is_a_reranker(self, reranker: Reranker) -> None:
        assert isinstance(reranker, Reranker)

    def test_returns_the_same_items_reordered(self, reranker: Reranker) -> None:
        evidence = page_evidence()
        before = [e.model_copy() for e in evidence]
        out = reranker.rerank("What was revenue in Europe in 2025?", evidence)
        assert sorted(e.id for e in out) == sorted(e.id for e in evidence)
        assert [e.id for e in evidence] == [e.id for e in before]  # the caller's list is left as it was

    def test_nothing_in_nothing_out(self, reranker: Reranker) -> None:
        assert reranker.rerank("anything", []) == []
