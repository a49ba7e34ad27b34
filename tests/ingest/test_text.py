"""Language analysis shared by ingest and rag: keyword terms, sentences, a question's language."""

from __future__ import annotations

import pytest

from ingest.text.detect import question_language
from ingest.text.sentences import is_page_mark, split_sentences
from ingest.text.tokens import TOKENIZER_VERSION, keyword_terms, korean_terms


def test_compound_nouns_are_terms_whole_by_parts_and_by_adjacent_pairs() -> None:
    assert korean_terms("정보보호관리체계 인증을 받았다") == [
        "정보보호관리체계", "정보", "보호", "관리", "체계", "정보보호", "보호관리", "관리체계", "인증", "받다"]
    assert korean_terms("영업이익은") == korean_terms("영업이익이") == korean_terms("영업이익을") == [
        "영업이익", "영업", "이익"]


def test_codes_and_numbers_around_hangul() -> None:
    assert keyword_terms("부품 HX-7720-K이며 교체 주기는 6개월이다.") == [
        "부품", "hx-7720-k", "hx", "7720", "k", "교체", "주기", "6"]
    assert keyword_terms("ERP를 v2.1로 올렸다") == ["erp", "v2.1", "v2", "1", "올리다"]


def test_question_words_and_light_verbs_are_not_terms() -> None:
    assert keyword_terms("영업이익이 얼마인가?") == ["영업이익", "영업", "이익"]
    assert keyword_terms("참석자가 있었다") == ["참석자"]


def test_english_only_text_never_loads_the_analyser(monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.text.tokens as tokens

    def boom() -> None:
        raise AssertionError("Kiwi loaded for English text")

    monkeypatch.setattr(tokens, "kiwi", boom)
    assert keyword_terms("The pump XK-4471-B") == ["pump", "xk-4471-b", "xk", "4471", "b"]


def test_tokenizer_version_names_the_analyser() -> None:
    assert TOKENIZER_VERSION.startswith("mmrag-kw3+kiwi-0.")


def test_english_abbreviations_survive_the_korean_splitter() -> None:
    assert split_sentences("회사는 e.g. 삼성 등과 협력한다. J. Smith 씨가 참석했다.") == [
        "회사는 e.g. 삼성 등과 협력한다.", "J. Smith 씨가 참석했다."]


def test_page_marks_are_pieces_of_their_own() -> None:
    assert split_sentences("Revenue grew 3.5% in 2023. - 3 - Next page text.") == [
        "Revenue grew 3.5% in 2023.", "- 3 -", "Next page text."]
    assert all(is_page_mark(s) for s in ["- 1 -", "— 12 —", "3 / 10", "Page 3 of 10", "5쪽"])
    assert not any(is_page_mark(s) for s in ["2023년 매출", "1-2", "매출은 3.5% 증가했다."])


@pytest.mark.parametrize(("question", "lang"), [
    ("영업이익은 얼마인가?", "ko"), ("HX-7720-K 교체 주기는?", "ko"), ("ERP 시스템 도입 일정은?", "ko"),
    ("What is 영업이익?", "en"), ("What was revenue in 2024?", "en"), ("2024?", "en"), ("", "en"),
])
def test_question_language(question: str, lang: str) -> None:
    assert question_language(question) == lang


def test_noun_suffixes_stay_on_their_noun_and_plurals_fold() -> None:
    assert korean_terms("영업이익률은") == ["영업이익률", "영업", "이익", "이익률"]
    assert korean_terms("참석자들은") == korean_terms("참석자는") == ["참석자"]


def test_figure_and_table_labels_are_one_term_in_both_languages() -> None:
    """Issue 18: "In Figure 1 ..." found nothing, "1" being on every page."""
    assert keyword_terms("In Figure 1, how many subfigures") == [
        "figure", "figure:1", "1", "how", "many", "subfigures"]
    assert "figure:3" in keyword_terms("Fig. 3: accuracy") and "figure:3" in keyword_terms("[그림 3] 구조")
    assert "table:2" in keyword_terms("see Table 2") and "table:2" in keyword_terms("<표 2> 매출")
    assert "figure:3.2" in keyword_terms("Figure 3.2 shows")
    assert not [t for t in keyword_terms("대표 3명, figures 1,000, table 2023") if ":" in t]
