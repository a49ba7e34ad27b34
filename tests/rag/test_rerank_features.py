"""The ``features`` reranker's features (rag/rerank_features.py) on small inputs."""

from __future__ import annotations

import numpy as np

from rag.rerank_features import (
    FEATURES,
    Candidate,
    QueryTerms,
    _bigrams,
    feature_matrix,
    labels_in,
    numbers_in,
    quoted_in,
    statements_asked,
    statements_titled,
)

COL = {name: j for j, name in enumerate(FEATURES)}


def test_numbers_labels_and_quotes_of_a_question() -> None:
    assert numbers_in("Revenue was 1,200.5 million in FY2025, up 3 points") == {"1200.5", "2025"}
    assert labels_in("How many bars are in Figure 3 and Table 2.1?") == {"figure:3", "table:2.1"}
    assert labels_in("그림 2와 표 3을 보면") == {"figure:2", "table:3"}
    assert labels_in("대표 3명") == set()  # 표 inside a word is no table
    assert quoted_in('In the "Who are you talking to" section, what tips') == ["who are you talking to"]


def test_statements_named_by_questions_and_titles() -> None:
    assert statements_asked("What is the FY2017 return on assets (ROA) for Coca Cola?") == {"balance", "income"}
    assert statements_asked("using the statement of cash flows, what were dividends paid?") == {"cash"}
    assert statements_asked("2025년 현금흐름표의 영업활동 현금흐름은?") == {"cash"}
    assert statements_asked("How many steps does the recipe have?") == set()  # "eps" only as a word
    assert statements_titled("ADOBE SYSTEMS INCORPORATED / CONSOLIDATED STATEMENTS OF CASH FLOWS") == {"cash"}
    assert statements_titled("AMAZON.COM, INC. CONSOLIDATED STATEMENTS OF OPERATIONS") == {"income"}
    assert statements_titled("연결 재무상태표 (단위: 백만원)") == {"balance"}
    # the comprehensive income statement is not the income statement
    assert statements_titled("CONSOLIDATED STATEMENTS OF COMPREHENSIVE INCOME") == set()


def test_bigrams_leave_out_the_parts_of_compounds() -> None:
    assert _bigrams(["hx-7720", "hx", "7720", "power", "module"]) == {("hx-7720", "power"), ("power", "module")}


def _pool() -> list[Candidate]:
    return [
        Candidate("/d/a.pdf", 4, 0.30, "Notes to the financial statements. Revenue recognition policies.",
                  page_cos=0.85, chunk_cos=0.84, keyword_score=2.0,
                  branch_rank={"text": 1, "sparse": 2}, branch_score={"text": 0.84, "sparse": 2.0}),
        Candidate("/d/a.pdf", 7, 0.20, "CONSOLIDATED STATEMENTS OF CASH FLOWS (In thousands)\n"
                  "Dividends paid 1,200 in 2025.", page_cos=0.86, chunk_cos=0.83, keyword_score=4.0,
                  figures=0, branch_rank={"image": 1, "sparse": 1}, branch_score={"image": 0.86, "sparse": 4.0}),
        Candidate("/d/a.pdf", 8, 0.10, "Figure 3: growth of users.", figures=1),
    ]


def test_feature_matrix_reads_ranks_scores_and_matches() -> None:
    q = "What were the dividends paid in 2025 according to the cash flow statement?"
    x = feature_matrix(q, _pool())
    assert x.shape == (3, len(FEATURES))
    np.testing.assert_allclose(x[:, COL["fused_rr"]], [1.0, 11 / 12, 11 / 13])
    np.testing.assert_allclose(x[:, COL["fused_rel"]], [1.0, 2 / 3, 1 / 3])
    np.testing.assert_allclose(x[:, COL["text_rr"]], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(x[:, COL["sparse_rr"]], [11 / 12, 1.0, 0.0])
    np.testing.assert_allclose(x[:, COL["sparse_rel"]], [0.5, 1.0, 0.5])  # unknown: the branch's worst
    np.testing.assert_allclose(x[:, COL["branches"]], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(x[:, COL["numbers"]], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(x[:, COL["statement"]], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(x[:, COL["figures"]], [0.0, 0.0, 1.0])
    assert x[1, COL["bm25_rel"]] == 1.0 and x[1, COL["coverage"]] > x[0, COL["coverage"]]
    assert x[:, COL["visual"]].sum() == 0  # the question asks about no figure
    assert x[:, COL["neighbour_rr"]].tolist() == [0.0, x[2, COL["fused_rr"]], x[1, COL["fused_rr"]]]
    np.testing.assert_allclose(x[:, COL["file_share"]], [1.0, 1.0, 1.0])
    assert np.all(np.isfinite(x))


def test_a_figure_question_favours_pages_with_figures_and_labels() -> None:
    x = feature_matrix("What does Figure 3 show?", _pool())
    np.testing.assert_allclose(x[:, COL["visual"]], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(x[:, COL["labels"]], [0.0, 0.0, 1.0])


def test_korean_question_matches_through_kiwi_terms() -> None:
    pool = [Candidate("/k/r.pdf", 1, 0.3, "회사 개요: 한빛전자는 1998년에 설립되었다."),
            Candidate("/k/r.pdf", 3, 0.2, "제3장 경영 성과\n2025년 영업이익은 2,315억 원으로 증가하였다.")]
    q = QueryTerms.of("한빛전자의 2025년 영업이익은 얼마인가요?")
    assert "영업이익" in q.terms
    x = feature_matrix(q, pool)
    assert x[1, COL["coverage"]] > x[0, COL["coverage"]] and x[1, COL["bm25_rel"]] == 1.0
    np.testing.assert_allclose(x[:, COL["numbers"]], [0.0, 1.0])


def test_empty_pool_and_empty_question() -> None:
    assert feature_matrix("anything", []).shape == (0, len(FEATURES))
    x = feature_matrix("?", _pool())
    assert np.all(np.isfinite(x)) and x[:, COL["coverage"]].sum() == 0


def test_word_features_are_silent_in_a_pool_with_a_page_in_another_script() -> None:
    """A Korean question, Korean look-alike articles and the English page that answers: the
    question's words cannot meet that page, so they order none of the pool."""
    pool = [Candidate("/k/rules.pdf", 1, 0.3, "제1조 (숙박) 국내 출장 시 호텔 숙박과 교통의 한도를 정한다. "
                      "직급별로 다르다."),
            Candidate("/k/rules.pdf", 2, 0.2, "제2조 (한도) 국내 출장 시 호텔 1박 숙박비 한도는 직급별 "
                      "별표에 따른다."),
            Candidate("/k/policy.pdf", 2, 0.1, "Hotel limit per night: New York 300 dollars, London 250 dollars.")]
    question = "출장 중 뉴욕 호텔은 하룻밤에 얼마까지 되나요?"
    x = feature_matrix(question, pool)
    for name in ("coverage", "bm25_rel", "bigrams", "sparse_rel", "title_coverage"):
        assert x[:, COL[name]].tolist() == [0.0, 0.0, 0.0], name
    # Korean pages only: the words speak
    assert feature_matrix(question, pool[:2])[:, COL["coverage"]].min() > 0
    # a photo's OCR noise ("@ ': 구나 {7") has no script: an English pool keeps its words
    noisy = [Candidate("/e/a.pdf", 1, 0.3, "Hotel limit per night: New York 300 dollars, London 250 dollars."),
             Candidate("/e/a.pdf", 2, 0.2, "@ ': 구나 {7")]
    assert feature_matrix("What is the hotel limit in New York?", noisy)[0, COL["coverage"]] > 0


def test_words_still_speak_when_the_other_script_page_is_far_from_the_question() -> None:
    """A mixed-language folder: an English question whose nearest pages (by cosine) are English
    keeps its word features, though a Korean page sits lower in the pool."""
    english = [Candidate("/e/acme.pdf", p, 0.3 - p / 100, t, page_cos=0.9 - p / 100) for p, t in
               ((1, "ACME revenue by region in 2025: Europe 146.2, Asia 98.1 million euros."),
                (2, "ACME employees and offices in Europe and Asia, with their managers."),
                (3, "ACME risk factors: currency, supply chain, competition and regulation."))]
    korean = Candidate("/k/hanbit.pdf", 1, 0.05, "한빛전자 2025년 사업보고서 제1장 회사의 개요와 연혁 및 주요 사업",
                       page_cos=0.70)
    x = feature_matrix("What was ACME's revenue in Europe in 2025?", [*english, korean])
    assert x[0, COL["coverage"]] > x[3, COL["coverage"]] > 0  # "2025" is on the Korean page too
    # the same Korean page nearest the question: the words order nothing
    near = Candidate(korean.file, korean.page, korean.fused_score, korean.text, page_cos=0.95)
    y = feature_matrix("What was ACME's revenue in Europe in 2025?", [*english, near])
    assert y[:, COL["coverage"]].tolist() == [0.0] * 4
