"""Citations in answer text: ``[n]``, ``[n, m]``, ``[n-m]`` resolved against the evidence sent.

Every generator path ends in :func:`build_answer`, so every :class:`~rag.records.Answer` cites
only evidence that was actually in the prompt: numbers that match nothing are removed from the
text and reported in ``Answer.dropped_citations``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rag.config import GenerateConfig
from rag.generate.prompting import abstain_sentence, abstain_sentences, prompt_language
from rag.generate.support import Thresholds, measure, shortfall
from rag.records import Answer, Citation, Evidence

log = logging.getLogger(__name__)

_MAX_RANGE = 100
"""A range ``[a-b]`` expands to at most this many numbers."""

# [3]  [1, 2]  [1;2]  [2-4]  [2–4]  [1, 3-5]
CITATION_RE = re.compile(r"\[\s*(\d{1,6}(?:\s*(?:[,;]|[-\u2010-\u2015])\s*\d{1,6})*)\s*\]")
_SEP_RE = re.compile(r"\s*[,;]\s*")
_DASH_RE = re.compile(r"\s*[-\u2010-\u2015]\s*")
_WORD_RE = re.compile(r"[^\w]+")


class ParsedCitations(BaseModel):
    """Answer text with unknown citation numbers removed, and what its citations point at."""

    model_config = ConfigDict(extra="forbid")

    text: str
    citations: list[Citation] = Field(default_factory=list)
    """One per distinct number, in order of first appearance."""
    dropped: list[int] = Field(default_factory=list)
    """Cited numbers that match no evidence, sorted."""


def _numbers(group: str) -> list[int]:
    """``"1, 3-5"`` -> ``[1, 3, 4, 5]``. A reversed range ``5-3`` counts as its two ends."""
    out: list[int] = []
    for piece in _SEP_RE.split(group.strip()):
        ends = [int(x) for x in _DASH_RE.split(piece) if x]
        if len(ends) == 2 and ends[0] <= ends[1]:
            out.extend(range(ends[0], min(ends[1], ends[0] + _MAX_RANGE - 1) + 1))
        else:
            out.extend(ends)
    return out


def _render(numbers: list[int]) -> str:
    return "[" + ", ".join(str(n) for n in numbers) + "]"


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+([.,;:!?)])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def strip_citations(text: str) -> str:
    """``text`` without any ``[n]`` citation (e.g. an earlier answer shown back to a model)."""
    return _tidy(CITATION_RE.sub("", text))


def citation_for(n: int, ev: Evidence) -> Citation:
    """The citation [n] of evidence ``ev``."""
    return Citation(n=n, id=ev.id, file=ev.file, page=ev.page, kind=ev.kind, bbox=ev.bbox,
                    image_path=ev.image_path, location=ev.location)


def parse_citations(text: str, evidence_sent: Sequence[Evidence]) -> ParsedCitations:
    """Find ``[n]``-style citations in ``text`` and resolve them to ``evidence_sent[n - 1]``.

    A bracket whose numbers are all valid is kept as written; one with some unknown numbers is
    rewritten with the valid ones only; one with none valid is removed."""
    seen: dict[int, Citation] = {}
    dropped: set[int] = set()

    def replace(match: re.Match[str]) -> str:
        numbers = _numbers(match.group(1))
        valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(evidence_sent)]
        bad = [n for n in numbers if not 1 <= n <= len(evidence_sent)]
        for n in valid:
            seen.setdefault(n, citation_for(n, evidence_sent[n - 1]))
        dropped.update(bad)
        if not bad:
            return match.group(0)
        return _render(valid) if valid else ""

    cleaned = CITATION_RE.sub(replace, text)
    if dropped:
        log.info("dropped citations to unknown evidence: %s (evidence sent: %d)", sorted(dropped),
                 len(evidence_sent))
        cleaned = _tidy(cleaned)
    return ParsedCitations(text=cleaned, citations=list(seen.values()), dropped=sorted(dropped))


def _normalise(text: str) -> str:
    return _WORD_RE.sub(" ", CITATION_RE.sub(" ", text).lower()).strip()


def abstention_language(text: str) -> str | None:
    """The language whose abstain sentence (``prompts/<lang>/abstain.txt``) ``text`` starts with,
    ``""`` for an empty text, None when it is no abstention.

    Case, punctuation, citations and trailing words after the sentence do not matter."""
    norm = _normalise(text)
    if not norm:
        return ""
    for lang, sentence in abstain_sentences().items():
        if norm.startswith(_normalise(sentence)):
            return lang
    return None


def is_abstention(text: str) -> bool:
    """Whether ``text`` is the abstain sentence of any prompt language, or empty.

    Case, punctuation, citations and trailing words after the sentence do not matter."""
    return abstention_language(text) is not None


def _support_issue(question: str, parsed: ParsedCitations, evidence_sent: Sequence[Evidence],
                   cfg: GenerateConfig) -> tuple[bool, str | None]:
    """``(stands, issue)``: whether the answer stands the evidence-sufficiency check, and what
    falls short (None when nothing does)."""
    least = Thresholds.of(cfg)
    if not least.active:
        return True, None
    sources = [evidence_sent[c.n - 1] for c in parsed.citations]
    # A cited page holds its document's names too: its file name says whose report it is ("ACME's
    # revenue" over a table of acme_annual_report_2025.pdf that never repeats the company).
    cited = [t for e in sources for t in (e.text, Path(e.file).stem.replace("_", " "))] or [parsed.text]
    found = measure(question, parsed.text, cited, owners=[Path(e.file).stem for e in sources])
    issue = shortfall(found, least)
    if issue is not None:
        log.debug("answer not supported by its citations (%s): abstaining", issue)
        return False, issue
    if found.missing_answer_numbers:
        return True, f"the cited evidence lacks the answer's numbers: {', '.join(found.missing_answer_numbers)}"
    return True, None


def build_answer(
    question: str,
    text: str,
    evidence_sent: Sequence[Evidence],
    seconds: Mapping[str, float] | None = None,
    support: GenerateConfig | None = None,
) -> Answer:
    """The :class:`Answer` for generated ``text``; every generator path ends here.

    ``evidence_sent`` must be the evidence in the prompt, in prompt order ([n] is
    ``evidence_sent[n - 1]``). Unknown citation numbers are removed and reported. An empty text
    or the abstain sentence makes an abstention, which cites nothing. An abstention is said in the
    question's language: an empty text, or an abstain sentence of another language (a generator
    that had no evidence to prompt with), becomes the question's own abstain sentence.

    With ``support`` (the ``generate`` settings), an answer whose cited evidence does not hold the
    question's names, numbers, identifiers and labels (``support_*``; see
    :mod:`rag.generate.support`) is replaced by the abstain sentence: the same check for the
    extractive answerer and for a model's answer. ``Answer.support_issue`` says why; it also flags
    (without replacing) an answer whose own numbers its citations do not hold."""
    parsed = parse_citations(text, evidence_sent)
    said = abstention_language(parsed.text)
    abstained = said is not None
    body = parsed.text.strip()
    issue: str | None = None
    if not abstained and body and support is not None:
        stands, issue = _support_issue(question, parsed, evidence_sent, support)
        if not stands:
            said, abstained, body = None, True, abstain_sentence(question)
    if abstained and said != prompt_language(question):
        body = abstain_sentence(question)
    return Answer(
        question=question,
        text=body,
        abstained=abstained,
        citations=[] if abstained else parsed.citations,
        evidence=list(evidence_sent),
        dropped_citations=parsed.dropped,
        support_issue=issue,
        seconds=dict(seconds or {}),
    )
