"""The document stage of a whole-folder search: which files a question is about, before pages.

A user asks the folder, not one document. Searched with no file filter, pages of look-alike files
(ten 10-K filings, each with a "consolidated balance sheet" page) compete with the right one. This
stage scores every file of the index against the question and hands :class:`rag.retrieve.Retriever`
a document prior.

Each file gets a *profile*: the words of its file name (``ADOBE_2015_10K.pdf`` -> ``adobe 2015 10k``)
and its first text chunks (a title page, an abstract, a cover slide), built once from the store
(:meth:`rag.store.base.Store.chunks_at`) and rebuilt when the set of files changes. A question
scores each profile by

* ``name``: BM25 of the question's keyword terms over the file-name words and the first chunks
  (letters and digits split, so "FY2015" meets "2015"), IDF over the files;
* ``dense``: the cosine of the question and the embedded profile;
* ``text``, ``image``, ``sparse``: the file's best hit in each retrieval branch run over the whole
  index (``retrieve.doc_depth`` hits deep): the pages themselves vote for their file.

Each signal becomes a share over files, ``exp((s - max) / t)`` (1 for the best file; ``t`` in
:data:`TEMPERATURES`), and the shares are mixed with ``retrieve.doc_weights``. Word-based signals
(``name``, ``sparse``) cannot meet a file written in another script than the question (a Korean
question, an English policy): for such a file they are missing, not zero, and its prior is the mix of
the other signals when that is higher (:func:`script_of`; words it does share, a part number, still
count; the name signal counts when the file *name* is in the question's script: "Hanbit" meets
``hanbit_business_report_2025.pdf`` whatever its text). A question that names a page ("on page
42") cannot be about a file far shorter than that: such a file's prior is 0 (:func:`too_short`).
A question that names the kind of its document ("the paper", "the slides", "the manual", "논문")
scales the prior of files of other kinds by :data:`KIND_FACTOR` when the folder holds one of that
kind (:mod:`rag.doc_kind`: page shape, an abstract, the file name; :func:`kind_factors`).
A question about what pictures show ("How many people with scarf are there in Page 5?") favours
files made of pictures, read from the size of their page renders (:mod:`rag.doc_visual`).
Before the mix, each branch signal is discounted for the file's size (:func:`discount`): a file's
best hit among thousands of items is high for any question, so long files (a 468-page manual)
stood first for questions about a 17-page brochure. In a whole-folder search the page-reference
branch ("on page 42") keeps only pages of the prior's first files (:func:`first_files`).
The Retriever adds ``retrieve.doc_boost`` times the file's share to each page's fused score (see
:meth:`rag.retrieve.Retriever.retrieve`). Tuned on the dev split (docs/eval.md, issue 18); the
script rule has no parameter and changes nothing on the dev split (every file and question there
is Latin).
"""

from __future__ import annotations

import logging
import math
import threading
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ingest.records import ItemKind
from ingest.text.tokens import doc_terms, name_words
from rag.doc_kind import file_kinds, question_kinds
from rag.doc_visual import picture_prior, picture_share
from rag.embed.base import Embedder
from rag.records import Hit, Prefetch, QueryPlan, SearchFilter
from rag.store.base import Store

log = logging.getLogger(__name__)

PROFILE_CHUNKS = 4
"""First text chunks of a file in its profile (title page, abstract, first slides)."""
PROFILE_CHARS = 1500
NAME_REPEAT = 3
"""The file name's words count this many times in the profile: a name says what the file is."""


SCRIPT_SHARE = 0.3
"""A text is in a non-Latin script when that script holds at least this share of its letters (one
Hangul syllable stands for two or three Latin letters, so a Korean question with an English product
name stays Korean)."""
_SCRIPTS = {"HANGUL": "hangul", "CJK": "cjk", "HIRAGANA": "cjk", "KATAKANA": "cjk", "CYRILLIC": "cyrillic",
            "GREEK": "greek", "ARABIC": "arabic", "HEBREW": "hebrew", "THAI": "thai", "DEVANAGARI": "devanagari"}


def script_of(text: str) -> str:
    """The writing system of a text: ``hangul``, ``cjk``, ``cyrillic``, ... when that script holds at
    least :data:`SCRIPT_SHARE` of its letters (the largest such), else ``latin``; ``""`` without
    letters (digits and codes meet every file)."""
    counts: Counter[str] = Counter()
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        first = unicodedata.name(ch, "").split(" ", 1)[0]
        script = _SCRIPTS.get(first)
        if script:
            counts[script] += 1
    if not letters:
        return ""
    if counts:
        script, n = counts.most_common(1)[0]
        if n >= SCRIPT_SHARE * letters:
            return script
    return "latin"


@dataclass
class Profile:
    """What the document stage knows of one file."""

    file: str
    text: str
    terms: Counter[str]
    script: str = "latin"
    """:func:`script_of` the file's first chunks (its name when they have no letters)."""
    name_script: str = "latin"
    """:func:`script_of` the file name's words."""
    pages: int = 0
    """Page items the file has (one per page with text or a render); 0: unknown."""
    kinds: frozenset[str] = frozenset()
    """What the file is (:func:`rag.doc_kind.file_kinds`: ``slides``, ``paper``, ...)."""
    items: Mapping[str, int] = field(default_factory=dict)
    """Items each branch searches in the file (``text``: text and tables, ``image``: figures and
    pages, ``sparse``: all), for :func:`discount`; missing: not discounted."""
    pictures: float | None = None
    """Share of the file's page renders that hold a picture (:func:`rag.doc_visual.picture_share`);
    None: unknown (no page renders, media not readable)."""


BRANCH_KINDS: dict[str, list[ItemKind]] = {"text": ["text", "table"], "image": ["figure", "page"], "sparse": []}
HUB_DISCOUNT = {"text": 0.016, "image": 0.016, "sparse": 0.1}
"""A branch signal (the file's best hit) is lowered by ``HUB_DISCOUNT[branch] * ln(items the
branch searches in the file, at least DISCOUNT_FLOOR)`` (:func:`discount`): the best of two
thousand chunks is high for any question, so a 468-page manual outscored a 17-page brochure for
"How many people with scarf are there in Page 5?". In the signal's units: cosine for the dense
branches, share of the best file for ``sparse``. Fitted on the dev split, five folds over
documents (dense 0.016 chosen on three folds, 0.024 on two; keywords 0.1 on four), held out as
good as in-sample (docs/eval.md, doc18)."""
DISCOUNT_FLOOR = 30
"""Files of fewer items than this are discounted as if they had this many: the best of a handful
of items is not inflated by their number, and among small files (a 2-page memo, a 4-page report)
what their pages say should decide (dev split: the same numbers as no floor)."""


def discount(signals: Mapping[str, np.ndarray], profiles: Sequence[Profile],
             weights: Mapping[str, float] = HUB_DISCOUNT, floor: int = DISCOUNT_FLOOR) -> dict[str, np.ndarray]:
    """The signals with each branch's best-hit scores lowered by ``weights[branch] *
    ln(max(items, floor))`` (``sparse`` scaled to its best file first); a file the branch did not
    reach stays 0, one it reached stays above 0."""
    out = dict(signals)
    for name, w in weights.items():
        v = signals.get(name)
        if v is None or not w or not np.any(v):
            continue
        if name == "sparse":
            v = v / (v.max() or 1.0)
        n = np.array([max(p.items[name], floor) if name in p.items else 1 for p in profiles], dtype=np.float64)
        reached = v > 0
        out[name] = np.where(reached, np.maximum(v - w * np.log(n), 1e-6), 0.0)
    return out


KIND_PAGES = 8
"""Page items whose render size is read per file for the slide verdict (any eight)."""
KIND_FACTOR = 0.5
"""A question naming a kind of document ("the paper", "the slides") scales the prior of files of
another kind by this, when the folder holds a file of that kind (:func:`kind_factors`)."""


def kind_factors(question: str, profiles: Sequence[Profile], factor: float = KIND_FACTOR) -> np.ndarray:
    """Per file, 1 or ``factor``: ``factor`` for files of none of the kinds the question names,
    when at least one file has one; all 1 when the question names no kind or none matches
    (shape (n,))."""
    out = np.ones(len(profiles), dtype=np.float64)
    asked = question_kinds(question)
    if not asked:
        return out
    match = np.array([bool(asked & p.kinds) for p in profiles], dtype=bool)
    if match.any():
        out[~match] = factor
    return out


NAMED_PAGE_FILES = 5
"""In a whole-folder search, the page-reference branch ("on page 42") keeps only pages of the
prior's first this many files (:func:`first_files`): page 42 of every long filing is not the page
a user means (dev: 3, 5 and 10 give the same numbers; docs/eval.md, doc18)."""


def first_files(prior: Mapping[str, float], top: int = NAMED_PAGE_FILES) -> set[str]:
    """The ``top`` files of highest prior (ties: first in the mapping), those above 0 only."""
    return {f for f in sorted(prior, key=lambda f: -prior[f])[:top] if prior[f] > 0}


PAGE_SLACK = (1.25, 2)
"""A file is too short for a named page only when ``page items * 1.25 + 2`` is still below it: pages
without text have no page item (dev split: up to 22 of 126 pages of one filing)."""


def too_short(profiles: Sequence[Profile], pages: Sequence[int]) -> np.ndarray:
    """Files that cannot hold the highest of the question's named ``pages`` (bool, shape (n,));
    files with no page items are never ruled out."""
    if not pages:
        return np.zeros(len(profiles), dtype=bool)
    top = max(pages)
    factor, slack = PAGE_SLACK
    return np.array([p.pages > 0 and p.pages * factor + slack < top for p in profiles], dtype=bool)


def bm25_scores(query_terms: Sequence[str], profiles: Sequence[Profile], k1: float = 1.2,
                b: float = 0.5) -> np.ndarray:
    """BM25 of the query terms (each once) over the profiles; IDF over the profiles. Shape (n,)."""
    return bm25_over(query_terms, [p.terms for p in profiles], k1, b)


def bm25_over(query_terms: Sequence[str], counts: Sequence[Mapping[str, int]], k1: float = 1.2,
              b: float = 0.5) -> np.ndarray:
    """BM25 of the query terms (each once) over term counts, one mapping per unit; IDF over the
    units. Shape (n,)."""
    n = len(counts)
    if n == 0:
        return np.zeros(0)
    lengths = np.array([sum(c.values()) for c in counts], dtype=np.float64)
    avg = float(lengths.mean()) or 1.0
    out = np.zeros(n, dtype=np.float64)
    for term in dict.fromkeys(query_terms):
        tf = np.array([c.get(term, 0) for c in counts], dtype=np.float64)
        df = int((tf > 0).sum())
        if df == 0:
            continue
        idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        out += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths / avg))
    return out


def best_scores(hits: Sequence[Hit], files: Sequence[str]) -> np.ndarray:
    """The best raw score of each file among one branch's hits (0 where none). Shape (n,)."""
    index = {f: i for i, f in enumerate(files)}
    out = np.zeros(len(files), dtype=np.float64)
    for h in hits:
        i = index.get(h.item.file)
        if i is not None and h.score > out[i]:
            out[i] = h.score
    return out


def share(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Scores as shares in [0, 1]: ``exp((s - max) / t)``, so the best file gets 1 and a file far
    behind near 0; ``t`` in the signal's own units. All zero: all zero."""
    if scores.size == 0 or not np.any(scores):
        return np.zeros_like(scores)
    return np.exp((scores - scores.max()) / max(temperature, 1e-9))


TEMPERATURES = {"name": 2.0, "dense": 0.02, "text": 0.02, "image": 0.02, "sparse": 0.15}
"""Softmax temperatures of the signals, in their units: BM25 points (``name``), cosine (``dense``
and the dense branches), share of the best file's keyword score (``sparse``)."""
SIGNALS = tuple(TEMPERATURES)


def mix(signals: Mapping[str, np.ndarray], weights: Mapping[str, float],
        missing: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """The document prior: the weighted mean of the signals' shares. Shape (n,). The keyword
    branch's BM25 scores have no fixed scale, so they are divided by the best file's first.
    ``missing``: signal -> files (bool, shape (n,)) for which that signal does not count, so their
    prior is the weighted mean of the other signals (a file no keyword can reach is not penalised
    for the keywords' silence); see :meth:`DocumentStage.missing`."""
    n = len(next(iter(signals.values()))) if signals else 0
    out = np.zeros(n, dtype=np.float64)
    total = np.zeros(n, dtype=np.float64)
    for k, v in signals.items():
        w = weights.get(k, 0.0)
        if w <= 0:
            continue
        if k == "sparse":
            v = v / (v.max() or 1.0)
        wv = np.full(n, w, dtype=np.float64)
        if missing is not None and k in missing:
            wv[missing[k]] = 0.0
        out += wv * share(v, TEMPERATURES[k])
        total += wv
    return np.divide(out, total, out=np.zeros(n, dtype=np.float64), where=total > 0)


class DocumentStage:
    """Scores the files of an index for a question (profiles built lazily, once per file set)."""

    def __init__(self, embedder: Embedder, store: Store) -> None:
        self.embedder = embedder
        self.store = store
        self._lock = threading.Lock()
        self._files: tuple[str, ...] = ()
        self._profiles: list[Profile] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)

    def profiles(self) -> tuple[list[Profile], np.ndarray]:
        """The profiles of every file the store holds and their vectors (n, dim); re-read when the
        store's files changed since the last call, and only profiles whose text changed (new
        files, re-ingested ones) are embedded again: one new file in a large folder costs one
        embedding, not one per file."""
        files = tuple(self.store.files())
        with self._lock:
            if files != self._files:
                profiles = [self._profile(f) for f in files]
                known = {p.text: v for p, v in zip(self._profiles, self._vectors, strict=True)}
                todo = list(dict.fromkeys(p.text for p in profiles if p.text not in known))
                if todo:
                    fresh = np.asarray(self.embedder.embed_texts(todo), dtype=np.float32)  # (m, dim)
                    known.update(zip(todo, fresh, strict=True))
                vectors = (np.stack([known[p.text] for p in profiles]) if profiles
                           else np.zeros((0, self.embedder.dim), dtype=np.float32))  # (n, dim)
                self._files, self._profiles, self._vectors = files, profiles, vectors
                log.info("document stage: %d file profiles read, %d embedded", len(files), len(todo))
            return self._profiles, self._vectors

    def _profile(self, file: str) -> Profile:
        chunks = self.store.chunks_at(file, list(range(PROFILE_CHUNKS)))
        body = " ".join(h.item.text for h in chunks)[:PROFILE_CHARS]
        name = name_words(file)
        terms = Counter(doc_terms(name) * NAME_REPEAT + doc_terms(body))
        pages = self.store.count(SearchFilter(files=[file], kinds=["page"]))
        renders = self._page_renders(file, pages) if pages else []
        sizes = [(w, h) for _, w, h in renders[:KIND_PAGES]]
        items = {b: self.store.count(SearchFilter(files=[file], kinds=k)) for b, k in BRANCH_KINDS.items()}
        return Profile(file=file, text=f"{name}\n{body}", terms=terms, script=script_of(body) or script_of(name),
                       name_script=script_of(name) or "latin", pages=pages,
                       kinds=file_kinds(name, body, sizes), items=items, pictures=picture_share(renders))

    def _page_renders(self, file: str, pages: int) -> list[tuple[str, int, int]]:
        """(image path, width, height) of the ``pages`` page renders of ``file``: one dense query
        restricted to the file's page items with a flat probe vector (which pages come first does
        not matter: the first :data:`KIND_PAGES` give the slide verdict, all of them the picture
        share)."""
        dim = self.embedder.dim
        plan = QueryPlan(dense=[1.0 / math.sqrt(dim)] * dim,
                         prefetch=[Prefetch(using="dense", limit=pages, kinds=["page"])],
                         filter=SearchFilter(files=[file], kinds=["page"]), limit=pages)
        return [(h.item.image_path, h.item.width, h.item.height) for h in self.store.query(plan)
                if h.item.kind == "page"]

    def signals(self, query: str, query_vector: Sequence[float] | None,
                branches: Mapping[str, Sequence[Hit]],
                snapshot: tuple[list[Profile], np.ndarray] | None = None,
                ) -> tuple[list[str], dict[str, np.ndarray]]:
        """The files and each signal's raw score per file: ``name`` (BM25 on the profile), ``dense``
        (profile cosine) and, for each branch of ``branches`` (``text``, ``image``, ``sparse``: that
        branch's hits over the whole index), the file's best hit score. ``snapshot``: the
        profiles to score (default: :meth:`profiles` now)."""
        profiles, vectors = snapshot if snapshot is not None else self.profiles()
        files = [p.file for p in profiles]
        out = {"name": bm25_scores(doc_terms(query), profiles)}
        if query_vector is not None and len(files):
            out["dense"] = vectors @ np.asarray(query_vector, dtype=np.float32)  # (n,)
        for name, hits in branches.items():
            if name in TEMPERATURES:
                out[name] = best_scores(hits, files)
        return files, out

    def prior(self, query: str, query_vector: Sequence[float] | None, branches: Mapping[str, Sequence[Hit]],
              weights: Mapping[str, float], pages: Sequence[int] = ()) -> dict[str, float]:
        """file -> document prior in [0, 1] (the mix of the signals' shares, branch signals
        discounted for the file's size by :func:`discount`; for files in another
        script than the question the higher of that and the mix without the word signals; for a
        question about what pictures show, blended with the files' picture shares and files
        without pictures scaled down (:func:`rag.doc_visual.picture_prior`); times
        :data:`KIND_FACTOR` for files of another kind than the one the question names; 0 for
        files too short for the ``pages`` the question names)."""
        # One snapshot for every signal: an ingest job may change the file set between two
        # profiles() calls, and the arrays must stay aligned with one list of files.
        snapshot = self.profiles()
        files, sig = self.signals(query, query_vector, branches, snapshot)
        if not files:
            return {}
        sig = discount(sig, snapshot[0])
        out = mix(sig, weights)
        missing = self.missing(query, snapshot[0])
        if missing:  # words may still raise such a file (a part number both share), never lower it
            out = np.maximum(out, mix(sig, weights, missing))
        out = picture_prior(query, out, [p.pictures for p in snapshot[0]])
        out *= kind_factors(query, snapshot[0])
        out[too_short(snapshot[0], pages)] = 0.0
        return dict(zip(files, out.tolist(), strict=True))

    def missing(self, query: str, profiles: Sequence[Profile] | None = None) -> dict[str, np.ndarray]:
        """The word signals that cannot speak for each file (bool, shape (n,) each): ``sparse`` for
        files whose text is in another script than ``query``, ``name`` for those whose name is too.
        Empty when the question has no letters. ``profiles``: default :meth:`profiles` now."""
        q = script_of(query)
        if not q:
            return {}
        if profiles is None:
            profiles = self.profiles()[0]
        return {"sparse": np.array([p.script != q for p in profiles], dtype=bool),
                "name": np.array([p.script != q and p.name_script != q for p in profiles], dtype=bool)}
