"""Keyword vectors: tokenisation, stable hashing, BM25 weights."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.text.tokens import keyword_terms
from rag.store.sparse import K1, encode_sparse, encode_sparse_query, term_index


def test_part_numbers_are_indexed_whole_and_by_parts() -> None:
    assert keyword_terms("Fit part XK-4471-B.") == ["fit", "part", "xk-4471-b", "xk", "4471", "b"]
    assert keyword_terms("XK\u20114471\u2013B") == ["xk-4471-b", "xk", "4471", "b"]  # unicode dashes
    assert "v2.1" in keyword_terms("firmware v2.1 or later")


def test_stopwords_and_case() -> None:
    assert keyword_terms("The Pump and THE valve") == ["pump", "valve"]
    assert encode_sparse("the of and").indices == []
    assert encode_sparse_query("what is the").indices == []


def test_term_index_is_stable_across_processes() -> None:
    here = [term_index(t) for t in ("pump", "xk-4471-b", "überstraße")]
    code = ("from rag.store.sparse import term_index as t; "
            "print([t(w) for w in ('pump', 'xk-4471-b', 'überstraße')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.strip() == str(here)
    assert all(0 <= i < 2**31 for i in here)


def test_bm25_weights_saturate_and_normalise_length() -> None:
    one = encode_sparse("pump")
    three = encode_sparse("pump pump pump")
    assert len(one.indices) == len(three.indices) == 1
    assert one.values[0] < three.values[0] < K1 + 1  # saturates below k1 + 1
    short = encode_sparse("pump valve")
    long = encode_sparse("pump " + " ".join(f"w{i}" for i in range(300)))
    i = short.indices.index(term_index("pump"))
    j = long.indices.index(term_index("pump"))
    assert long.values[j] < short.values[i]


def test_query_weights_are_one_per_unique_term() -> None:
    q = encode_sparse_query("pump pump valve")
    assert sorted(q.indices) == q.indices and len(q.indices) == 2
    assert q.values == [1.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_encoding_is_deterministic_and_well_formed(text: str) -> None:
    a, b = encode_sparse(text), encode_sparse(text)
    assert a == b
    assert len(a.indices) == len(set(a.indices)) == len(a.values)
    assert a.indices == sorted(a.indices)
    assert all(v > 0 for v in a.values)
