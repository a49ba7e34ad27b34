"""Keyword vectors for Qdrant's sparse vector with the IDF modifier.

The client sends BM25's term-frequency part (saturated, length-normalised); Qdrant multiplies
each matching term by its IDF over the collection at query time. Both sides use the same
tokeniser:

* text is NFKC-normalised and lowercased; unicode dashes become ``-``;
* tokens are runs of word characters, joined through ``-``, ``.``, ``/`` or ``_`` when a word
  character follows (``XK-4471-B``, ``v2.1``, ``example.com``);
* a joined token is indexed whole *and* by its parts, so ``XK-4471-B`` is found by the exact part
  number and by ``4471``;
* a small English stopword list is dropped;
* a term maps to a stable 31-bit index: the first 4 bytes of its BLAKE2b digest (not Python's
  ``hash()``, which changes per process).

Encoding is deterministic: the same text gives the same vector in every process.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator

from rag.records import SparseVector

K1 = 1.2
"""BM25 term-frequency saturation."""
B = 0.75
"""BM25 length normalisation (0: none, 1: full)."""
AVG_LEN = 150.0
"""Expected document length in terms: a 200-word chunk minus stopwords, plus compound parts."""
MAX_TERM_CHARS = 64
"""Longer tokens (base64 blobs, hashes) are cut to this many characters before hashing."""

STOPWORDS: frozenset[str] = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "did", "do", "does",
    "for", "from", "had", "has", "have", "he", "her", "his", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "no", "not", "of", "on", "or", "our", "she", "so", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "was", "we", "were",
    "what", "when", "where", "which", "who", "whom", "why", "will", "with", "you", "your", "s",
    "t",
})

_DASHES = re.compile(r"[\u2010\u2011\u2012\u2013\u2014\u2212\u00ad]")
_TOKEN = re.compile(r"\w+(?:[-./]\w+)*")
_SPLIT = re.compile(r"[-./_]+")


def term_index(term: str) -> int:
    """Stable 31-bit index of a term (BLAKE2b, so the same in every process and version)."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def tokenize(text: str) -> list[str]:
    """Terms of ``text`` in order, compounds followed by their parts, stopwords removed."""
    return list(_terms(text))


def _terms(text: str) -> Iterator[str]:
    norm = _DASHES.sub("-", unicodedata.normalize("NFKC", text)).lower()
    for match in _TOKEN.finditer(norm):
        token = match.group()[:MAX_TERM_CHARS]
        parts = [p for p in _SPLIT.split(token) if p]
        if len(parts) > 1:
            yield token
            yield from (p for p in parts if p not in STOPWORDS)
        elif parts and parts[0] not in STOPWORDS:
            yield parts[0]


def _to_vector(weights: dict[int, float]) -> SparseVector:
    indices = sorted(weights)
    return SparseVector(indices=indices, values=[weights[i] for i in indices])


def encode_sparse(text: str) -> SparseVector:
    """Document vector of ``text``: BM25 TF weight ``tf*(k1+1) / (tf + k1*(1-b+b*len/avg_len))``
    per term (IDF is applied by Qdrant). Empty text, or only stopwords, gives an empty vector."""
    terms = tokenize(text)
    if not terms:
        return SparseVector()
    norm = K1 * (1.0 - B + B * len(terms) / AVG_LEN)
    weights: dict[int, float] = {}
    for term, tf in Counter(terms).items():
        idx = term_index(term)
        # Two terms that collide on an index add up, as they would in a hashed TF vector.
        weights[idx] = weights.get(idx, 0.0) + tf * (K1 + 1.0) / (tf + norm)
    return _to_vector(weights)


def encode_sparse_query(text: str) -> SparseVector:
    """Query vector of ``text``: weight 1.0 for each unique term (Qdrant adds IDF)."""
    return _to_vector({term_index(term): 1.0 for term in tokenize(text)})
