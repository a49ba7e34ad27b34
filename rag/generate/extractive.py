"""A generator without a model: quotes the evidence sentences or table rows that best match the question.

Each sentence (or table row, rendered as ``header: cell; ...``) is scored by the question terms
it contains, weighted by how rare they are across the evidence; numbers in the question weigh
three times as much, and higher-ranked evidence is favoured. The answer starts with one short
line: the best sentence, or from a table row the cells of the columns the question names with
their row and column headers (``Europe, 2025: 146.2``; a key/value row as ``참석자: …``); then the
supporting quotes, each with its [n]. Titles, headings, captions and footers never answer. When
no sentence covers enough of the question it abstains with the abstain sentence of the
question's language. Evidence text is only ever quoted, never obeyed.

A question in the other language than its evidence (a Korean question over an English policy)
shares no word with it: with the index's multilingual embedder (:meth:`ExtractiveGenerator.use_embedder`)
the other-language sentences are ranked by their similarity to the question instead.

Korean is read like the keyword branch reads it (:func:`ingest.text.tokens.korean_terms`: Kiwi
morphemes, particles and endings dropped), and sentences come from
:func:`ingest.text.sentences.split_sentences`; a page mark (``- 1 -``) is never a quote.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from ingest.table_headers import first_row_is_data, is_key_value
from ingest.text.hangul import HANGUL_RUN, has_hangul
from ingest.text.sentences import is_page_mark, split_sentences
from ingest.text.tokens import ANSWER_TOKEN as _TERM_RE
from ingest.text.tokens import QUESTION_STOPWORDS as STOPWORDS
from ingest.text.tokens import THOUSANDS as _THOUSANDS_RE
from ingest.text.tokens import fold_plural as _stem
from ingest.text.tokens import korean_terms
from rag.backend_settings import ExtractiveGenerateConfig
from rag.embed.base import Embedder
from rag.generate.prompting import abstain_sentence
from rag.generate.support import Thresholds, asked_part
from rag.records import Evidence

log = logging.getLogger(__name__)

CROSS_COVERAGE = 0.5
"""Below this coverage of the question by its best same-script sentence, sentences in the other
script (Korean for an English question, English for a Korean one) are ranked by the embedder."""
MAX_CROSS_UNITS = 48
"""Sentences of the other script embedded for one question, in evidence order."""
SUPPORTED_COVERAGE = 0.01
"""``min_coverage`` when the evidence-sufficiency check (``rag.generate.support``) decides."""
NUMBER_WEIGHT = 3.0
"""Weight of a number in the question relative to a word."""

_TABLE_SEP_RE = re.compile(r"^\|?\s*:?-{2,}")
_BRACKET_NUM_RE = re.compile(r"\[(\s*\d[\d\s,;\-\u2010-\u2015]*)\]")
_MAX_QUOTE = 300


def terms(text: str) -> list[tuple[str, bool]]:
    """Content terms of ``text`` as ``(term, is_number)``: lower-cased, stop words removed,
    plurals folded, thousands separators dropped from numbers; Korean as nouns and stems
    (``영업이익은`` -> ``영업이익``, ``영업``, ``이익``)."""
    out: list[tuple[str, bool]] = []
    low = text.lower()
    korean = has_hangul(low)
    for tok in _TERM_RE.findall(HANGUL_RUN.sub(" ", low) if korean else low):
        if tok[0].isdigit():
            out.append((tok.replace(",", "") if _THOUSANDS_RE.fullmatch(tok) else tok.rstrip(".,"), True))
        elif tok not in STOPWORDS and len(tok) > 1:
            out.append((_stem(tok), False))
    if korean:
        out.extend((t, False) for t in korean_terms(text))
    return out


@dataclass(frozen=True)
class _Unit:
    n: int
    """1-based evidence number."""
    quote: str
    terms: frozenset[str]
    cells: tuple[tuple[str, str], ...] = ()
    """``(column header, cell)`` of a table row, in column order; empty for a sentence."""
    key_value: bool = False
    """A row of a key/value table: its quote is ``key: value``."""


def _clip(text: str) -> str:
    text = " ".join(text.split())
    # Bracketed numbers inside a quote (a paper's own references) must not read as our citations.
    text = _BRACKET_NUM_RE.sub(lambda m: "(" + m.group(1) + ")", text)
    return text if len(text) <= _MAX_QUOTE else text[: _MAX_QUOTE - 1].rstrip() + "…"


_CAPTION_RE = re.compile(r"^(table|tab\.|표)\s*\d+", re.IGNORECASE)
_LABEL_RE = re.compile(r"^(table|tab\.|fig\.?|figure|chart|exhibit|표|그림|도표|사진)\s*\d+", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"[.!?。…][\"'”’)\]]*$|[다요죠까음함됨임]$")
MAX_TITLE_WORDS = 10
"""A line this short that ends like no sentence is a title, heading or footer, not an answer."""


def _is_title(sentence: str) -> bool:
    """A title, heading, caption or running header/footer ("ACME Corporation Annual Report 2025",
    "제3장 경영 성과", "Table 1: Revenue by region"): never an answer, never quoted. A ``key: value``
    line ("담당자: 한지우") is kept: it states something."""
    s = sentence.strip()
    if _LABEL_RE.match(s):
        return True
    if _SENTENCE_END_RE.search(s) or ":" in s.rstrip(":") or _continues(s):
        return False
    return len(s.split()) <= MAX_TITLE_WORDS


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _row_units(n: int, header: list[str], body: list[list[str]], caption: frozenset[str]) -> list[_Unit]:
    """One unit per row of a markdown table; a key/value table's rows read ``key: value``, and its
    first row is one more pair when it holds data rather than column names."""
    key_value = is_key_value(header, body)
    if key_value and first_row_is_data(header, body):
        header, body = ["", ""], [header, *body]
    units: list[_Unit] = []
    for cells in body:
        if key_value:
            quote = f"{cells[0]}: {cells[1]}" if cells[0] and cells[1] else cells[0] or cells[1]
        elif len(header) == len(cells) and any(header):
            quote = "; ".join(f"{h}: {c}" if h else c for h, c in zip(header, cells, strict=True) if c)
        else:
            quote = " | ".join(c for c in cells if c)
        if not quote:
            continue
        names = header if len(header) == len(cells) else [""] * len(cells)
        # A row matches through its table's caption too ("Table 1: Revenue by region"): a
        # question names the measure, the row holds only the region and the numbers.
        units.append(_Unit(n, _clip(quote), _unit_terms(quote) | caption,
                           tuple(zip(names, cells, strict=True)), key_value))
    return units


# A line ending in a particle or connective (Korean ``…것을``, ``…하였고,``) or an English function
# word or comma goes on in the next line: text wrapped by the page, even inside a text chunk.
_KOREAN_OPEN_END = re.compile(r"[\uac00-\ud7a3]*(?:을|를|은|는|의|에|로|고|며|와|도|에서|에게|으로|하여|하고|,)$")


def _continues(line: str) -> bool:
    words = line.split()
    if not words or _SENTENCE_END_RE.search(line):
        return False
    last = words[-1]
    return (last.endswith((",", "-", "–")) or last.lower() in STOPWORDS
            or (has_hangul(last) and len(last) >= 2 and _KOREAN_OPEN_END.fullmatch(last) is not None))


def _paragraphs(text: str) -> list[str]:
    """Paragraphs of prose. Lines go together unless a blank line, a page mark, a sentence end or
    a line much shorter than its block's longest comes between: a heading ("1 Overview", "제3장
    경영 성과") is never glued to the sentence after it, and a sentence the page wrapped (page
    text, OCR, and text chunks of PDFs set in narrow columns) is read whole. A line that plainly
    goes on (:func:`_continues`) is always joined to the next."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        longest = max((len(ln) for ln in lines), default=0)
        current: list[str] = []
        for line in lines:
            if is_page_mark(line):
                continue
            current.append(line)
            if not _continues(line) and (len(line) < 0.6 * longest or _SENTENCE_END_RE.search(line)):
                out.append(" ".join(current))
                current = []
        if current:
            out.append(" ".join(current))
    return out


def _units(n: int, ev: Evidence) -> tuple[list[_Unit], list[_Unit]]:
    """Sentences of prose and rows of markdown tables of one piece of evidence, and apart from
    them its titles, headings and captions (they count as evidence seen, never as answers)."""
    units: list[_Unit] = []
    titles: list[_Unit] = []
    prose: list[str] = []
    caption: frozenset[str] = frozenset()
    table: list[list[str]] = []

    def end_table() -> None:
        if len(table) == 1:
            # A "table" of one row is text the parser boxed (a page's columns read as cells): its
            # cells are prose, not column names of no row.
            prose.extend(["", *(c for c in table[0] if c), ""])
        elif table:
            units.extend(_row_units(n, table[0], table[1:], caption))
        table.clear()

    for line in ev.text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            if not _TABLE_SEP_RE.match(stripped):
                table.append(_cells(stripped))
            continue
        end_table()
        prose.append(line)
        if stripped:
            caption = (frozenset(t for t, is_num in terms(stripped) if not is_num)
                       if _CAPTION_RE.match(stripped) else frozenset())
    end_table()
    for para in _paragraphs("\n".join(prose)):
        for sentence in split_sentences(para):
            if is_page_mark(sentence):
                continue
            unit = _Unit(n, _clip(sentence), _unit_terms(sentence))
            (titles if _is_title(sentence) else units).append(unit)
    return units, titles


_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def _script(text: str) -> str:
    """``ko`` for text with Hangul, ``en`` for text with Latin words, ``""`` for neither (a list
    mark "1.", a bare number): which side of a Korean/English pair a sentence is on."""
    return "ko" if has_hangul(text) else "en" if _LATIN_WORD.search(text) else ""


def _term_set(text: str) -> frozenset[str]:
    return frozenset(t for t, _ in terms(text))


def _unit_terms(text: str) -> frozenset[str]:
    """Terms of a sentence or row; a Korean noun of three or more syllables also matches without
    its last one, as a question's shorter noun: ``참석자`` matches ``참석``, ``매출액`` matches ``매출``."""
    found = _term_set(text)
    return found | {t[:-1] for t in found if len(t) >= 3 and has_hangul(t) and not t[0].isdigit()}


def short_answer(unit: _Unit, question_terms: Sequence[str]) -> str:
    """The first line of an answer from ``unit``: a sentence in quotes; a key/value row as
    ``key: value``; a table row as its row header and the cells of the columns the question
    names (``Europe, 2025: 146.2``), or the whole row when the question names no column."""
    if not unit.cells:
        return f'"{unit.quote}"'
    if unit.key_value:
        return unit.quote
    wanted = frozenset(question_terms)
    label = unit.cells[0][1]  # the row header: "Europe", or "2024" in a table of years
    picked = [(h, c) for h, c in unit.cells[1:] if h and c and _term_set(h) & wanted]
    if not picked:
        return f'"{unit.quote}"'
    values = "; ".join(_clip(f"{h}: {c}") for h, c in picked)
    return f"{label}, {values}" if label else values


@dataclass(frozen=True)
class Scored:
    """One candidate answer unit (sentence or table row) and how well it matches the question."""

    score: float
    """Sum of the matched terms' weight x idf, divided by the evidence rank's decay."""
    coverage: float
    """Share of the question's (weighted) terms the unit holds."""
    weighted: float
    """Share of the question's weight x idf the unit holds: coverage where rare words count more."""
    unit: _Unit


@dataclass(frozen=True)
class Ranking:
    """The question's terms and the evidence's candidate units, best first (:func:`rank`)."""

    q_terms: dict[str, float]
    """Question term -> weight (numbers :data:`NUMBER_WEIGHT`)."""
    idf: dict[str, float]
    scored: list[Scored]
    missing: list[str]
    """Question numbers of three or more digits found in no evidence (titles included)."""
    has_units: bool
    """Whether the evidence holds any sentence or row that could answer."""
    units: list[_Unit] = field(default_factory=list)
    """Every sentence and row that could answer, in evidence order."""


def rank(question: str, evidence: Sequence[Evidence], rank_decay: float = 0.1) -> Ranking:
    """Score every sentence and table row of ``evidence`` against ``question``: the matched
    question terms weighted by rarity across the evidence (numbers count :data:`NUMBER_WEIGHT`
    times), divided by ``1 + rank_decay * r`` for evidence at rank r."""
    q_terms: dict[str, float] = {}
    for term, is_number in terms(question):
        q_terms[term] = max(q_terms.get(term, 0.0), NUMBER_WEIGHT if is_number else 1.0)
    units: list[_Unit] = []
    titles: list[_Unit] = []
    for n, ev in enumerate(evidence, start=1):
        found, heads = _units(n, ev)
        units += found
        titles += heads
    if not q_terms or not units:
        return Ranking(q_terms, {}, [], [], bool(units), units)
    # Titles and headings count as evidence seen (a year in a report's title) but never answer.
    every = units + titles
    # A year or an amount the question names must be somewhere in the evidence: "... in 2024?"
    # over documents that only know 2018 is unanswerable, however well the other words match.
    # Only the asked part counts: "DIO is defined as: 365 * ..." needs no 365 on the page.
    seen = frozenset().union(*(u.terms for u in every))
    missing = [t for t, is_number in terms(asked_part(question)) if is_number and len(t.replace(".", "")) >= 3
               and t not in seen]
    total = sum(q_terms.values())
    df = {t: sum(t in u.terms for u in every) for t in q_terms}
    idf = {t: 1.0 + math.log((len(every) + 1) / (df[t] + 1)) for t in q_terms}
    mass = sum(q_terms[t] * idf[t] for t in q_terms)
    scored: list[Scored] = []
    for u in units:
        matched = [t for t in q_terms if t in u.terms]
        if not matched:
            continue
        coverage = sum(q_terms[t] for t in matched) / total
        raw = sum(q_terms[t] * idf[t] for t in matched)
        scored.append(Scored(raw / (1.0 + rank_decay * (u.n - 1)), coverage, raw / mass, u))
    scored.sort(key=lambda s: (-s.score, s.unit.n))
    return Ranking(q_terms, idf, scored, missing, True, units)


class ExtractiveGenerator:
    """Answers by quoting evidence sentences with [n] citations; needs no model.

    ``max_sentences``: at most this many quotes. ``min_coverage``: the best sentence must contain
    at least this share of the question's (weighted) terms, or the answer is an abstention.
    ``rank_decay``: a sentence from evidence at rank r (0-based) has its score divided by
    ``1 + rank_decay * r``. ``keep_ratio``: further quotes must score at least this share of the best."""

    def __init__(self, max_sentences: int = 3, min_coverage: float = 0.3, rank_decay: float = 0.1,
                 keep_ratio: float = 0.6) -> None:
        if max_sentences < 1:
            raise ValueError(f"max_sentences must be at least 1. Currently, max_sentences is {max_sentences}")
        if not 0 < min_coverage <= 1:
            raise ValueError(f"min_coverage must be in (0, 1]. Currently, min_coverage is {min_coverage}")
        if rank_decay < 0:
            raise ValueError(f"rank_decay must be >= 0. Currently, rank_decay is {rank_decay}")
        if not 0 < keep_ratio <= 1:
            raise ValueError(f"keep_ratio must be in (0, 1]. Currently, keep_ratio is {keep_ratio}")
        self.max_sentences = max_sentences
        self.min_coverage = min_coverage
        self.rank_decay = rank_decay
        self.keep_ratio = keep_ratio
        self.embedder: Embedder | None = None
        """Ranks sentences of the other script than the question's (:meth:`use_embedder`)."""

    def use_embedder(self, embedder: Embedder) -> None:
        """Answer across languages: a Korean question over an English page (or the reverse) shares
        no word with it, so with ``embedder`` (the index's, multilingual), over evidence mostly in
        the other script, its sentences are ranked by their similarity to the question when no
        sentence in the question's own script covers :data:`CROSS_COVERAGE` of it. No threshold
        on that similarity: on the Korean set answerable and unanswerable picks overlap (0.786-0.834
        against 0.784), so the evidence check decides. The pipeline calls this."""
        self.embedder = embedder

    def _across(self, question: str, ranking: Ranking) -> _Unit | None:
        """The other-script sentence most like the question, when the evidence is mostly in the
        other script and the question's own script gives no good match (None otherwise, or
        without an embedder)."""
        if self.embedder is None or (ranking.scored and ranking.scored[0].coverage >= CROSS_COVERAGE):
            return None
        script = _script(question)
        scripts = [_script(u.quote) for u in ranking.units]
        other = [u for u, sc in zip(ranking.units, scripts, strict=True) if sc not in ("", script)]
        if len(other) <= scripts.count(script):  # evidence mostly in the question's language: no bridge needed
            return None
        # Sentences first, then table rows, at most MAX_CROSS_UNITS in evidence order.
        other = ([u for u in other if not u.cells] + [u for u in other if u.cells])[:MAX_CROSS_UNITS]
        if not other:
            return None
        q = self.embedder.embed_queries([question])[0]
        sims = self.embedder.embed_texts([u.quote for u in other]) @ q
        # Evidence rank breaks near-ties, as the lexical score's decay does.
        best = max(range(len(other)), key=lambda i: float(sims[i]) / (1.0 + self.rank_decay * (other[i].n - 1)))
        return other[best]

    @classmethod
    def from_config(cls, cfg: ExtractiveGenerateConfig) -> ExtractiveGenerator:
        """The generator ``backend: extractive`` builds. With the evidence-sufficiency check on
        (any ``generate.support_*`` above 0), that check decides abstention, so the answerer quotes
        its best sentence whatever its coverage (``min_coverage`` 0.01): on the dev split coverage
        0.3 refused answerable questions as often as unanswerable ones (issue 18)."""
        check = Thresholds.of(cfg).active
        return cls(max_sentences=cfg.max_sentences, min_coverage=SUPPORTED_COVERAGE if check else 0.3)

    def answer_text(self, question: str, evidence: Sequence[Evidence]) -> str:
        """The answer: a short answer line (the answering sentence in quotes, or the table cell with
        its row and column headers, ``Europe, 2025: 146.2``) with its [n]; then, after a blank line,
        the other supporting quotes, one per line, each with its [n]. Or the abstain sentence."""
        ranking = rank(question, evidence, self.rank_decay)
        if not ranking.q_terms or not ranking.has_units:
            return abstain_sentence(question)
        if ranking.missing:
            log.debug("extractive: question numbers %s are in no evidence: abstaining", ranking.missing)
            return abstain_sentence(question)
        scored = [(s.score, s.coverage, s.unit) for s in ranking.scored]
        q_terms = ranking.q_terms
        across = self._across(question, ranking)
        if across is not None:
            log.debug("extractive: answering across languages from evidence [%d]", across.n)
            return f"{short_answer(across, list(q_terms))} [{across.n}]"
        if not scored or scored[0][1] < self.min_coverage:
            log.debug("extractive: best coverage %.2f below %.2f: abstaining",
                      scored[0][1] if scored else 0.0, self.min_coverage)
            return abstain_sentence(question)
        best = scored[0][0]
        chosen: list[_Unit] = []
        for score, coverage, u in scored:
            if len(chosen) >= self.max_sentences or score < self.keep_ratio * best:
                break
            if coverage < self.min_coverage or any(c.quote == u.quote for c in chosen):
                continue
            chosen.append(u)
        top = chosen[0]
        head = short_answer(top, list(q_terms))
        # The answering row stays as a quote under a cell answer: it shows the cell's neighbours.
        # A sentence or a key/value pair is the whole quote already.
        rest = chosen[1:] if top.key_value or head == f'"{top.quote}"' else chosen
        quotes = [f'"{u.quote}" [{u.n}]' for u in rest]
        return "\n".join([f"{head} [{top.n}]", *(["", *quotes] if quotes else [])])

    async def astream(self, question: str, evidence: Sequence[Evidence]) -> AsyncIterator[str]:
        """The answer one line at a time (worked out in a thread: it may embed sentences)."""
        lines = (await asyncio.to_thread(self.answer_text, question, evidence)).split("\n")
        for i, line in enumerate(lines):
            yield line + ("\n" if i < len(lines) - 1 else "")

    def select(self, question: str, evidence: Sequence[Evidence]) -> list[Evidence]:
        """All of it: quoting has no context budget."""
        return list(evidence)

    async def aclose(self) -> None:
        """Nothing to release."""
