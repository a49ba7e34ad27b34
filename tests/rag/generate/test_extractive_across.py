"""The extractive answerer across languages (issue 18, the Korean set's false abstentions): a Korean
question over an English page shares no word with it, so the answerer ranks the page's sentences
with the index's multilingual embedder (the real multilingual-e5-small of the ``cpu`` profile)."""

from __future__ import annotations

import pytest

from rag.backend_settings import E5SmallEmbedConfig, ExtractiveGenerateConfig
from rag.embed.base import Embedder, build_embedder
from rag.generate.citations import build_answer
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.prompting import abstain_sentence
from tests.rag.generate.evidence import ev

# From scripts/korean_eval (the travel policy of the Korean set, English) and a Korean 사업보고서.
POLICY = ev(1, "Travel Expense Policy.\nThe hotel limit is 250 US dollars per night in New York, London and "
               "Tokyo, and 180 US dollars per night in other cities.\nThe daily meal allowance (per diem) is "
               "75 US dollars.\nExpense reports must be submitted within 10 working days after return, with "
               "original receipts.", file="/docs/travel_policy.pdf")
REPORT = ev(1, "대표이사는 박서연이며, 2025년 말 기준 임직원 수는 2,184명이다.\n"
               "교체용 퓨즈의 부품 번호는 HX-7720-K이며, 정격 전류는 3.15A이다.\n"
               "제품 보증 기간은 구입일로부터 36개월이다.", file="/docs/manual.pdf")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return build_embedder(E5SmallEmbedConfig(threads=1))


@pytest.fixture
def gen(embedder: Embedder) -> ExtractiveGenerator:
    g = ExtractiveGenerator.from_config(ExtractiveGenerateConfig())
    g.use_embedder(embedder)
    return g


@pytest.mark.parametrize(("question", "evidence", "quote"), [
    ("해외 출장 일일 식비 한도는 얼마인가요?", POLICY, "75 US dollars"),
    ("출장 후 경비 보고서는 며칠 이내에 제출해야 하나요?", POLICY, "10 working days"),
    ("What is the warranty period of the product?", REPORT, "36개월"),
])
def test_a_question_is_answered_from_a_page_in_the_other_language(gen: ExtractiveGenerator, question: str,
                                                                   evidence: object, quote: str) -> None:
    text = gen.answer_text(question, [evidence])  # type: ignore[list-item]
    assert quote in text and text.endswith("[1]"), text
    # and the answer stands the evidence check (its question has no name or number the page lacks)
    assert not build_answer(question, text, [evidence], support=ExtractiveGenerateConfig()).abstained  # type: ignore[list-item]


def test_without_the_embedder_it_abstains_as_before() -> None:
    q = "해외 출장 일일 식비 한도는 얼마인가요?"
    assert ExtractiveGenerator.from_config(ExtractiveGenerateConfig()).answer_text(q, [POLICY]) == abstain_sentence(q)


def test_evidence_in_the_questions_language_needs_no_bridge(gen: ExtractiveGenerator, embedder: Embedder) -> None:
    class Counting:
        """The embedder, counting the calls the answerer makes."""

        calls = 0

        def __getattr__(self, name: str) -> object:
            Counting.calls += 1
            return getattr(embedder, name)

    gen.use_embedder(Counting())  # type: ignore[arg-type]
    # an English question over an English page, even one it matches badly (coverage below 0.5)
    gen.answer_text("What is the canteen's opening time on weekdays?", [POLICY])
    assert Counting.calls == 0
    gen.answer_text("해외 출장 일일 식비 한도는 얼마인가요?", [POLICY])
    assert Counting.calls > 0
