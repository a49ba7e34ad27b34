"""The keyword tokenizer's output is part of the index format (``mmrag-kw3``): an index built by one
version is searched by the terms of another. These strings pin it, English and Korean; a change
here needs a new ``TOKENIZER_VERSION`` (and a re-ingest)."""

from __future__ import annotations

import pytest

from ingest.text.tokens import TOKENIZER_VERSION, keyword_terms, korean_terms

PINNED = {
    "The XK-4471-B pump's seal (v2.1) failed at example.com on 2024-03-05; see Figure 3 and Table 2.": [
        "xk-4471-b", "xk", "4471", "b", "pump", "seal", "v2.1", "v2", "1", "failed", "example.com", "example",
        "com", "2024-03-05", "2024", "03", "05", "see", "figure", "figure:3", "3", "table", "table:2", "2"],
    "Revenue grew 12.5% to $1,234.5M in FY2024, ACME Corp's best year.": [
        "revenue", "grew", "12.5", "12", "5", "1", "234.5m", "234", "5m", "fy2024", "acme", "corp", "best",
        "year"],
    "What was the operating margin of Samsung Electronics in Q3'23, according to the \"Annual Report\"?": [
        "operating", "margin", "samsung", "electronics", "q3", "23", "according", "annual", "report"],
    "정보보호관리체계 인증을 받은 기관은 HX-7720-K이며 영업이익률이 높은 편이다.": [
        "정보보호관리체계", "정보", "보호", "관리", "체계", "정보보호", "보호관리", "관리체계", "인증", "받다", "기관",
        "hx-7720-k", "hx", "7720", "k", "영업이익률", "영업", "이익", "이익률", "높다"],
    "2023년 영업이익은 1,234억 원이다. <표 3> 참조": [
        "2023", "영업이익", "영업", "이익", "1", "234", "table:3", "표", "3", "참조"],
    "그림 2의 대표 3명은 누구인가?": ["figure:2", "그림", "2", "대표", "3"],
}


@pytest.mark.parametrize("text", list(PINNED))
def test_keyword_terms_are_pinned(text: str) -> None:
    assert keyword_terms(text) == PINNED[text]


def test_korean_terms_are_the_hangul_share_of_the_keyword_terms() -> None:
    assert korean_terms("2023년 영업이익은 1,234억 원이다. <표 3> 참조") == ["영업이익", "영업", "이익", "표", "참조"]
    assert korean_terms("The pump failed.") == []


def test_the_pinned_output_is_version_kw3() -> None:
    assert TOKENIZER_VERSION.startswith("mmrag-kw3+kiwi-")
