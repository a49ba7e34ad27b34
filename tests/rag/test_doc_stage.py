"""Issue 18: page-level fusion (pure) and the document stage of whole-folder searches (on Edge)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ingest.text.tokens import doc_terms, name_words
from rag.config import RetrieveConfig
from rag.doc_stage import DocumentStage, Profile, bm25_scores, mix, share
from rag.records import Point, SearchFilter
from rag.retrieve import Retriever, fuse_pages, whole_index
from rag.store.edge import EdgeStore
from rag.store.sparse import encode_sparse

from .test_retrieve import HashEmbedder, _hit, _item


def test_pages_found_by_several_branches_add_up() -> None:
    text = [_hit("text", "/a.pdf", 1, 1, 0.9), _hit("text", "/a.pdf", 2, 2, 0.8), _hit("text", "/a.pdf", 2, 3, 0.7)]
    image = [_hit("page", "/a.pdf", 2, 4, 0.5), _hit("page", "/a.pdf", 3, 5, 0.4)]
    sparse = [_hit("table", "/a.pdf", 3, 6, 9.0), _hit("text", "/a.pdf", 2, 3, 5.0)]
    fused = fuse_pages([("text", text), ("image", image), ("sparse", sparse)], {}, rrf_k=10)
    pages = list(dict.fromkeys((h.item.file, h.item.page) for h in fused))
    # page 2: ranks 2, 1, 2 -> 1/12 + 1/11 + 1/12; page 3: -, 2, 1; page 1: 1, -, -
    assert pages == [("/a.pdf", 2), ("/a.pdf", 3), ("/a.pdf", 1)]
    assert fused[0].score == fused[1].score == 1 / 12 + 1 / 11 + 1 / 12
    assert [h.id for h in fused].count(text[2].id) == 1  # one hit found by two branches is kept once
    # weights scale a branch's reciprocal ranks: the image branch barely counting, page 1 wins
    weighted = fuse_pages([("text", text), ("image", image)], {"image": 0.01}, rrf_k=10)
    assert (weighted[0].item.page, weighted[0].score) == (1, 1 / 11)


def test_a_document_prior_lifts_the_pages_of_its_file() -> None:
    hits = [_hit("text", "/a.pdf", 1, 1, 0.9), _hit("text", "/b.pdf", 1, 2, 0.8)]
    plain = fuse_pages([("text", hits)], {}, 10)
    assert plain[0].item.file == "/a.pdf"
    lifted = fuse_pages([("text", hits)], {}, 10, prior={"/a.pdf": 0.0, "/b.pdf": 1.0}, boost=0.4)
    assert lifted[0].item.file == "/b.pdf" and lifted[0].score == 1 / 12 + 0.4


def test_whole_index_means_no_file_restriction() -> None:
    assert whole_index(None) and whole_index(SearchFilter(tenant="t", kinds=["text"]))
    assert not whole_index(SearchFilter(files=["/a.pdf"])) and not whole_index(SearchFilter(file_globs=["*.pdf"]))


def test_file_names_and_years_meet_questions() -> None:
    assert name_words("/x/ADOBE_2015_10K.pdf") == "ADOBE 2015 10K"
    assert {"fy2015", "fy", "2015"} <= set(doc_terms("What was the FY2015 revenue?"))
    profiles = [Profile(f, f, Counter(doc_terms(name_words(f)) * 3))
                for f in ("/x/ADOBE_2015_10K.pdf", "/x/ADOBE_2017_10K.pdf", "/x/NIKE_2018_10K.pdf")]
    scores = bm25_scores(doc_terms("what is the FY2015 operating cash flow ratio for Adobe?"), profiles)
    assert int(np.argmax(scores)) == 0 and scores[1] > scores[2]


def test_shares_and_mix() -> None:
    s = share(np.array([1.0, 0.98, 0.5]), 0.02)
    assert s[0] == 1.0 and 0.3 < s[1] < 0.4 and s[2] < 1e-9
    assert not share(np.zeros(3), 1.0).any()
    # the keyword signal has no scale: divided by its best first
    mixed = mix({"sparse": np.array([30.0, 15.0]), "name": np.zeros(2)}, {"sparse": 1.0, "name": 1.0})
    assert mixed[0] == 0.5 and mixed[1] < mixed[0]


DOCS = {
    "/f/ACME_2019_10K.pdf": ["ACME Corp annual report 2019", "Total revenue was 100 in 2019."],
    "/f/ACME_2021_10K.pdf": ["ACME Corp annual report 2021", "Total revenue was 140 in 2021."],
    "/f/pump-manual.pdf": ["Pump manual", "Replace the gasket monthly."],
}


def test_whole_folder_search_puts_the_named_filing_first(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    store = EdgeStore(tmp_path / "idx")
    store.ensure(embedder.id, embedder.dim)
    points, seq = [], 0
    for file, pages in DOCS.items():
        for page, text in enumerate(pages, start=1):
            seq += 1
            item = _item("text", file, page, seq, text).model_copy(update={"order": page - 1})
            points.append(Point(id=item.id, vector=embedder.embed_texts([text])[0].tolist(),
                                sparse=encode_sparse(text), item=item, embedded_as="text"))
    store.upsert(points)
    question = "What was ACME's total revenue in FY2021?"
    stage = DocumentStage(embedder, store)
    files, signals = stage.signals(question, embedder.embed_queries([question])[0].tolist(), {})
    assert files[int(np.argmax(signals["name"]))] == "/f/ACME_2021_10K.pdf"
    # the hash embedder's vectors favour the 2019 page (bucket collisions): without the stage it wins
    off = Retriever(embedder, store, RetrieveConfig(k=2, candidates=10, doc_stage=False))
    assert off.search(question)[0].file == "/f/ACME_2019_10K.pdf"
    on = Retriever(embedder, store, RetrieveConfig(k=2, candidates=10, doc_weights={"name": 1.0}))
    assert on.search(question)[0].file == "/f/ACME_2021_10K.pdf"
    # within one file the document stage stays out of it
    ev = on.search(question, flt=SearchFilter(files=["/f/ACME_2019_10K.pdf"]))
    assert {e.file for e in ev} == {"/f/ACME_2019_10K.pdf"}
