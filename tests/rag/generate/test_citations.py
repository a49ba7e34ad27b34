from __future__ import annotations

import pytest

from rag.generate.citations import build_answer, is_abstention, parse_citations
from rag.generate.prompting import abstain_sentence
from tests.rag.generate.evidence import ev

EVIDENCE = [ev(1, "a"), ev(2, "b", kind="table"), ev(3, "c", kind="figure")]


@pytest.mark.parametrize(("text", "numbers"), [
    ("Revenue grew [2].", [2]),
    ("Both [1, 3] say so.", [1, 3]),
    ("Both [1;3] say so.", [1, 3]),
    ("All of them [1-3].", [1, 2, 3]),
    ("All of them [1–3].", [1, 2, 3]),
    ("First [3] then [1] then [3] again.", [3, 1]),
    ("Mixed [1, 2-3].", [1, 2, 3]),
])
def test_citation_forms_resolve_in_order_of_first_appearance(text: str, numbers: list[int]) -> None:
    parsed = parse_citations(text, EVIDENCE)
    assert [c.n for c in parsed.citations] == numbers
    assert parsed.text == text
    assert parsed.dropped == []


def test_citation_carries_file_page_kind_bbox_and_image() -> None:
    sent = [ev(1, "x"), ev(2, "y", kind="figure", image_path=None, page=7, file="/d/f.pdf")]
    c = parse_citations("See [2].", sent).citations[0]
    assert (c.id, c.file, c.page, c.kind) == ("e2", "/d/f.pdf", 7, "figure")
    assert c.bbox == sent[1].bbox


def test_unknown_numbers_are_removed_and_reported() -> None:
    parsed = parse_citations("Yes [4]. And [1, 7] too [0].", EVIDENCE)
    assert parsed.text == "Yes. And [1] too."
    assert parsed.dropped == [0, 4, 7]
    assert [c.n for c in parsed.citations] == [1]


def test_range_partly_out_of_bounds_keeps_the_valid_part() -> None:
    parsed = parse_citations("All [2-5].", EVIDENCE)
    assert parsed.text == "All [2, 3]."
    assert parsed.dropped == [4, 5]


def test_non_citation_brackets_are_left_alone() -> None:
    parsed = parse_citations("See [the appendix] and [a1].", EVIDENCE)
    assert parsed.text == "See [the appendix] and [a1]."
    assert parsed.citations == []


@pytest.mark.parametrize("text", [
    "The documents do not answer this question.",
    "the documents do not answer this question",
    "  The documents do NOT answer this question. [1]",
    "The documents do not answer this question. They only cover 2023.",
    "",
])
def test_abstentions(text: str) -> None:
    assert is_abstention(text)


@pytest.mark.parametrize("text", ["Revenue was 12 M [1].", "The documents show revenue of 12 M [1]."])
def test_answers_are_not_abstentions(text: str) -> None:
    assert not is_abstention(text)


def test_build_answer_resolves_against_evidence_sent() -> None:
    ans = build_answer("q?", "It is 5 [2] or 6 [9].", EVIDENCE, {"generate": 0.5})
    assert not ans.abstained
    assert ans.text == "It is 5 [2] or 6."
    assert [c.id for c in ans.citations] == ["e2"]
    assert ans.dropped_citations == [9]
    assert [e.id for e in ans.evidence] == ["e1", "e2", "e3"]
    assert ans.seconds == {"generate": 0.5}


def test_build_answer_abstention_cites_nothing() -> None:
    ans = build_answer("q?", "The documents do not answer this question. [1]", EVIDENCE)
    assert ans.abstained
    assert ans.citations == []


def test_build_answer_of_empty_text_is_the_abstain_sentence() -> None:
    ans = build_answer("q?", "   ", EVIDENCE)
    assert ans.abstained
    assert ans.text == abstain_sentence()


def test_abstention_follows_the_question_language() -> None:
    ko = "문서에서 이 질문에 대한 답을 찾을 수 없습니다."
    ans = build_answer("영업이익은 얼마인가?", "", [])
    assert ans.abstained and ans.text == ko
    # a generator that had nothing to prompt with says the English sentence: the answer is Korean
    ans = build_answer("영업이익은 얼마인가?", abstain_sentence(), [])
    assert ans.abstained and ans.text == ko and ans.citations == []
    ans = build_answer("영업이익은 얼마인가?", ko + " [1]", [])
    assert ans.abstained and ans.text.startswith(ko)
    assert build_answer("What was revenue?", "", []).text == "The documents do not answer this question."
