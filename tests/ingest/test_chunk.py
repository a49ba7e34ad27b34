"""Chunking: token budget, whole-sentence overlap, page and section boundaries."""

from __future__ import annotations

import itertools

from ingest.chunk import Paragraph, chunk_paragraphs, count_tokens, split_sentences
from ingest.records import BBox


def _sentences(n: int) -> list[str]:
    return [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(n)]


def test_split_sentences_keeps_abbreviations_and_decimals() -> None:
    text = "Revenue was $1.15 per share, e.g. in Q3. Dr. Smith agreed. It grew 3.5%! Why? Because."
    assert split_sentences(text) == [
        "Revenue was $1.15 per share, e.g. in Q3.", "Dr. Smith agreed.", "It grew 3.5%!", "Why?", "Because.",
    ]


def test_chunks_respect_budget_and_never_split_sentences() -> None:
    sents = _sentences(40)
    paras = [Paragraph(" ".join(sents[i : i + 4]), 1, BBox(x0=0, y0=i, x1=10, y1=i + 1))
             for i in range(0, 40, 4)]
    chunks = chunk_paragraphs(paras, budget=50, overlap=12)
    assert len(chunks) > 3
    for c in chunks:
        assert count_tokens(c.text) <= 50
        assert all(s in sents for s in c.sentences)  # every piece is a whole source sentence
    # every sentence appears, in order
    seen: list[str] = []
    for c in chunks:
        seen += [s for s in c.sentences if not seen or sents.index(s) > sents.index(seen[-1])]
    assert seen == sents


def test_overlap_is_whole_trailing_sentences() -> None:
    sents = _sentences(20)
    chunks = chunk_paragraphs([Paragraph(" ".join(sents), 1, None)], budget=40, overlap=12)
    for prev, nxt in itertools.pairwise(chunks):
        shared = [s for s in nxt.sentences if s in prev.sentences]
        assert shared == prev.sentences[-len(shared):]  # a suffix of the previous chunk
        assert shared == nxt.sentences[: len(shared)]  # a prefix of the next one
        assert 0 < sum(count_tokens(s) for s in shared) <= 12


def test_zero_overlap_partitions() -> None:
    sents = _sentences(12)
    chunks = chunk_paragraphs([Paragraph(" ".join(sents), 1, None)], budget=30, overlap=0)
    assert [s for c in chunks for s in c.sentences] == sents


def test_chunks_never_cross_pages_or_sections() -> None:
    paras = [
        Paragraph("Alpha one. Alpha two.", 1, None, ("A",)),
        Paragraph("Beta one.", 1, None, ("B",)),
        Paragraph("Beta two.", 2, None, ("B",)),
    ]
    chunks = chunk_paragraphs(paras, budget=100, overlap=10)
    assert [(c.page, c.section, c.text) for c in chunks] == [
        (1, ("A",), "Alpha one. Alpha two."), (1, ("B",), "Beta one."), (2, ("B",), "Beta two."),
    ]


def test_bbox_is_union_of_blocks() -> None:
    paras = [Paragraph("One.", 1, BBox(x0=10, y0=10, x1=50, y1=20)),
             Paragraph("Two.", 1, BBox(x0=5, y0=30, x1=40, y1=45))]
    (chunk,) = chunk_paragraphs(paras, budget=100, overlap=0)
    assert chunk.bbox == BBox(x0=5, y0=10, x1=50, y1=45)
    assert chunk.text == "One.\nTwo."


def test_overlong_sentence_is_the_only_hard_split() -> None:
    long = " ".join(f"w{i}" for i in range(95))
    chunks = chunk_paragraphs([Paragraph(long, 1, None)], budget=40, overlap=0)
    assert [count_tokens(c.text) for c in chunks] == [40, 40, 15]


def test_korean_sentences_split_and_a_footer_stands_alone() -> None:
    text = "첫 문장입니다. 두 번째 문장이에요 세 번째는 물음표? 네. 매출은 3.5% 증가했다. - 1 -"
    assert split_sentences(text) == [
        "첫 문장입니다.", "두 번째 문장이에요", "세 번째는 물음표?", "네.", "매출은 3.5% 증가했다.", "- 1 -",
    ]


def test_korean_chunks_are_sentence_aligned() -> None:
    sents = [f"{i}번째 회의에서 예산 {i}억 원을 승인했다." for i in range(30)]
    chunks = chunk_paragraphs([Paragraph(" ".join(sents), 1, None)], budget=20, overlap=6)
    assert len(chunks) > 3
    for c in chunks:
        assert count_tokens(c.text) <= 20
        assert all(s in sents for s in c.sentences)
