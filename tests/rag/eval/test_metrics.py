"""Every metric on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from rag.eval import metrics as m

# ------------------------------------------------------------------------------------ retrieval


def test_ranked_pages_keeps_first_rank_and_drops_other_files() -> None:
    hits = [("a.pdf", 3), ("b.pdf", 1), ("a.pdf", 3), ("a.pdf", 7), ("a.pdf", 1), ("a.pdf", 7)]
    assert m.ranked_pages(hits, "a.pdf") == [3, 7, 1]
    assert m.ranked_pages([], "a.pdf") == []


def test_recall_at_k() -> None:
    ranked = [4, 2, 9, 5]
    assert m.recall_at_k(ranked, {2, 5}, 1) == 0.0
    assert m.recall_at_k(ranked, {2, 5}, 2) == 0.5
    assert m.recall_at_k(ranked, {2, 5}, 4) == 1.0
    assert m.recall_at_k(ranked, {2, 5}, 100) == 1.0
    assert m.recall_at_k([], {2}, 5) == 0.0


def test_recall_counts_duplicates_once() -> None:
    # a ranking with a repeated page must not fill two slots
    assert m.recall_at_k([4, 4, 2], {2}, 2) == 1.0


def test_hit_at_k() -> None:
    assert m.hit_at_k([4, 2, 9], {9, 10}, 2) == 0.0
    assert m.hit_at_k([4, 2, 9], {9, 10}, 3) == 1.0


def test_reciprocal_rank() -> None:
    assert m.reciprocal_rank([4, 2, 9], {9}) == pytest.approx(1 / 3)
    assert m.reciprocal_rank([9, 2], {9, 2}) == 1.0
    assert m.reciprocal_rank([1, 2], {3}) == 0.0


def test_ndcg_at_k_hand_computed() -> None:
    # relevant at ranks 2 and 3; ideal puts the two relevant pages at ranks 1 and 2
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert m.ndcg_at_k([7, 1, 2, 8], {1, 2}, 3) == pytest.approx(dcg / idcg)
    # k=1 with one relevant page at rank 1 is perfect, missing it is zero
    assert m.ndcg_at_k([1, 2], {1}, 1) == 1.0
    assert m.ndcg_at_k([2, 1], {1}, 1) == 0.0
    # more relevant pages than k: the ideal DCG is capped at k
    assert m.ndcg_at_k([1, 2], {1, 2, 3, 4}, 2) == 1.0


@pytest.mark.parametrize("fn", [m.recall_at_k, m.hit_at_k, m.ndcg_at_k])
def test_retrieval_metrics_refuse_bad_input(fn: object) -> None:
    with pytest.raises(ValueError, match="relevant pages are empty"):
        fn([1], set(), 1)  # type: ignore[operator]
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        fn([1], {1}, 0)  # type: ignore[operator]


# -------------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(("a", "b"), [
    ("18.29%", "18.29 %"),
    ("18.29%", "18.29 percent"),
    ("$1,234", "1234"),
    ("$ 1,234.00", "1234"),
    ("1.2 million", "1,200,000"),
    ("$1.2m", "1200000"),
    ("$2,018mn", "2018000000"),
    ("3.5 billion", "3,500,000,000"),
    ("US$ 0.55", "$0.55"),
    ("1.50", "1.5"),
    ("three", "3"),
    ("-3.7", "\u22123.7"),
    ("The Answer.", "answer"),
    ("SUPERIOR  COURT", "superior court"),
])
def test_normalize_answer_equal(a: str, b: str) -> None:
    assert m.normalize_answer(a) == m.normalize_answer(b)


@pytest.mark.parametrize(("a", "b"), [
    ("18.29%", "18.29"),      # a percentage is not a bare number
    ("5 m", "5000000"),       # a bare "m" may be metres: not a scale
    ("-3.7", "3.7"),          # the sign matters
    ("1.2", "12"),            # the decimal point is kept
    ("2019-2020", "-2020"),   # a range is not a negative number
])
def test_normalize_answer_different(a: str, b: str) -> None:
    assert m.normalize_answer(a) != m.normalize_answer(b)


def test_normalize_numbers_examples() -> None:
    text = "Revenue of $1,234,567.50 (up 18.29 %)"
    assert m.normalize_numbers(text) == "revenue of 1234567.5 (up 18.29 percent )"
    assert m.normalize_answer(text) == "revenue of 1234567.5 up 18.29 percent"


def test_canonical_number() -> None:
    assert m.canonical_number("007") == "7"
    assert m.canonical_number("1.2", 6) == "1200000"
    assert m.canonical_number("0.00") == "0"
    assert m.canonical_number(".5") == "0.5"
    with pytest.raises(ValueError, match="not a number"):
        m.canonical_number("x")


def test_parse_list() -> None:
    assert m.parse_list("['Jun', 'Aug']") == ["Jun", "Aug"]
    assert m.parse_list("[1, 2]") == ["1", "2"]
    assert m.parse_list("[not python") is None
    assert m.parse_list("Jun") is None


# ------------------------------------------------------------------------------------- answers


def test_exact_match() -> None:
    assert m.exact_match("18.29 %", "18.29%") == 1.0
    assert m.exact_match("The answer is 18.29%", "18.29%") == 0.0
    assert m.exact_match("", "") == 0.0  # an empty gold answer never matches


def test_exact_match_of_lists_ignores_order_and_separators() -> None:
    gold = "['Jun', 'Aug']"
    assert m.exact_match("Aug, Jun", gold) == 1.0
    assert m.exact_match("Aug and Jun", gold) == 1.0
    assert m.exact_match("['aug', 'jun']", gold) == 1.0
    assert m.exact_match("Jun", gold) == 0.0
    assert m.exact_match("Jun, Aug, Sep", gold) == 0.0


def test_token_f1_hand_computed() -> None:
    # pred tokens: [revenue, was, 18.29, percent]; gold: [18.29, percent] -> P 2/4, R 2/2, F1 2/3
    assert m.token_f1("The revenue was 18.29 %", "18.29%") == pytest.approx(2 / 3)
    assert m.token_f1("no leans who are male", "No leans who are male") == 1.0
    assert m.token_f1("nothing", "something") == 0.0
    assert m.token_f1("", "x") == 0.0
    # repeated tokens count by multiplicity: pred [a1, a1], gold [a1] -> P 1/2, R 1, F1 2/3
    assert m.token_f1("x x", "x") == pytest.approx(2 / 3)


def test_contains_answer() -> None:
    assert m.contains_answer("Revenue reached $1,200,000 in Europe [1].", "1.2 million") == 1.0
    assert m.contains_answer("No leans who are male outnumber them.", "no leans who are male") == 1.0
    assert m.contains_answer("males who lean", "no leans who are male") == 0.0
    assert m.contains_answer("in June and August", "['June', 'August']") == 1.0
    assert m.contains_answer("in June", "['June', 'August']") == 0.0
    assert m.contains_answer("anything", "") == 0.0


# --------------------------------------------------------------------------- abstention, citations


def test_abstention_scores_hand_computed() -> None:
    # 3 unanswerable (F), abstained on 2 of them and on 1 answerable question
    abstained = [True, True, False, True, False]
    answerable = [False, False, False, True, True]
    s = m.abstention_scores(abstained, answerable)
    assert (s.abstained, s.unanswerable, s.correct) == (3, 3, 2)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)


def test_abstention_scores_undefined_parts_are_none() -> None:
    s = m.abstention_scores([False, False], [True, False])
    assert s.precision is None and s.recall == 0.0 and s.f1 is None
    s = m.abstention_scores([True], [True])
    assert s.precision == 0.0 and s.recall is None
    with pytest.raises(ValueError, match="abstained has 1 entries but answerable has 2"):
        m.abstention_scores([True], [True, False])


def test_citation_scores() -> None:
    cited = [("a.pdf", 3), ("a.pdf", 3), ("a.pdf", 4), ("b.pdf", 3)]
    # distinct cited pairs: (a,3) (a,4) (b,3); evidence a:{3, 5}
    assert m.citation_precision(cited, "a.pdf", {3, 5}) == pytest.approx(1 / 3)
    assert m.citation_recall(cited, "a.pdf", {3, 5}) == pytest.approx(1 / 2)
    assert m.citation_precision([], "a.pdf", {3}) is None
    assert m.citation_recall([], "a.pdf", {3}) == 0.0
    assert m.citation_recall(cited, "a.pdf", set()) is None


# ----------------------------------------------------------------------------------- aggregation


def test_mean_and_percentile() -> None:
    assert m.mean([1.0, None, 3.0]) == 2.0
    assert m.mean([None]) is None
    assert m.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert m.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert m.percentile([], 50) is None
    with pytest.raises(ValueError, match=r"q must be within 0\.\.100, got 101"):
        m.percentile([1.0], 101)


def test_document_hit_at_k() -> None:
    from rag.eval.metrics import document_hit_at_k

    hits = [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("c", 9)]
    assert document_hit_at_k(hits, "c", 5) == 1.0 and document_hit_at_k(hits, "c", 4) == 0.0
    assert document_hit_at_k(hits, "c", 3, distinct=True) == 1.0
    assert document_hit_at_k(hits, "c", 2, distinct=True) == 0.0
