"""Sentence splitting for chunking and quoting, English and Korean.

English keeps its rules: a sentence ends at ``.``, ``!`` or ``?`` (optionally followed by closing
quotes or brackets) before whitespace, unless the word is a known abbreviation, a single-letter
initial, or the next word starts lower-case (a single Hangul syllable such as ``네.`` is a word,
not an initial). A piece that still holds a Korean sentence ending followed by more text
(``...이에요 다음 문장``: no punctuation) goes through Kiwi's sentence splitter; pieces Kiwi ends
at an English abbreviation are joined again. Kiwi only sees those pieces because it costs about
25 ms per dense page where the rules cost well under 1 ms (``scripts/bench_text.py``), and
chunking splits every page.

Page marks (``- 1 -``, ``— 12 —``) are cut out as pieces of their own, so they never glue onto a
sentence; :func:`is_page_mark` tells a caller to skip them (a quote is never a page footer).
"""

from __future__ import annotations

import re

from ingest.text.hangul import has_hangul, kiwi

ABBREVIATIONS = frozenset(
    [
        "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "inc", "ltd", "co", "corp", "no",
        "nos", "fig", "figs", "eq", "st", "jr", "sr", "dept", "approx", "est", "jan", "feb", "mar",
        "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "p", "pp", "vol",
        "al"
    ]
)
"""Abbreviations whose trailing period does not end a sentence."""

# A Korean final ending (…다, …요, …까, …죠) before a space and more Hangul: maybe a sentence
# that ended without punctuation.
_OPEN_ENDING = re.compile(r"[다요까죠][\"'”’)\]]*\s+(?=\S*[\uac00-\ud7a3])")
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+")
_CLOSERS = ".!?\"'”’)]"
_DASHES = "\\-\u2010-\u2015~"
_DASH = f"[{_DASHES}]"
# "- 1 -" inside running text: a number of up to 4 digits between dashes, standing alone.
_INLINE_MARK = re.compile(rf"(?<!\S){_DASH}\s?\d{{1,4}}\s?{_DASH}(?!\S)")
_PAGE_MARK = re.compile(
    rf"[\s{_DASHES}]*(?:page|p\.|페이지|쪽)?\s*\d{{1,4}}\s*(?:(?:/|of)\s*\d{{1,4}})?\s*(?:페이지|쪽|page)?"
    rf"[\s{_DASHES}]*",
    re.IGNORECASE,
)


def is_page_mark(text: str) -> bool:
    """Whether ``text`` is only a page number mark: ``- 1 -``, ``3``, ``3 / 10``, ``Page 3 of 10``, ``5쪽``."""
    return bool(text.strip()) and _PAGE_MARK.fullmatch(text.strip()) is not None


def _last_word(sentence: str) -> str:
    return sentence.rsplit(" ", 1)[-1].rstrip(_CLOSERS).lower()


def _english(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        candidate = text[start : m.start()].strip()
        last_word = _last_word(candidate)
        nxt = text[m.end() : m.end() + 1]
        # Not a boundary: known abbreviation, a single-letter initial ("J. Smith"), or the next
        # sentence would start lower-case (likely a mid-sentence period).
        initial = len(last_word) == 1 and last_word.isalpha() and not has_hangul(last_word)
        if last_word in ABBREVIATIONS or initial or nxt.islower():
            continue
        out.append(candidate)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def _korean(text: str) -> list[str]:
    out: list[str] = []
    for sent in kiwi().split_into_sents(text):
        piece = sent.text.strip()
        if not piece:
            continue
        last = _last_word(out[-1]) if out else ""
        # Kiwi ends a sentence at "e.g." or "J." like at any period: join those back.
        if out and (last in ABBREVIATIONS or (len(last) == 1 and last.isascii() and last.isalpha())):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (whitespace collapsed), page marks as pieces of their own."""
    text = " ".join(text.split())
    if not text:
        return []
    out: list[str] = []
    start = 0
    for m in [*_INLINE_MARK.finditer(text), None]:
        end = m.start() if m is not None else len(text)
        piece = text[start:end].strip()
        for sentence in _english(piece) if piece else []:
            korean = has_hangul(sentence) and _OPEN_ENDING.search(sentence) is not None
            out.extend(_korean(sentence) if korean else [sentence])
        if m is not None:
            out.append(m.group())
            start = m.end()
    return out
