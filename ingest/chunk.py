"""Structure-aware chunking: paragraphs → sentence-aligned chunks within a token budget.

Tokens are whitespace tokens (``len(text.split())``): cheap, model-free and stable, and a
fair proxy for sub-word tokens at the budgets used here. Sentences come from
:func:`ingest.text.sentences.split_sentences` (English rules; Kiwi for text with Hangul). Chunks never cross a page or a
section boundary, so every chunk has exactly one page and one heading path to cite. The
overlap between consecutive chunks is carried as whole trailing sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ingest.records import BBox
from ingest.text.sentences import split_sentences

__all__ = ["PAGE_ITEM_CHARS", "Chunk", "Paragraph", "chunk_paragraphs", "count_tokens", "page_item_text",
           "split_sentences"]

PAGE_ITEM_CHARS = 4000
"""Text kept on a page item: a dense statement page is ~3,000 characters; the embedder's own
window cut (``rag.indexing.cut_for_window``) applies on top, the keywords see it all."""
PROSE_PAGE_CHARS = 2000
"""The cap of ``prose`` mode (as before issue 18)."""

@dataclass(frozen=True)
class Paragraph:
    """A block of text in reading order, with where it sits."""

    text: str
    page: int
    bbox: BBox | None
    section: tuple[str, ...] = ()


@dataclass
class Chunk:
    """A chunk ready to become a ``TextChunk``."""

    text: str
    page: int
    bbox: BBox | None
    section: tuple[str, ...]
    sentences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Sentence:
    text: str
    para: int
    bbox: BBox | None

    @property
    def tokens(self) -> int:
        return len(self.text.split())


def count_tokens(text: str) -> int:
    """Whitespace tokens of ``text``: the unit of ``chunk_tokens`` and ``chunk_overlap``."""
    return len(text.split())


def _union(boxes: Sequence[BBox | None]) -> BBox | None:
    real = [b for b in boxes if b is not None]
    if not real:
        return None
    return BBox(
        x0=min(b.x0 for b in real), y0=min(b.y0 for b in real),
        x1=max(b.x1 for b in real), y1=max(b.y1 for b in real),
    )


def _hard_split(sentence: _Sentence, budget: int) -> list[_Sentence]:
    """Last resort for one 'sentence' longer than the whole budget (lists, run-on tables)."""
    words = sentence.text.split()
    return [
        _Sentence(" ".join(words[i : i + budget]), sentence.para, sentence.bbox)
        for i in range(0, len(words), budget)
    ]


def _render(sentences: Sequence[_Sentence]) -> str:
    parts: list[str] = []
    prev_para: int | None = None
    for s in sentences:
        if prev_para is not None:
            parts.append(" " if s.para == prev_para else "\n")
        parts.append(s.text)
        prev_para = s.para
    return "".join(parts)


def _pack(sentences: list[_Sentence], budget: int, overlap: int) -> list[list[_Sentence]]:
    """Greedy packing of sentences into chunks of at most ``budget`` tokens with overlap."""
    groups: list[list[_Sentence]] = []
    current: list[_Sentence] = []
    fresh = 0  # sentences in ``current`` that are not overlap carried from the previous chunk
    for s in sentences:
        size = sum(x.tokens for x in current)
        if current and fresh and size + s.tokens > budget:
            groups.append(current)
            carried: list[_Sentence] = []
            for prev in reversed(current):
                if sum(x.tokens for x in carried) + prev.tokens > overlap:
                    break
                carried.insert(0, prev)
            # The overlap must leave room for the new sentence, or it is dropped.
            while carried and sum(x.tokens for x in carried) + s.tokens > budget:
                carried.pop(0)
            current, fresh = carried, 0
        current.append(s)
        fresh += 1
    if current and fresh:
        groups.append(current)
    return groups


def chunk_paragraphs(paragraphs: Sequence[Paragraph], budget: int, overlap: int) -> list[Chunk]:
    """Chunk ``paragraphs`` (in reading order) into sentence-aligned chunks.

    A chunk holds at most ``budget`` whitespace tokens, starts where the previous one ended
    minus up to ``overlap`` tokens of whole sentences, and never spans two pages or two
    sections. A single sentence longer than ``budget`` is the one thing split mid-way.
    """
    if budget < 1:
        raise ValueError(f"budget must be at least 1. Currently, budget is {budget}")
    overlap = max(0, min(overlap, budget // 2))
    chunks: list[Chunk] = []
    run: list[Paragraph] = []

    def flush() -> None:
        if not run:
            return
        sentences: list[_Sentence] = []
        for i, para in enumerate(run):
            for text in split_sentences(para.text):
                s = _Sentence(text, i, para.bbox)
                sentences.extend(_hard_split(s, budget) if s.tokens > budget else [s])
        for group in _pack(sentences, budget, overlap):
            chunks.append(Chunk(
                text=_render(group), page=run[0].page, bbox=_union([s.bbox for s in group]),
                section=run[0].section, sentences=[s.text for s in group],
            ))
        run.clear()

    for para in paragraphs:
        if run and (para.page != run[0].page or para.section != run[0].section):
            flush()
        run.append(para)
    flush()
    return chunks


_LEADER = re.compile(r"[ \t]*(?:\.[ \t]?){4,}[ \t]*")


def strip_leaders(text: str) -> str:
    """``text`` without dot leaders ("Net income ........ $ 629" -> "Net income $ 629"): filings
    set a row label's dots out to the figures' column; every dot costs a token and blurs the
    embedding."""
    return _LEADER.sub(" ", text).strip()


def _table_words(md: str) -> str:
    """A table item's text without markdown: the separator row dropped, cells joined by spaces."""
    lines = [ln for ln in md.splitlines() if ln.strip() and not set(ln.strip()) <= set("|-: ")]
    return "\n".join(" ".join(c.strip() for c in ln.strip().strip("|").split("|") if c.strip()) for ln in lines)


def page_item_text(prose: str, tables: Sequence[str], mode: str = "page") -> str:
    """The text of a page item (``ingest.page_item_text``): ``prose`` (the page's text without
    its tables) and, in ``page`` mode (the default), each table item's text of that page (caption or title,
    then rows, without markdown; a header repeated in split parts kept once), at most
    ``PAGE_ITEM_CHARS`` characters."""
    if mode == "prose":
        return prose[:PROSE_PAGE_CHARS]
    prose = strip_leaders(prose)
    parts = [prose] if prose else []
    if tables:
        seen: set[str] = set(prose.splitlines())  # a title above the table is prose too
        for t in tables:
            for line in _table_words(t).splitlines():
                if line not in seen:
                    seen.add(line)
                    parts.append(line)
    return "\n".join(parts)[:PAGE_ITEM_CHARS]
