"""The Generator contract: what every generator backend must do, as a test class to subclass.

A backend's test module subclasses :class:`GeneratorContract` and provides the ``generator`` fixture
(and, when it answers from a server, ``question`` and ``evidence`` it can answer)::

    class TestExtractive(GeneratorContract):
        @pytest.fixture
        def generator(self) -> Generator:
            return ExtractiveGenerator()

Needs pytest (the ``dev`` extra).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest

from ingest.records import BBox
from rag.generate.base import Generator
from rag.generate.citations import build_answer
from rag.generate.prompting import abstain_sentence
from rag.records import Answer, Evidence


async def acollect_answer(generator: Generator, question: str, evidence: Sequence[Evidence]) -> Answer:
    """What the pipeline does with a generator, without retrieval: select, stream, resolve citations."""
    sent = generator.select(question, evidence)
    text = "".join([delta async for delta in generator.astream(question, sent)])
    return build_answer(question, text, sent)


def collect_answer(generator: Generator, question: str, evidence: Sequence[Evidence]) -> Answer:
    """Sync :func:`acollect_answer` (its own event loop)."""
    return asyncio.run(acollect_answer(generator, question, evidence))


def evidence_item(n: int, text: str, *, file: str = "/docs/report.pdf", page: int | None = None) -> Evidence:
    """Text evidence number ``n`` (id ``e{n}``), ranked by ``n``."""
    return Evidence(id=f"e{n}", file=file, page=page if page is not None else n, kind="text", score=1.0 / n,
                    text=text, bbox=BBox(x0=10, y0=20, x1=110, y1=220))


class GeneratorContract:
    """Tests every :class:`~rag.generate.base.Generator` passes. Subclass and provide ``generator``."""

    @pytest.fixture
    def generator(self) -> Iterator[Generator]:
        raise NotImplementedError("a GeneratorContract subclass provides the `generator` fixture")

    @pytest.fixture
    def question(self) -> str:
        return "How many turbines did the Oslo plant build in 2025?"

    @pytest.fixture
    def evidence(self) -> list[Evidence]:
        return [evidence_item(1, "The Oslo plant built 4,200 turbines in 2025."),
                evidence_item(2, "Margins rose to 9 percent in 2025."),
                evidence_item(3, "The Busan plant opened in 2024.")]

    def test_is_a_generator(self, generator: Generator) -> None:
        assert isinstance(generator, Generator)

    def test_select_keeps_rank_order_and_drops_only_from_the_end(self, generator: Generator, question: str,
                                                                  evidence: list[Evidence]) -> None:
        sent = generator.select(question, evidence)
        assert [e.id for e in sent] == [e.id for e in evidence[:len(sent)]]

    def test_no_evidence_abstains_in_the_questions_language(self, generator: Generator) -> None:
        for question in ("What was revenue in 2025?", "2025년 매출은 얼마인가요?"):
            answer = collect_answer(generator, question, [])
            assert answer.text.strip() == abstain_sentence(question)
            assert answer.citations == []

    def test_citations_point_at_evidence_sent(self, generator: Generator, question: str,
                                              evidence: list[Evidence]) -> None:
        answer = collect_answer(generator, question, evidence)
        assert answer.text.strip()
        sent = {e.id for e in generator.select(question, evidence)}
        assert {c.id for c in answer.citations} <= sent

    def test_streams_from_several_event_loops_and_closes(self, generator: Generator, question: str,
                                                         evidence: list[Evidence]) -> None:
        first = collect_answer(generator, question, evidence)
        second = collect_answer(generator, question, evidence)  # a second asyncio.run: a new loop
        assert first.text == second.text  # temperature 0 / no model: the same answer
        asyncio.run(generator.aclose())
