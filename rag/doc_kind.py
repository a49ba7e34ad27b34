"""Kinds of documents: what a question calls its document ("the paper", "these slides", "the
manual", "논문", "발표자료") and what a file is, read from what the index stores of it.

A whole-folder question often names nothing of its file but its kind: "How many pie charts are
there in the paper?", "How many tables are there in the whole slides?". In a folder of forty files
of which four are papers, that kind is a strong hint the word and vector signals of
:mod:`rag.doc_stage` cannot see (the profile of a paper does not say "paper").

Only kinds that both sides state reliably are read:

* ``slides``: the question says slide(s), deck, presentation, PowerPoint, 슬라이드, 발표자료;
  the file's pages are mostly wider than tall (a slide deck exported to PDF; page items record
  their render's width and height).
* ``paper``: the question says paper, preprint, 논문; the file's first chunks hold an
  "Abstract" or an arXiv id (a scientific article's first page; no other dev file's first chunks
  say "abstract").
* ``filing``: the question says 10-K, 10-Q, 8-K, SEC filing, annual / quarterly report,
  사업보고서; the file's name or first chunks say so (or "Securities and Exchange Commission").
* ``guide``: the question says manual, guide, guidebook, handbook, user guide, 설명서, 매뉴얼,
  안내서; the file's name says manual / guide / handbook, or its first chunks a title such as
  "user guide", "guidebook", "handbook", 설명서 (in prose "guide" is a verb).
* ``minutes``: the question says meeting minutes, minutes of the meeting, 회의록; the file's name
  says minutes, or its first chunks "meeting minutes" / 회의록.

"Report" is not read: it names a Pew survey, a 10-K, an inspection, a travel expense report
("경비 보고서") alike. A file may have several kinds (a guide written as slides) or none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

KINDS = ("slides", "paper", "filing", "guide", "minutes")

_Q_PATTERNS: dict[str, re.Pattern[str]] = {
    "slides": re.compile(r"\b(?:slides?|slide ?decks?|decks?|presentations?|power ?points?|ppts?)\b"
                         r"|슬라이드|발표 ?자료", re.IGNORECASE),
    "paper": re.compile(r"(?<!white )\b(?:papers?|preprints?)\b|논문", re.IGNORECASE),
    "filing": re.compile(r"\b(?:10-?[KQ]s?|8-?Ks?|sec filings?|annual reports?|quarterly reports?)\b"
                         r"|사업 ?보고서|분기 ?보고서", re.IGNORECASE),
    "guide": re.compile(r"\b(?:manuals?|guides?|guide ?books?|handbooks?|user guides?|instructions? manual)\b"
                        r"|설명서|매뉴얼|안내서|가이드", re.IGNORECASE),
    "minutes": re.compile(r"\b(?:meeting minutes|minutes of (?:the )?meeting)\b|회의록", re.IGNORECASE),
}

_F_PATTERNS: dict[str, re.Pattern[str]] = {
    "filing": re.compile(r"(?<![a-z0-9])(?:10-?k|10-?q|8-?k)(?![a-z0-9])|securities and exchange commission"
                         r"|\b(?:annual|quarterly) report\b|사업 ?보고서|분기 ?보고서", re.IGNORECASE),
    # in prose "guide" is a verb ("to guide the reasoning"): the first chunks count as a title only
    "guide": re.compile(r"\b(?:user(?:'s)? (?:guide|manual)|owner(?:'s)? manual|instruction manual|guidebook|handbook"
                        r"|quick start guide)s?\b|사용 ?설명서|설명서|매뉴얼|안내서", re.IGNORECASE),
    "minutes": re.compile(r"\b(?:meeting minutes|minutes of (?:the )?meeting)\b|회의록", re.IGNORECASE),
}
_NAME_PATTERNS: dict[str, re.Pattern[str]] = {
    "guide": re.compile(r"\b(?:manual|guide|guidebook|handbook)s?\b", re.IGNORECASE),
    "minutes": re.compile(r"\bminutes\b", re.IGNORECASE),  # in prose: "within 90 minutes"
}
_ABSTRACT = re.compile(r"\babstract\b", re.IGNORECASE)
_ARXIV = re.compile(r"\barxiv:\s?\d{4}\.\d{4,5}", re.IGNORECASE)

LANDSCAPE_SHARE = 0.6
"""A file is a slide deck when at least this share of its sampled pages is wider than tall
(dev split: the six slide decks 1.0, a landscape brochure 0.88, every other file 0.0-0.07)."""


def question_kinds(question: str) -> frozenset[str]:
    """The document kinds a question names (see the module doc); empty when it names none."""
    return frozenset(k for k, p in _Q_PATTERNS.items() if p.search(question))


def file_kinds(name: str, first_text: str, page_sizes: Iterable[tuple[int, int]]) -> frozenset[str]:
    """The kinds of a file from its name's words, its first chunks' text and the (width, height)
    of some of its page renders (any sample; none: no slide verdict)."""
    out: set[str] = set()
    sizes = [(w, h) for w, h in page_sizes if w > 0 and h > 0]
    if sizes and sum(w > h for w, h in sizes) >= LANDSCAPE_SHARE * len(sizes):
        out.add("slides")
    if _ABSTRACT.search(first_text) or _ARXIV.search(first_text):
        out.add("paper")
    both = f"{name}\n{first_text}"
    out.update(kind for kind, pattern in _F_PATTERNS.items() if pattern.search(both))
    out.update(kind for kind, pattern in _NAME_PATTERNS.items() if pattern.search(name))
    return frozenset(out)
