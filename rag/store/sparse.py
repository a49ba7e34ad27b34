"""Keyword vectors for Qdrant's sparse vector with the IDF modifier.

The client sends BM25's term-frequency part (saturated, length-normalised); Qdrant multiplies
each matching term by its IDF over the collection at query time. Documents and queries are cut
by the same tokenizer, :func:`ingest.text.tokens.keyword_terms` (Latin codes whole and by parts,
Korean through Kiwi morphemes: particles and endings dropped, compound nouns whole and by parts);
its :data:`~ingest.text.tokens.TOKENIZER_VERSION` is recorded in every index, which refuses another.

A term maps to a stable 31-bit index: the first 4 bytes of its BLAKE2b digest (not Python's
``hash()``, which changes per process). Encoding is deterministic: the same text gives the same
vector in every process.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from ingest.text.tokens import keyword_terms
from rag.records import SparseVector

__all__ = ["AVG_LEN", "K1", "B", "encode_sparse", "encode_sparse_query", "term_index"]

K1 = 1.2
"""BM25 term-frequency saturation."""
B = 0.75
"""BM25 length normalisation (0: none, 1: full)."""
AVG_LEN = 150.0
"""Expected document length in terms: a 200-word chunk minus stopwords, plus compound parts."""


def term_index(term: str) -> int:
    """Stable 31-bit index of a term (BLAKE2b, so the same in every process and version)."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def _to_vector(weights: dict[int, float]) -> SparseVector:
    indices = sorted(weights)
    return SparseVector(indices=indices, values=[weights[i] for i in indices])


def encode_sparse(text: str) -> SparseVector:
    """Document vector of ``text``: BM25 TF weight ``tf*(k1+1) / (tf + k1*(1-b+b*len/avg_len))``
    per term (IDF is applied by Qdrant). Empty text, or only stopwords, gives an empty vector."""
    terms = keyword_terms(text)
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
    return _to_vector({term_index(term): 1.0 for term in keyword_terms(text)})
