"""The words each answering job reads, pinned before their tokenisers moved to one module
(:mod:`ingest.text.tokens`): the extractive answerer's terms (numbers apart, plurals folded), the
sufficiency check's names and numbers, and the follow-up rule's words (part numbers whole)."""

from __future__ import annotations

from rag.generate.chat import ChatTurn, needs_context, salient_terms
from rag.generate.extractive import terms
from rag.generate.support import names_of, numbers_of

EN = "The XK-4471-B pump's seal (v2.1) failed at example.com on 2024-03-05; see Figure 3 and Table 2."
MONEY = "Revenue grew 12.5% to $1,234.5M in FY2024, ACME Corp's best year."
QUESTION = "What was the operating margin of Samsung Electronics in Q3'23, according to the \"Annual Report\"?"
KO = "정보보호관리체계 인증을 받은 기관은 HX-7720-K이며 영업이익률이 높은 편이다."
KO_NUMBERS = "2023년 영업이익은 1,234억 원이다. <표 3> 참조"


def test_extractive_terms_are_pinned() -> None:
    assert terms(EN) == [
        ("xk", False), ("4471", True), ("pump", False), ("seal", False), ("2.1", True), ("failed", False),
        ("example", False), ("com", False), ("2024", True), ("03", True), ("05", True), ("see", False),
        ("figure", False), ("3", True), ("table", False), ("2", True)]
    assert terms(MONEY) == [
        ("revenue", False), ("grew", False), ("12.5", True), ("1234.5", True), ("fy", False), ("2024", True),
        ("acme", False), ("corp", False), ("best", False), ("year", False)]
    assert terms(QUESTION) == [
        ("operating", False), ("margin", False), ("samsung", False), ("electronic", False), ("3", True),
        ("23", True), ("annual", False), ("report", False)]
    assert terms(KO_NUMBERS) == [
        ("2023", True), ("1234", True), ("3", True), ("영업이익", False), ("영업", False), ("이익", False),
        ("표", False), ("참조", False)]
    assert terms(KO)[:3] == [("hx", False), ("7720", True), ("정보보호관리체계", False)]


def test_support_names_and_numbers_are_pinned() -> None:
    assert (names_of(EN), numbers_of(EN)) == (["xk-4471-b", "v2.1"], ["4471", "2.1", "2024", "03", "05"])
    assert (names_of(MONEY), numbers_of(MONEY)) == (["acme", "corp"], ["12.5", "1234.5", "2024"])
    # issue 18 (abstain18): a straight single quote touching a letter ("Q3'23", "What's") opens no
    # quotation any more, so the quoted name is the "Annual Report", not "23, according to the"
    assert (names_of(QUESTION), numbers_of(QUESTION)) == (["annual report", "samsung", "electronics",
                                                          "annual"], ["23"])
    assert (names_of(KO), numbers_of(KO)) == (["hx-7720-k"], ["7720"])
    assert (names_of(KO_NUMBERS), numbers_of(KO_NUMBERS)) == ([], ["2023", "1234"])


def test_follow_up_words_are_pinned() -> None:
    turns = [ChatTurn(role="user", content=text) for text in (EN, KO_NUMBERS, KO)]
    assert salient_terms(turns, limit=50) == [
        "HX-7720-K이며", "정보보호관리체계", "인증을", "받은", "기관은", "영업이익률이", "높은", "편이다", "2023년",
        "234억", "영업이익은", "원이다", "참조", "XK-4471-B", "v2.1", "2024-03-05", "Figure", "Table", "pump",
        "seal", "failed", "example.com", "see"]
    assert salient_terms(turns, limit=50, numbers=False)[:3] == ["HX-7720-K이며", "정보보호관리체계", "인증을"]
    assert "2023년" not in salient_terms(turns, limit=50, numbers=False)
    assert needs_context("and the XK-4471-B?") and not needs_context("Which pump seal failed at the plant?")
