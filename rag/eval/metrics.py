"""Pure, typed evaluation metrics.

Retrieval is scored at the PAGE level: a system's hits are turned into the pages of the question's
document, deduplicated in rank order (:func:`ranked_pages`), and compared with the gold evidence pages
(binary relevance). Answers are compared after :func:`normalize_answer`, which lowercases, drops
punctuation and articles, and writes numbers one way ("$1,234" and "1234", "18.29 %" and "18.29%",
"1.2 million" and "1,200,000", "three" and "3" all match). Abstention and citations have their own
small scores. Nothing here touches a model, a file or the network.
"""

from __future__ import annotations

import ast
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict

from ingest.text.tokens import ARTICLES, SCORE_TOKEN

# ------------------------------------------------------------------------------------ retrieval


def ranked_pages(hits: Iterable[tuple[str, int]], doc: str) -> list[int]:
    """Pages of ``doc`` among ``hits`` (``(file, page)`` pairs, best first), each page once, in the
    rank of its first hit. Hits in other files are dropped."""
    seen: set[int] = set()
    out: list[int] = []
    for file, page in hits:
        if file == doc and page not in seen:
            seen.add(page)
            out.append(page)
    return out


def _check(relevant: Collection[int], k: int | None = None) -> None:
    if not relevant:
        raise ValueError("relevant pages are empty: retrieval metrics need at least one evidence page")
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _dedup(ranked: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(ranked))


def recall_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Share of the evidence pages found among the first ``k`` retrieved pages."""
    _check(relevant, k)
    rel = set(relevant)
    return len(set(_dedup(ranked)[:k]) & rel) / len(rel)


def hit_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """1.0 when at least one evidence page is among the first ``k`` retrieved pages, else 0.0."""
    _check(relevant, k)
    return 1.0 if set(_dedup(ranked)[:k]) & set(relevant) else 0.0


def reciprocal_rank(ranked: Sequence[int], relevant: Collection[int]) -> float:
    """1 / rank of the first evidence page (ranks start at 1); 0.0 when none was retrieved.
    The mean over questions is MRR (at the depth that was retrieved)."""
    _check(relevant)
    rel = set(relevant)
    for rank, page in enumerate(_dedup(ranked), start=1):
        if page in rel:
            return 1.0 / rank
    return 0.0


def document_hit_at_k(hits: Iterable[tuple[str, int]], doc: str, k: int, *, distinct: bool = False) -> float:
    """Whole-folder scope: 1.0 when a page of ``doc`` is among the first ``k`` ``(file, page)``
    hits (``distinct``: among the first ``k`` distinct files of the hits), else 0.0."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    pairs = list(dict.fromkeys(hits))
    files = list(dict.fromkeys(f for f, _ in pairs)) if distinct else [f for f, _ in pairs]
    return 1.0 if doc in files[:k] else 0.0


def ndcg_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Normalised discounted cumulative gain at ``k`` with binary relevance:
    ``DCG = sum(1 / log2(rank + 1))`` over relevant pages in the top ``k``, divided by the DCG of a
    ranking that puts every evidence page first."""
    _check(relevant, k)
    rel = set(relevant)
    dcg = sum(1.0 / math.log2(i + 2) for i, page in enumerate(_dedup(ranked)[:k]) if page in rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(rel))))
    return dcg / ideal


# -------------------------------------------------------------------------- answer normalisation

_NUMBER_WORDS = {
    w: str(i) for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen", "twenty"])
}
_SCALES = {"thousand": 3, "million": 6, "mn": 6, "mio": 6, "billion": 9, "bn": 9, "trillion": 12, "tn": 12}
_CURRENCY_ABBR = {"k": 3, "m": 6, "b": 9}
"""Single-letter scales, trusted only right after a currency sign ("$1.2m"); "2 m" may be metres."""

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PERCENT = re.compile(r"\s*(?:%|\bper\s?cent\b|\bpct\b)")
_NUMBER = re.compile(
    r"(?P<neg>(?<![\w.])-)?(?P<cur>(?:us)?[$€£¥])?\s?(?P<neg2>(?<![\w.])-)?(?P<num>\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion|mn|mio|bn|tn)\b|(?P<abbr>[kmb])\b)?"
)
_LIST_SPLIT = re.compile(r"\s*(?:[,;\n]|\band\b)\s*")


def canonical_number(text: str, scale: int = 0) -> str:
    """Decimal string of ``text`` times ``10**scale`` with no exponent and no trailing zeros:
    ``("1.50") -> "1.5"``, ``("1.2", 6) -> "1200000"``, ``("007") -> "7"``."""
    try:
        value = Decimal(text).scaleb(scale).normalize()
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {text!r}") from exc
    out = format(value, "f")
    return "0" if out in ("-0", "0") else out


def _number_sub(m: re.Match[str]) -> str:
    scale = _SCALES.get(m["scale"] or "", 0)
    tail = ""
    if m["abbr"]:
        if m["cur"]:
            scale = _CURRENCY_ABBR[m["abbr"]]
        else:
            tail = m["abbr"]  # not a scale: keep the letter ("5 m" may be metres)
    number = canonical_number(m["num"], scale)
    if (m["neg"] or m["neg2"]) and number != "0":
        number = "-" + number
    return f" {number} {tail}"


def normalize_numbers(text: str) -> str:
    """Write every number one way: thousands separators and currency signs dropped, scale words
    applied ("1.2 million" -> "1200000"), percent signs and words as the token ``percent``,
    number words zero to twenty as digits. Lowercases. Other text is left in place."""
    s = unicodedata.normalize("NFKC", text).lower().replace("\u2212", "-")
    s = _THOUSANDS.sub("", s)
    s = _PERCENT.sub(" percent ", s)
    s = re.sub(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", lambda m: _NUMBER_WORDS[m[1]], s)
    s = _NUMBER.sub(_number_sub, s)
    return " ".join(s.split())


def answer_tokens(text: str) -> list[str]:
    """Tokens of a normalised answer: numbers (sign and decimals kept) and words; punctuation and
    the articles a/an/the dropped."""
    return [t for t in SCORE_TOKEN.findall(normalize_numbers(text)) if t not in ARTICLES]


def normalize_answer(text: str) -> str:
    """The comparable form of an answer: its :func:`answer_tokens` joined by single spaces. A list
    literal such as ``"['Jun', 'Aug']"`` is read as its elements."""
    items = parse_list(text)
    source = " ".join(items) if items is not None else text
    return " ".join(answer_tokens(source))


def parse_list(text: str) -> list[str] | None:
    """Elements of a Python/JSON list literal (``"['a', 'b']"``, ``"[1, 2]"``) as strings; None when
    ``text`` is not one."""
    s = text.strip()
    if not (s.startswith("[") and s.endswith("]")):
        return None
    try:
        value = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(value, list | tuple):
        return None
    return [str(v) for v in value]


def _as_set(text: str, force_split: bool) -> frozenset[str]:
    items = parse_list(text)
    if items is None:
        items = _LIST_SPLIT.split(text) if force_split else [text]
    return frozenset(n for n in (normalize_answer(i) for i in items) if n)


# ----------------------------------------------------------------------------------- answers


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised answers are equal. A list gold answer matches when the prediction
    names the same elements in any order (as a list literal or separated by commas, ';' or 'and')."""
    if parse_list(gold) is not None:
        want = _as_set(gold, force_split=False)
        return 1.0 if want and want == _as_set(prediction, force_split=True) else 0.0
    norm = normalize_answer(gold)
    return 1.0 if norm and norm == normalize_answer(prediction) else 0.0


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD-style F1 over the bags of normalised tokens; 0.0 when either side has no token."""
    pred, want = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not want:
        return 0.0
    common = sum((Counter(pred) & Counter(want)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(want)
    return 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, gold: str) -> float:
    """1.0 when the normalised gold answer occurs as a contiguous token run inside the prediction
    (every element, for a list gold answer). Suits extractive answers that quote a whole sentence."""
    items = parse_list(gold)
    golds = items if items is not None else [gold]
    pred = normalize_answer(prediction).split()
    wanted = [normalize_answer(g).split() for g in golds]
    if not pred or not wanted or not all(wanted):
        return 0.0
    return 1.0 if all(_contains_run(pred, w) for w in wanted) else 0.0


def _contains_run(tokens: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(tokens[i:i + n] == run for i in range(len(tokens) - n + 1))


# ------------------------------------------------------------------------ abstention, citations


class AbstentionScores(BaseModel):
    """How well a system says "not answerable" exactly when it should. A score is None when its
    denominator is zero (no abstention, or no unanswerable question)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    precision: float | None
    """Abstentions on unanswerable questions / all abstentions."""
    recall: float | None
    """Abstentions on unanswerable questions / all unanswerable questions."""
    f1: float | None
    abstained: int
    unanswerable: int
    correct: int
    """Unanswerable questions the system abstained on."""


def abstention_scores(abstained: Sequence[bool], answerable: Sequence[bool]) -> AbstentionScores:
    """Precision and recall of abstaining, treating unanswerable questions as the positive class."""
    if len(abstained) != len(answerable):
        raise ValueError(f"abstained has {len(abstained)} entries but answerable has {len(answerable)}")
    n_abst = sum(abstained)
    n_unans = sum(not a for a in answerable)
    correct = sum(ab and not an for ab, an in zip(abstained, answerable, strict=True))
    precision = correct / n_abst if n_abst else None
    recall = correct / n_unans if n_unans else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision is not None and recall is not None and precision + recall > 0 else None)
    return AbstentionScores(precision=precision, recall=recall, f1=f1, abstained=n_abst,
                            unanswerable=n_unans, correct=correct)


def _cited_pages(cited: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    return set(cited)


def citation_precision(cited: Iterable[tuple[str, int]], doc: str, relevant: Collection[int]) -> float | None:
    """Share of the distinct cited ``(file, page)`` pairs that are evidence pages of ``doc`` (a citation
    of another file is wrong). None when nothing is cited."""
    pages = _cited_pages(cited)
    if not pages:
        return None
    rel = set(relevant)
    return sum(1 for f, p in pages if f == doc and p in rel) / len(pages)


def citation_recall(cited: Iterable[tuple[str, int]], doc: str, relevant: Collection[int]) -> float | None:
    """Share of the evidence pages of ``doc`` that are cited. None when there are no evidence pages."""
    rel = set(relevant)
    if not rel:
        return None
    found = {p for f, p in _cited_pages(cited) if f == doc}
    return len(found & rel) / len(rel)


# ------------------------------------------------------------------------------ aggregation


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; None for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
