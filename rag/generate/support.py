"""Evidence sufficiency: does what an answer cites support it, for THIS question?

Unanswerable questions in real use are near-misses of answerable ones: "... tweets attributed to
Boeing" over a page about Lufthansa, "... in 2024" over a report of 2018. A quote that shares most
of the question's words still does not answer it when the question's *facts* (its years and other
numbers, its names) are not where the answer comes from. This module measures that, the same way
for every generator:

* ``numbers``: share of the question's numbers (two or more digits: years, amounts; "FY2015" gives
  "2015") that occur in the cited text;
* ``names``: share of the question's names (capitalised words inside the sentence, acronyms,
  words mixing letters and digits, quoted phrases) that occur in the cited text;
* ``answer_numbers``: share of the answer's own numbers (outside its quotes' citations) found in the
  cited text: a model's number that no cited page holds is not supported.

The cited text is the text of the evidence the answer cites ([n]) (the answer itself when it cites
nothing). :func:`supported` combines them
with thresholds calibrated on the dev split (``docs/eval.md``, issue 18): an answer is supported
when ``names >= generate.support_names`` and ``numbers >= generate.support_numbers``.
:func:`rag.generate.citations.build_answer` replaces an unsupported answer by the abstain
sentence of the question's language.
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

_CITE = re.compile(r"\[\d+(?:\s*[,;\-–]\s*\d+)*\]")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def numbers_of(text: str) -> list[str]:
    """Numbers of two or more digits, thousands separators dropped ("1,234.5" -> "1234.5")."""
    out = []
    for m in _NUMBER.finditer(unicodedata.normalize("NFKC", text)):
        n = m.group().replace(",", "")
        if len(n.replace(".", "")) >= 2:
            out.append(n)
    return list(dict.fromkeys(out))


def names_of(question: str) -> list[str]:
    """The question's names, lower-cased: capitalised words not at the start of the question,
    acronyms, words mixing letters and digits, quoted phrases; in a Korean question every Latin
    word. Korean words are not names here (Korean has no capitals: its facts are its numbers and
    Latin names)."""
    names: list[str] = [q.strip().lower() for q in _QUOTED.findall(question)]
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
            names.append(w.lower())
    return list(dict.fromkeys(names))


def _present(term: str, text: str) -> bool:
    if term.replace(".", "").isdigit():
        return term in numbers_of(text) or term in text.replace(",", "")
    return term in text


@dataclass(frozen=True)
class Support:
    """Shares in [0, 1] (1.0 when the question has none of that kind)."""

    numbers: float
    names: float
    answer_numbers: float

    @property
    def score(self) -> float:
        """The weakest of the question's facts."""
        return min(self.numbers, self.names)


def _share(terms: Sequence[str], text: str) -> float:
    return 1.0 if not terms else sum(_present(t, text) for t in terms) / len(terms)


def _question_numbers(question: str) -> list[str]:
    """Numbers of the question, with a year glued to letters ("FY2015", "Q2") read alone."""
    return numbers_of(re.sub(r"(?<=[A-Za-z])(?=\d)", " ", question))


def measure(question: str, answer: str, cited: Sequence[str]) -> Support:
    """How far the cited text (the evidence texts the answer cites, or its answering sentence)
    holds the question's numbers and names and the answer's numbers."""
    text = _norm("\n".join(cited))
    qn = _question_numbers(question)
    names = names_of(question)
    own = [n for n in numbers_of(_CITE.sub(" ", answer)) if n not in qn]
    return Support(numbers=_share(qn, text), names=_share([_norm(n) for n in names], text),
                   answer_numbers=_share(own, text))


def supported(support: Support, min_names: float, min_numbers: float) -> bool:
    """Whether the answer stands: at least ``min_names`` of the question's names and
    ``min_numbers`` of its numbers present in the cited text (0 and 0 accept everything)."""
    return support.names >= min_names and support.numbers >= min_numbers
