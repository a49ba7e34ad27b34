"""The one home of tokenising: every job that cuts text into words, and the word lists they read.

Each job has its own function (or pattern) because each reads words for something else, and
making them one would break one of them:

==================================  =========================================================
:func:`keyword_terms`               the keyword index (BM25 sparse vectors of documents and
                                    queries): its output is part of the index format
                                    (:data:`TOKENIZER_VERSION`); codes whole and by parts, Korean
                                    morphemes, figure/table labels, :data:`STOPWORDS` dropped.
:func:`korean_terms`                the Korean share of the above, for the extractive answerer,
                                    which reads Latin words its own way (below).
:data:`ANSWER_TOKEN`,               the extractive answerer's words (``rag.generate.extractive``):
:data:`THOUSANDS`,                  numbers apart from words ("FY2024" is ``fy`` and ``2024``, a
:func:`fold_plural`                 question's year must meet the page's), ``1,234`` read as
                                    ``1234``, plurals folded, :data:`QUESTION_STOPWORDS` dropped.
:func:`chat_words`,                 the follow-up rule of a conversation (``rag.generate.chat``):
:func:`is_number_word`,             original spelling, part numbers whole with what is glued to
:data:`ANAPHORA`                    them (``HX-7720-K이며``), since the words are written back
                                    into the condensed question for the retriever to cut.
:data:`NUMBER`, :data:`NAME_WORD`,  evidence sufficiency (``rag.generate.support``): a question's
:data:`QUOTED`, :data:`PERIOD`,     facts, numbers of two digits or more and names (capitalised
:data:`NAME_STOPWORDS`              Latin words, acronyms, codes, quoted phrases) matched as text.
:data:`QUOTED_TITLE`                the reranker's quoted phrases (``rag.rerank_features``).
:func:`doc_terms`,                  the document stage (``rag.doc_stage``): a file name read as
:func:`name_words`                  words, keyword terms with letter-digit runs also split
                                    ("fy2015": ``fy``, ``2015``) since names glue them.
:func:`plain_words`                 the BM25 baseline of evaluation: letter-digit runs, as the
                                    literature's BM25 (no Korean analysis, on purpose).
:data:`SCORE_TOKEN`,                scoring an answer against the gold one (``rag.eval.metrics``,
:data:`ARTICLES`                    after its numbers are written one way): signed decimals
                                    whole, words, no articles; no stemming, so scores stay
                                    comparable with the literature's token F1.
==================================  =========================================================

The keyword tokenizer in detail:
Keyword terms of a text, the same for documents and queries, Korean included.

* Text is NFKC-normalised and lower-cased; unicode dashes become ``-``.
* Latin, digit and code runs are runs of non-Hangul word characters joined through ``-``, ``.``,
  ``/`` or ``_`` when a word character follows (``xk-4471-b``, ``v2.1``, ``example.com``); a joined
  token is a term whole *and* by its parts. Hangul ends a run, so a particle glued to a code
  (``HX-7720-K이며``) leaves the code intact.
* Hangul runs are analysed into morphemes by Kiwi, over the whole text so that context decides:
  particles, endings, bound nouns, numerals, pronouns, adverbs and determiners are dropped; nouns
  are kept, a compound noun (adjacent nouns with nothing between them) as a whole, by its parts
  and, from three parts on, by each adjacent pair (``정보보호관리체계`` is found by ``정보보호``);
  a noun suffix stays on the whole and on the last part (``영업이익률``: ``영업이익률``, ``영업``,
  ``이익``, ``이익률``), the plural ``들`` is dropped; verb and adjective stems are kept in
  dictionary form (``높은`` -> ``높다``).
* Small English and Korean stopword lists are dropped.
* A figure or table label ("Figure 3", "Fig. 3", "Table 2", "그림 2", "표 3", "<표 3>") adds one
  label term (``figure:3``, ``table:2``) at its place, the same in both languages, so a question
  naming "Figure 3" finds the caption and the pages that cite it, not every page holding a "3".

:data:`TOKENIZER_VERSION` names this behaviour; an index records it and refuses another.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

from ingest.text.hangul import HANGUL_CLASS, HANGUL_RUN, has_hangul, kiwi, kiwi_version

TOKENIZER_VERSION = f"mmrag-kw3+kiwi-{kiwi_version()}"
"""Identity of :func:`keyword_terms`: bump the ``kw`` number whenever its output changes."""
LEGACY_TOKENIZER = "mmrag-kw1"
"""The ``\\w+`` tokenizer before Korean analysis; indexes that record no tokenizer were built by it."""

MAX_TERM_CHARS = 64
"""Longer tokens (base64 blobs, hashes) are cut to this many characters."""

STOPWORDS: frozenset[str] = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "did", "do", "does",
    "for", "from", "had", "has", "have", "he", "her", "his", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "no", "not", "of", "on", "or", "our", "she", "so", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "was", "we", "were",
    "what", "when", "where", "which", "who", "whom", "why", "will", "with", "you", "your", "s",
    "t",
})
"""English words too common to be keywords."""

QUESTION_STOPWORDS: frozenset[str] = (STOPWORDS - {"s", "t"}) | frozenset({
    "about", "above", "according", "after", "again", "against", "all", "also", "am", "any",
    "because", "before", "being", "below", "between", "both", "could", "describe", "document",
    "documents", "doing", "down", "during", "each", "explain", "few", "find", "further", "give",
    "having", "here", "hers", "herself", "him", "himself", "how", "itself", "just", "list", "many",
    "mention", "mentioned", "mentions", "more", "most", "much", "myself", "nor", "off", "once", "only",
    "other", "ours", "ourselves", "out", "over", "own", "per", "please", "said", "same", "say", "says",
    "should", "show", "shows", "some", "such", "tell", "theirs", "themselves", "through", "too",
    "under", "until", "up", "very", "via", "vs", "while", "would", "yours", "yourself", "yourselves",
})
"""Words of a question that name no topic: :data:`STOPWORDS` plus the ways of asking ("describe",
"according", "mentioned"). The extractive answerer and follow-up detection read questions with it;
the keyword index keeps to :data:`STOPWORDS` (its terms are part of ``TOKENIZER_VERSION``)."""

KO_STOPWORDS: frozenset[str] = frozenset({
    "얼마", "때", "이다", "아니다", "있다", "없다", "하다", "되다", "같다", "주다", "알리다", "말하다",
})
"""Korean nouns and stems that survive the tag filter but carry no topic (question words, light verbs)."""

NOUN_TAGS = frozenset({"NNG", "NNP"})
"""Common and proper nouns; bound nouns (NNB: 것, 수, 년, 원) are dropped."""
STEM_TAGS = frozenset({"VV", "VA"})
"""Verb and adjective stems, kept in dictionary form (stem + 다)."""
ROOT_TAGS = frozenset({"XR"})
PLURAL_SUFFIXES = frozenset({"들"})
"""Noun suffixes (XSN) dropped like particles; the others (률, 적, 성 ...) stay on their noun."""
"""Roots (깨끗 in 깨끗하다), kept as they are."""

_DASHES = re.compile(r"[\u2010\u2011\u2012\u2013\u2014\u2212\u00ad]")
_WORD = rf"[^\W{HANGUL_CLASS}]"
_TOKEN = re.compile(rf"{_WORD}+(?:[-./]{_WORD}+)*")
_SPLIT = re.compile(r"[-./_]+")
# "표" and "그림" only standing alone (대표 3명 is no table); a number of 1-3 digits, maybe "3.2".
_LABEL = re.compile(r"(?:\b(figures?|figs?\.?|tables?|charts?)|(?<![가-힣])(그림|표|도표))"
                    r"\s*(\d{1,3}(?:[.-]\d{1,2})?)(?!\d|,\d)")
_LABEL_KINDS = {"그림": "figure", "도표": "figure", "표": "table"}


def normalise(text: str) -> str:
    """NFKC, unicode dashes as ``-``, lower case: the form every term is read from."""
    return _DASHES.sub("-", unicodedata.normalize("NFKC", text)).lower()


def _code_terms(norm: str) -> Iterator[tuple[int, str]]:
    for match in _TOKEN.finditer(norm):
        token = match.group()[:MAX_TERM_CHARS]
        parts = [p for p in _SPLIT.split(token) if p]
        if len(parts) > 1:
            yield match.start(), token
            yield from ((match.start(), p) for p in parts if p not in STOPWORDS)
        elif parts and parts[0] not in STOPWORDS:
            yield match.start(), parts[0]


def label_terms(norm: str) -> Iterator[tuple[int, str]]:
    """(position, term) of each figure/table label of normalised text: ``figure:3``, ``table:2``."""
    for match in _LABEL.finditer(norm):
        word = match.group(1) or match.group(2)
        kind = _LABEL_KINDS.get(word) or ("table" if word.startswith("tab") else "figure")
        yield match.start(), f"{kind}:{match.group(3).replace('-', '.')}"


def _compound(start: int, parts: list[str], suffix: str = "") -> Iterator[tuple[int, str]]:
    """A noun group: whole (with its suffix), each part, the last part with the suffix, pairs."""
    if len(parts) > 1 or suffix:
        yield start, ("".join(parts) + suffix)[:MAX_TERM_CHARS]
    yield from ((start, p) for p in parts)
    if suffix and len(parts) > 1:
        yield start, parts[-1] + suffix
    if len(parts) > 2:
        yield from ((start, a + b) for a, b in pairwise(parts))


def _korean_terms(norm: str) -> Iterator[tuple[int, str]]:
    """(position, term) of the Korean content terms of normalised text."""
    runs = [(m.start(), m.end()) for m in HANGUL_RUN.finditer(norm)]
    if not runs:
        return
    starts = [s for s, _ in runs]
    nouns: list[str] = []
    noun_start = noun_end = -1
    noun_run = -1
    for tok in kiwi().tokenize(norm):
        begin, end = tok.start, tok.start + tok.len
        r = bisect.bisect_right(starts, begin) - 1
        if r < 0 or end > runs[r][1]:
            continue  # a Latin, digit or symbol morpheme: the code branch has it
        tag = tok.tag.split("-", 1)[0]
        adjacent = bool(nouns) and r == noun_run and begin == noun_end
        if tag in NOUN_TAGS and adjacent:
            nouns.append(tok.form)
            noun_end = end
            continue
        if tag == "XSN" and adjacent and tok.form not in PLURAL_SUFFIXES:
            # 영업이익률 is not 영업이익: the suffix stays on the whole and on the last part.
            yield from _compound(noun_start, nouns, tok.form)
            nouns = []
            continue
        if nouns:
            yield from _compound(noun_start, nouns)
            nouns = []
        if tag in NOUN_TAGS:
            nouns, noun_start, noun_end, noun_run = [tok.form], begin, end, r
        elif tag in STEM_TAGS:
            yield begin, tok.form + "다"
        elif tag in ROOT_TAGS:
            yield begin, tok.form
    if nouns:
        yield from _compound(noun_start, nouns)


def korean_terms(text: str) -> list[str]:
    """Korean content terms of ``text`` (nouns, compounds and their parts, stems), stopwords removed."""
    if not has_hangul(text):
        return []
    return [t for _, t in _korean_terms(normalise(text)) if t not in KO_STOPWORDS]


def keyword_terms(text: str) -> list[str]:
    """Keyword terms of ``text`` in text order: codes followed by their parts, Korean nouns and stems."""
    norm = normalise(text)
    terms = list(_code_terms(norm))
    extra = list(label_terms(norm))
    if has_hangul(norm):
        extra += [(pos, t) for pos, t in _korean_terms(norm) if t not in KO_STOPWORDS]
    if extra:
        terms = sorted(terms + extra, key=lambda pt: pt[0])  # stable: a code's parts stay after it
    return [t for _, t in terms]


# -- the extractive answerer's words ---------------------------------------------------------------

ANSWER_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
"""A word of the extractive answerer: a number (separators inside) or a run of letters, so digits
glued to letters ("FY2024", "v2") come apart."""
THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
"""A number written with thousands separators ("1,234.5"): read without them."""


def fold_plural(word: str) -> str:
    """``companies`` -> ``company``, ``pumps`` -> ``pump`` (not ``glass``): the answerer matches a
    question's word with the page's whatever the number."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


# -- the follow-up rule's words --------------------------------------------------------------------

_CHAT_WORD = re.compile(r"[^\W_][\w\-./]*", re.UNICODE)

ANAPHORA = frozenset([
    "it", "its", "they", "them", "their", "theirs", "this", "that", "these", "those", "he", "she", "him",
    "her", "his", "there", "then", "same", "former", "latter", "above", "previous", "earlier",
])
"""Words that point back to an earlier turn: a question holding one leans on the conversation."""


def chat_words(text: str) -> list[str]:
    """Words of a conversation turn in their own spelling, codes and part numbers whole
    (``XK-4471-B``, ``v2.1``, ``HX-7720-K이며``), outer ``.``, ``-``, ``/`` stripped."""
    return [w.strip(".-/") for w in _CHAT_WORD.findall(text) if w.strip(".-/")]


def is_number_word(word: str) -> bool:
    """Whether a :func:`chat_words` word is a number, also with a Korean unit or particle glued
    on (``2023년``, ``1,234억은``)."""
    bare = HANGUL_RUN.sub("", word) if word[:1].isdigit() else word
    return bare.replace(",", "").replace(".", "").isdigit()


# -- evidence sufficiency: a question's numbers and names ------------------------------------------

NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
"""A number, with thousands separators or a decimal part."""
NAME_WORD = re.compile(r"[A-Za-z][A-Za-z0-9&'\-.]*[A-Za-z0-9]|[A-Za-z]")
"""A Latin word that may be a name: letters, digits and ``&'-.`` inside (``AT&T``, ``XK-4471-B``)."""
QUOTED = re.compile(r"[\"“”‘’]([^\"“”‘’]{3,60})[\"“”‘’]|(?<![A-Za-z])'([^']{3,60})'(?![A-Za-z])")
"""A quoted phrase: a name of its own (group 1 or 2). A straight single quote only when no letter
touches it outside: "What's the colour of the 'loss_cls' line" quotes ``loss_cls``, not
"s the colour of the "."""
QUOTED_TITLE = re.compile(r"[\"“”‘’「」『』]([^\"“”‘’「」『』]{3,80})[\"“”‘’「」『』]")
"""A quoted title for the reranker's phrase feature (``rag.rerank_features``): corner brackets
too (「보고」), since a Korean title is quoted so; longer than a name."""
PERIOD = re.compile(r"(?:fy|cy|q[1-4]|h[12])'?\d{2,4}", re.IGNORECASE)
"""A fiscal period ("FY2015", "Q2"): its number is one of the question's numbers, and a filing
writes "fiscal 2015", so it is no name."""

NAME_STOPWORDS = frozenset({
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is", "are", "was", "were", "do",
    "does", "did", "the", "a", "an", "in", "on", "of", "for", "to", "and", "or", "according", "as", "at",
    "by", "from", "with", "that", "this", "these", "those", "it", "its", "if", "please", "based", "give",
    "list", "tell", "answer", "question", "document", "documents", "report", "page", "pages", "figure",
    "figures", "table", "tables", "chart", "slide", "slides", "section", "appendix", "note", "notes", "fy",
    "q1", "q2", "q3", "q4", "usd", "eur", "gbp", "krw", "us", "i", "ii", "iii", "iv", "v", "vi",
})
"""Capitalised words that name nothing: question words, sentence starters, labels, units."""


# -- the document stage's words ---------------------------------------------------------------------

_SPLIT_DIGITS = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")
_NAME_SPLIT = re.compile(r"[_\W]+")


def name_words(path: str) -> str:
    """The words of a file name: ``/x/ADOBE_2015_10K.pdf`` -> ``ADOBE 2015 10K``; camel case is
    left as is, hashes stay one (rare, harmless) word."""
    return " ".join(w for w in _NAME_SPLIT.split(Path(path).stem) if w)


def doc_terms(text: str) -> list[str]:
    """Keyword terms with letter-digit runs also split ("fy2015" -> "fy2015", "fy", "2015")."""
    out: list[str] = []
    for t in keyword_terms(text):
        out.append(t)
        parts = _SPLIT_DIGITS.split(t)
        if len(parts) > 1:
            out.extend(p for p in parts if len(p) > 1 or p.isdigit())
    return out


# -- the evaluation baseline's words ----------------------------------------------------------------

_PLAIN_WORD = re.compile(r"[^\W_]+")


def plain_words(text: str) -> list[str]:
    """Lower-cased letter-digit runs: the BM25 baseline's tokens (``Revenue, 2018: $1.2bn`` ->
    ``revenue``, ``2018``, ``1``, ``2bn``)."""
    return _PLAIN_WORD.findall(text.lower())


# -- scoring an answer ------------------------------------------------------------------------------

SCORE_TOKEN = re.compile(r"-?\d+(?:\.\d+)?|[^\W_]+")
"""A token of a normalised answer: a number with its sign and decimals, or a word."""
ARTICLES = frozenset({"a", "an", "the"})
"""Dropped from answers before they are compared."""
