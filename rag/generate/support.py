"""Evidence sufficiency: does what an answer cites support it, for THIS question?

Unanswerable questions in real use are near-misses of answerable ones: "... tweets attributed to
Boeing" over a page about Lufthansa, "... in 2024" over a report of 2018. A quote that shares most
of the question's words still does not answer it when the question's *facts* (its years and other
numbers, its names) are not where the answer comes from. This module measures that, the same way
for every generator:

* ``numbers``: share of the question's numbers (two or more digits: years, amounts; "FY2015" gives
  "2015") that occur in the cited text;
* ``names``: share of the question's names (capitalised words inside the sentence, acronyms,
  words mixing letters and digits, quoted phrases) that occur in the cited text; an acronym also
  counts when the text spells it out ("Health and Social Care Act" for HSCA) or shortens the
  cited file's name ("ADBE" for ADOBE_2015_10K.pdf);
* ``identifiers``: the same share over the acronyms and codes alone ("MMLU", "GPT-4o", "LLaVa"):
  a missing one is another thing ("GPT-4o" over a page about GPT-4), where a missing capitalised
  word may be paraphrase;
* ``labels``: share of the question's figure and table labels ("Figure 7", "Table 1-1", "표 3");
* ``answer_numbers``: share of the answer's own numbers (outside its quotes' citations) found in the
  cited text: a model's number that no cited page holds is not supported.

Only the asked part of the question counts (:func:`asked_part`): "Write the answer in list format,
e.g. ['Page 2']", "ROA is defined as ...", "Round your answer ..." name nothing the page must hold,
and page references ("on page 42") are the retriever's business, not words of the page.

The cited text is the text of the evidence the answer cites ([n]) (the answer itself when it cites
nothing). :func:`shortfall` compares the shares with thresholds calibrated on the dev split
(``docs/eval.md``, issue 18; the ``generate.support_*`` settings) and says what falls short.
:func:`rag.generate.citations.build_answer` replaces an answer whose question facts fall short by
the abstain sentence of the question's language, and flags (``Answer.support_issue``) a model's
answer whose own numbers no cited evidence holds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.text.hangul import has_hangul
from ingest.text.tokens import NAME_STOPWORDS as NAME_STOP
from ingest.text.tokens import NAME_WORD as _WORD
from ingest.text.tokens import NUMBER as _NUMBER
from ingest.text.tokens import PERIOD as _PERIOD
from ingest.text.tokens import QUOTED as _QUOTED
from rag.config import GenerateConfig

_CITE = re.compile(r"\[\d+(?:\s*[,;\-–]\s*\d+)*\]")
_LABEL = re.compile(r"\b(fig(?:ure)?s?\.?|tables?|tab\.)\s*(\d+(?:[-.]\d+)?)"
                    r"|(?<![\uac00-\ud7a3])(그림|표)\s*(\d+(?:[-.]\d+)?)", re.IGNORECASE)
"""A figure or table label ("Figure 7", "Fig. 3", "Table 1-1", "그림 2", "표 3"; not the end of a
word: "대표 3명" names no table)."""


_DASHES = re.compile(r"[\-‐‑‒–—_]")


def _norm(text: str) -> str:
    """NFKC, lower case, dashes and underscores as spaces ("Unit-8" is "unit 8")."""
    return _DASHES.sub(" ", unicodedata.normalize("NFKC", text).lower())


def numbers_of(text: str) -> list[str]:
    """Numbers of two or more digits, thousands separators dropped ("1,234.5" -> "1234.5")."""
    out = []
    for m in _NUMBER.finditer(unicodedata.normalize("NFKC", text)):
        n = m.group().replace(",", "")
        if len(n.replace(".", "")) >= 2:
            out.append(n)
    return list(dict.fromkeys(out))


_SENTENCE_BREAK = re.compile(r"(?<=[.?!。])\s+(?=\S)")
_INSTRUCTION = re.compile(
    r"\b(answers?|format(?:ted)?|e\.g\.|for example|round(?:ed)?|please|write|save|give me|your|"
    r"defined as|is defined|calculated?|utiliz\w*|respon\w+|rel(?:y|ying) on|like\s+['\"\[])"
    r"|형식|예시|예:|답하|답변", re.IGNORECASE)
"""A sentence after the first that says how to answer ("Write the answer in list format, e.g.
['1', '2']", "ROA is defined as: ..."): its examples and defined terms are no facts of the page."""
_PAGE_PHRASE = re.compile(
    r"\b(?:pages?|pg\.?|p\.|slides?)\s*\d{1,4}(?:\s*(?:-|–|to|and|&)\s*(?:pages?\s*)?\d{1,4})?\b", re.IGNORECASE)


def asked_part(question: str) -> str:
    """The question without the sentences after the first that tell how to answer (answer
    formats, examples, definitions of the asked ratio): what the evidence must hold."""
    parts = _SENTENCE_BREAK.split(question.strip())
    return " ".join([parts[0], *(p for p in parts[1:] if not _INSTRUCTION.search(p))])


_PLACEHOLDER = re.compile(r"\b(?:YYYY|YY|MM|DD)(?:[-/.](?:YYYY|YY|MM|DD))+\b")
_DEFINED_ACRONYM = re.compile(r"\([^()]{0,30}?\b[A-Z][A-Z&]+[a-z]?\s*\)")
"""An acronym in brackets after what it stands for ("return on assets (ROA)"): the words before
it are the fact, a page seldom repeats the bracket."""


def _fact_text(question: str) -> str:
    """The asked part with its page references ("page 17": no number of the page's text) and
    figure/table labels (checked on their own, :attr:`Support.labels`) taken out, and date
    placeholders ("YYYY-MM-DD") and bracketed acronyms after their words, which name nothing on a
    page."""
    text = _LABEL.sub(" ", _PAGE_PHRASE.sub(" ", asked_part(question)))
    return _DEFINED_ACRONYM.sub(" ", _PLACEHOLDER.sub(" ", text))


def name_kinds(question: str) -> dict[str, bool]:
    """The question's names, lower-cased, each with whether it is an *identifier*: capitalised
    words not at the start of the question, acronyms, words mixing letters and digits, quoted
    phrases; in a Korean question every Latin word. Identifiers are the acronyms and the words
    mixing letters and digits ("MMLU", "GPT-4o", "LLaVa", "V3Det"): one of them missing is a
    different thing, where a missing capitalised word ("Foreign", "Survey") may be paraphrase.
    Korean words are not names here (Korean has no capitals: its facts are its numbers and
    Latin names)."""
    names: dict[str, bool] = {(a or b).strip().lower(): False for a, b in _QUOTED.findall(question)}
    words = list(_WORD.finditer(question))
    korean = has_hangul(question)  # a Latin word in a Korean question is a name wherever it stands
    for i, m in enumerate(words):
        w = re.sub(r"['’]s$", "", m.group()).strip(".'-")  # "ACME's" names ACME
        if len(w) < 2 or w.lower() in NAME_STOP or _PERIOD.fullmatch(w):
            continue
        first = i == 0 or question[:m.start()].rstrip().endswith((".", "?", "!", ":"))
        acronym = sum(ch.isupper() for ch in w) >= 2
        mixed = any(ch.isdigit() for ch in w) and any(ch.isalpha() for ch in w)
        if acronym or mixed or (w[0].isupper() and not first) or korean:
            names[w.lower()] = names.get(w.lower(), False) or mixed or _identifier(w)
    return names


def _identifier(word: str) -> bool:
    """An acronym ("MMLU", "EBITDA": capitals only, at most six) or a word with a capital after a
    small letter ("LLaVa", "SituatedQA"); not a capitalised compound ("Step-Back") nor a
    shouted word ("LEARNING")."""
    parts = [p for p in re.split(r"[-/&.]", word) if p]
    if all(p.isupper() for p in parts) and len(word.replace("-", "")) <= 6:
        return sum(ch.isupper() for ch in word) >= 2
    return any(re.search(r"[a-z][A-Z]", p) for p in parts)


def names_of(question: str) -> list[str]:
    """The question's names, lower-cased (:func:`name_kinds`)."""
    return list(name_kinds(question))


def labels_of(text: str) -> list[str]:
    """Figure and table labels of ``text``, normalised: ``figure:7``, ``table:1-1`` (``그림 2`` is
    ``figure:2``, ``표 3`` is ``table:3``)."""
    out = []
    for m in _LABEL.finditer(unicodedata.normalize("NFKC", text)):
        word, num = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        kind = "figure" if word.lower().startswith("fig") or word == "그림" else "table"
        out.append(f"{kind}:{num}")
    return list(dict.fromkeys(out))


_CAP_WORD = re.compile(r"\b[A-Z][A-Za-z]*")
_ANY_WORD = re.compile(r"\b[A-Za-z]+")
LONG_ACRONYM = 4
"""An acronym this long may also be spelt out in small letters ("compound annual growth rate"):
four letters in a row of a page's initials by chance are rare, two or three are not."""


def initials(text: str, capitalised: bool = True) -> str:
    """The first letters of the text's capitalised words (or of all its words), lower-cased, in
    order: where an acronym of the question is spelt out ("Health and Social Care Act" holds
    "hsca")."""
    return "".join(m.group()[0] for m in (_CAP_WORD if capitalised else _ANY_WORD).finditer(text)).lower()


def _present(term: str, text: str) -> bool:
    if term.replace(".", "").isdigit():
        return term in numbers_of(text) or term in text.replace(",", "")
    return term in text


def _acronym_spelt(term: str, spelt: tuple[str, str], owners: Sequence[str]) -> bool:
    """An acronym (2-6 letters) spelt out by the text's capitalised words (``spelt[0]``; by all
    its words, ``spelt[1]``, from :data:`LONG_ACRONYM` letters), or a short form of a word of the
    cited file's name taken letter by letter ("ADBE" of ADOBE_2015_10K.pdf)."""
    if not (2 <= len(term) <= 6 and term.isalpha()):
        return False
    if term in spelt[0] or (len(term) >= LONG_ACRONYM and term in spelt[1]):
        return True
    for word in owners:
        it = iter(word)
        if len(word) > len(term) and word[0] == term[0] and all(ch in it for ch in term):
            return True
    return False


@dataclass(frozen=True)
class Support:
    """Shares in [0, 1] (1.0 when the question has none of that kind), and what is missing."""

    numbers: float
    names: float
    answer_numbers: float
    labels: float = 1.0
    """Share of the question's figure and table labels ("Figure 7") the cited text holds."""
    identifiers: float = 1.0
    """Share of the question's identifiers (acronyms, codes: :func:`name_kinds`) present."""
    missing: tuple[str, ...] = ()
    """The question's names, numbers and labels the cited text lacks."""
    missing_answer_numbers: tuple[str, ...] = ()
    """The answer's own numbers the cited text lacks."""

    @property
    def score(self) -> float:
        """The weakest of the question's facts."""
        return min(self.numbers, self.names, self.identifiers, self.labels)


@dataclass(frozen=True)
class Thresholds:
    """Least shares of each kind of the question's facts the cited text must hold (the
    ``generate.support_*`` settings); 0 for a kind: not checked."""

    names: float = 0.0
    numbers: float = 0.0
    identifiers: float = 0.0
    labels: float = 0.0

    @property
    def active(self) -> bool:
        """Whether any kind is checked."""
        return max(self.names, self.numbers, self.identifiers, self.labels) > 0

    @classmethod
    def of(cls, cfg: GenerateConfig) -> Thresholds:
        """The ``generate.support_*`` settings."""
        return cls(names=cfg.support_names, numbers=cfg.support_numbers,
                   identifiers=cfg.support_identifiers, labels=cfg.support_labels)


def _question_numbers(question: str) -> list[str]:
    """Numbers of the question, with a year glued to letters ("FY2015", "Q2") read alone."""
    return numbers_of(re.sub(r"(?<=[A-Za-z])(?=\d)", " ", question))


def _share(found: Sequence[bool]) -> float:
    return sum(found) / len(found) if found else 1.0


def measure(question: str, answer: str, cited: Sequence[str], owners: Sequence[str] = ()) -> Support:
    """How far the cited text (the evidence texts the answer cites, or its answering sentence)
    holds the question's numbers, names and labels and the answer's numbers. Only the asked part
    counts (:func:`asked_part`). ``owners``: the cited files' names, whose short forms count as
    present ("ADBE" for ADOBE_2015_10K)."""
    raw = unicodedata.normalize("NFKC", "\n".join(cited))
    text = _norm(raw)
    facts = _fact_text(question)
    qn = _question_numbers(facts)
    kinds = name_kinds(facts)
    spelt = (initials(raw), initials(raw, capitalised=False))
    words = [w for o in owners for w in re.findall(r"[a-z]+", o.lower())]
    names = {n: _present(_norm(n), text) or _acronym_spelt(n, spelt, words) for n in kinds}
    numbers = {n: _present(n, text) for n in qn}
    held = set(labels_of(raw))
    labels = {w: w in held for w in labels_of(asked_part(question))}
    own = [n for n in numbers_of(_CITE.sub(" ", answer)) if n not in qn]
    lacking = [n for n in own if not _present(n, text)]
    return Support(numbers=_share(list(numbers.values())), names=_share(list(names.values())),
                   answer_numbers=1.0 - len(lacking) / len(own) if own else 1.0,
                   labels=_share(list(labels.values())),
                   identifiers=_share([ok for n, ok in names.items() if kinds[n]]),
                   missing=tuple(k for d in (names, numbers, labels) for k, ok in d.items() if not ok),
                   missing_answer_numbers=tuple(lacking))


def shortfall(support: Support, least: Thresholds) -> str | None:
    """Why the answer does not stand (which kinds fall short, and what the cited text lacks), or
    None when every kind reaches its threshold."""
    short = [kind for kind, share, need in (
        ("names", support.names, least.names), ("numbers", support.numbers, least.numbers),
        ("identifiers", support.identifiers, least.identifiers), ("labels", support.labels, least.labels))
        if share < need]
    if not short:
        return None
    return f"the cited evidence lacks the question's {', '.join(short)}: {', '.join(support.missing)}"


def supported(support: Support, min_names: float, min_numbers: float, min_identifiers: float = 0.0,
              min_labels: float = 0.0) -> bool:
    """Whether the answer stands: at least ``min_names`` of the question's names, ``min_numbers``
    of its numbers, ``min_identifiers`` of its identifiers and ``min_labels`` of its figure and
    table labels present in the cited text (all 0 accept everything)."""
    return shortfall(support, Thresholds(min_names, min_numbers, min_identifiers, min_labels)) is None
