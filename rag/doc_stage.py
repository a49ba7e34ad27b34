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
:data:`TEMPERATURES`), and the shares are mixed with ``retrieve.doc_weights``. The Retriever adds
``retrieve.doc_boost`` times the file's share to each page's fused score (see
:meth:`rag.retrieve.Retriever.retrieve`). Tuned on the dev split (docs/eval.md, issue 18).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ingest.text.tokens import doc_terms, name_words
from rag.embed.base import Embedder
from rag.records import Hit
from rag.store.base import Store

log = logging.getLogger(__name__)

PROFILE_CHUNKS = 4
"""First text chunks of a file in its profile (title page, abstract, first slides)."""
PROFILE_CHARS = 1500
NAME_REPEAT = 3
"""The file name's words count this many times in the profile: a name says what the file is."""


@dataclass
class Profile:
    """What the document stage knows of one file."""

    file: str
    text: str
    terms: Counter[str]


def bm25_scores(query_terms: Sequence[str], profiles: Sequence[Profile], k1: float = 1.2,
                b: float = 0.5) -> np.ndarray:
    """BM25 of the query terms (each once) over the profiles; IDF over the profiles. Shape (n,)."""
    n = len(profiles)
    if n == 0:
        return np.zeros(0)
    lengths = np.array([sum(p.terms.values()) for p in profiles], dtype=np.float64)
    avg = float(lengths.mean()) or 1.0
    out = np.zeros(n, dtype=np.float64)
    for term in dict.fromkeys(query_terms):
        tf = np.array([p.terms.get(term, 0) for p in profiles], dtype=np.float64)
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


def mix(signals: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The document prior: the weighted mean of the signals' shares. Shape (n,). The keyword
    branch's BM25 scores have no fixed scale, so they are divided by the best file's first."""
    n = len(next(iter(signals.values()))) if signals else 0
    out = np.zeros(n, dtype=np.float64)
    total = 0.0
    for k, v in signals.items():
        w = weights.get(k, 0.0)
        if w <= 0:
            continue
        if k == "sparse":
            v = v / (v.max() or 1.0)
        out += w * share(v, TEMPERATURES[k])
        total += w
    return out / total if total else out


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
        """The profiles of every file the store holds and their vectors (n, dim); rebuilt when the
        store's files changed since the last call."""
        files = tuple(self.store.files())
        with self._lock:
            if files != self._files:
                profiles = [self._profile(f) for f in files]
                texts = [p.text for p in profiles]
                vectors = (np.asarray(self.embedder.embed_texts(texts), dtype=np.float32) if texts
                           else np.zeros((0, self.embedder.dim), dtype=np.float32))  # (n, dim)
                self._files, self._profiles, self._vectors = files, profiles, vectors
                log.info("document stage: %d file profiles built", len(files))
            return self._profiles, self._vectors

    def _profile(self, file: str) -> Profile:
        chunks = self.store.chunks_at(file, list(range(PROFILE_CHUNKS)))
        body = " ".join(h.item.text for h in chunks)[:PROFILE_CHARS]
        name = name_words(file)
        terms = Counter(doc_terms(name) * NAME_REPEAT + doc_terms(body))
        return Profile(file=file, text=f"{name}\n{body}", terms=terms)

    def signals(self, query: str, query_vector: Sequence[float] | None,
                branches: Mapping[str, Sequence[Hit]]) -> tuple[list[str], dict[str, np.ndarray]]:
        """The files and each signal's raw score per file: ``name`` (BM25 on the profile), ``dense``
        (profile cosine) and, for each branch of ``branches`` (``text``, ``image``, ``sparse``: that
        branch's hits over the whole index), the file's best hit score."""
        profiles, vectors = self.profiles()
        files = [p.file for p in profiles]
        out = {"name": bm25_scores(doc_terms(query), profiles)}
        if query_vector is not None and len(files):
            out["dense"] = vectors @ np.asarray(query_vector, dtype=np.float32)  # (n,)
        for name, hits in branches.items():
            if name in TEMPERATURES:
                out[name] = best_scores(hits, files)
        return files, out

    def prior(self, query: str, query_vector: Sequence[float] | None, branches: Mapping[str, Sequence[Hit]],
              weights: Mapping[str, float]) -> dict[str, float]:
        """file -> document prior in [0, 1] (the mix of the signals' shares)."""
        files, sig = self.signals(query, query_vector, branches)
        if not files:
            return {}
        return dict(zip(files, mix(sig, weights).tolist(), strict=True))
