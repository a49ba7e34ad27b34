"""Retrieval: query plans per mode, page-level grouping (pure), and the retriever on a real Edge store
(filters, file globs, a reranker)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from ingest.records import BBox, Figure, Item, PageImage, Table, TextChunk
from rag.config import RetrieveConfig
from rag.errors import EmbedError
from rag.records import Hit, Point, SearchFilter
from rag.rerank import EmbeddingReranker, NoReranker
from rag.retrieve import Retriever, build_plan, group_by_page, referenced_pages
from rag.store.edge import EdgeStore
from rag.store.sparse import encode_sparse

DIM = 64


class HashEmbedder:
    """A deterministic bag-of-words embedder: words hashed into DIM buckets, L2-normalised."""

    id = "test:hash"
    dim = DIM
    embeds_images = False

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)  # (n, dim)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
        out[:, 0] += 1e-3  # no zero rows
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_texts(texts)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        raise EmbedError("text-only test embedder")


def _item(kind: str, file: str, page: int, seq: int, text: str = "", bbox: BBox | None = None) -> Item:
    common = {"id": f"00000000-0000-0000-0000-{seq:012d}", "doc_id": "d", "file": file, "page": page,
              "text": text, "bbox": bbox, "section": [f"S{seq}"]}
    if kind == "text":
        return TextChunk(**common)
    if kind == "table":
        return Table(**common)
    if kind == "figure":
        return Figure(**common, image_path=f"fig{seq}.png")
    return PageImage(**common, image_path=f"page-{page}.png", width=10, height=10)


def _hit(kind: str, file: str, page: int, seq: int, score: float, text: str = "",
         bbox: BBox | None = None) -> Hit:
    return Hit(id=f"00000000-0000-0000-0000-{seq:012d}", score=score,
               item=_item(kind, file, page, seq, text, bbox))


# -- plans --------------------------------------------------------------------------------------

def test_hybrid_plan_has_three_branches() -> None:
    cfg = RetrieveConfig(candidates=30)
    plan = build_plan(cfg, 6, [0.1] * 4, "part XK-4471-B")
    assert [(b.using, b.kinds, b.limit) for b in plan.prefetch] == [
        ("dense", ["text", "table"], 30), ("dense", ["figure", "page"], 30), ("sparse", [], 30)]
    assert plan.dense == [0.1] * 4 and plan.sparse is not None and plan.sparse.indices
    assert plan.filter.kinds == []  # all kinds: no restriction to send
    assert plan.limit == 30


def test_modes_and_kinds() -> None:
    dense = build_plan(RetrieveConfig(mode="dense"), 6, [0.1] * 4, "q")
    assert [b.using for b in dense.prefetch] == ["dense", "dense"] and dense.sparse is None
    sparse = build_plan(RetrieveConfig(mode="sparse"), 6, None, "pump")
    assert [b.using for b in sparse.prefetch] == ["sparse"] and sparse.dense is None
    text_only = build_plan(RetrieveConfig(kinds=["text"]), 6, [0.1] * 4, "q")
    assert [b.kinds for b in text_only.prefetch] == [["text", "table"], []]
    assert text_only.filter.kinds == ["text"]
    narrowed = build_plan(RetrieveConfig(kinds=["text", "page"]), 6, [0.1] * 4, "q",
                          SearchFilter(kinds=["page", "figure"], tenant="t"))
    assert narrowed.filter.kinds == ["page"] and narrowed.filter.tenant == "t"
    with pytest.raises(ValueError, match="nothing in common"):
        build_plan(RetrieveConfig(kinds=["text"]), 6, [0.1] * 4, "q", SearchFilter(kinds=["page"]))


def test_branch_quotas_and_weights() -> None:
    cfg = RetrieveConfig(candidates=30, text_candidates=50, image_candidates=10,
                         branch_weights={"sparse": 2.0, "image": 0.5})
    plan = build_plan(cfg, 6, [0.1] * 4, "pump")
    assert [(b.kinds, b.limit, b.weight) for b in plan.prefetch] == [
        (["text", "table"], 50, 1.0), (["figure", "page"], 10, 0.5), ([], 30, 2.0)]
    assert plan.limit == 50  # max(4 * k, deepest branch), at most all branches together
    assert build_plan(cfg, 30, [0.1] * 4, "pump").limit == 90
    assert [b.limit for b in build_plan(RetrieveConfig(candidates=7, mode="sparse"), 1, None, "x").prefetch] == [7]
    with pytest.raises(ValidationError, match="must be > 0"):
        RetrieveConfig(branch_weights={"text": 0.0})
    with pytest.raises(ValidationError):
        RetrieveConfig(branch_weights={"video": 1.0})  # type: ignore[dict-item]


# -- grouping -----------------------------------------------------------------------------------

def test_page_hits_merge_into_one_evidence() -> None:
    box = BBox(x0=1, y0=2, x1=30, y1=40)
    hits = [
        _hit("figure", "/a.pdf", 3, 1, 0.9, "bridge text of a chart", box),
        _hit("text", "/b.pdf", 1, 2, 0.8, "other file"),
        _hit("text", "/a.pdf", 3, 3, 0.7, "the chunk that explains the chart"),
        _hit("page", "/a.pdf", 3, 4, 0.6),
        _hit("text", "/a.pdf", 3, 5, 0.5, "a weaker chunk"),
    ]
    ev = group_by_page(hits, k=5)
    assert [(e.file, e.page) for e in ev] == [("/a.pdf", 3), ("/b.pdf", 1)]
    top = ev[0]
    assert (top.id, top.kind, top.score, top.bbox) == (hits[0].id, "figure", 0.9, box)
    assert top.text == "the chunk that explains the chart\n\na weaker chunk"  # all text-like hits, rank order
    assert top.section == ["S3"]
    assert top.image_path == "page-3.png"  # the page render wins over the figure crop
    assert ev[1].image_path is None and ev[1].text == "other file"


def test_figure_crop_is_kept_without_a_page_render_and_bridge_text_is_the_fallback() -> None:
    ev = group_by_page([_hit("figure", "/a.pdf", 2, 1, 0.9, "caption: flow diagram")], k=3)
    assert ev[0].image_path == "fig1.png" and ev[0].text == "caption: flow diagram"


def test_k_and_diversity() -> None:
    hits = [_hit("text", "/a.pdf", p, p, 1.0 - p / 100, f"a{p}") for p in range(1, 7)]
    hits += [_hit("text", "/b.pdf", 1, 50, 0.5, "b1")]
    ev = group_by_page(hits, k=4)  # cap: max(2, ceil(4/2)) = 2 pages per file, then fill
    assert [(e.file, e.page) for e in ev] == [("/a.pdf", 1), ("/a.pdf", 2), ("/a.pdf", 3), ("/b.pdf", 1)]
    assert [e.score for e in ev] == sorted((e.score for e in ev), reverse=True)
    assert len(group_by_page(hits, k=2)) == 2
    only_a = group_by_page(hits[:6], k=4)  # nothing else to diversify with: still fills k
    assert [e.page for e in only_a] == [1, 2, 3, 4]
    assert group_by_page([], k=3) == []
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        group_by_page(hits, k=0)


# -- end to end on Edge -------------------------------------------------------------------------

PAGES = {
    ("/m/pump.pdf", 1): "Centrifugal pump maintenance. Check the impeller and the shaft seal monthly.",
    ("/m/pump.pdf", 2): "Replace the housing gasket with part XK-4471-B before restarting.",
    ("/m/valve.pdf", 1): "Ball valve torque settings for the manifold flanges.",
    ("/m/motor.pdf", 1): "Motor bearing lubrication intervals and voltage checks.",
}


@pytest.fixture
def retriever(tmp_path: Path) -> Retriever:
    embedder = HashEmbedder()
    store = EdgeStore(tmp_path / "idx")
    store.ensure(embedder.id, embedder.dim)
    points = []
    for seq, ((file, page), text) in enumerate(PAGES.items()):
        for kind, k_text in (("text", text), ("page", f"page {page} of {file}")):
            item = _item(kind, file, page, seq * 10 + (kind == "page"), k_text)
            vec = embedder.embed_texts([item.text])[0].tolist()
            points.append(Point(id=item.id, vector=vec, sparse=encode_sparse(item.text), item=item,
                                embedded_as="text", tenant="acme" if "pump" in file else "other"))
    store.upsert(points)
    return Retriever(embedder, store, RetrieveConfig(k=3, candidates=10))


def test_search_groups_pages_and_finds_part_numbers(retriever: Retriever) -> None:
    ev = retriever.search("Which part is XK-4471-B?")
    assert (ev[0].file, ev[0].page) == ("/m/pump.pdf", 2)
    assert "XK-4471-B" in ev[0].text
    assert ev[0].image_path == "page-2.png"
    assert len(ev) == 3 and len({(e.file, e.page) for e in ev}) == 3


def test_search_respects_filters_and_k(retriever: Retriever) -> None:
    ev = retriever.search("pump valve motor", k=10, flt=SearchFilter(tenant="acme"))
    assert {e.file for e in ev} == {"/m/pump.pdf"}
    assert len(retriever.search("valve torque", k=1)) == 1
    ev, seconds = retriever.retrieve("valve torque", k=2, flt=SearchFilter(files=["/m/valve.pdf"]))
    assert [e.file for e in ev] == ["/m/valve.pdf"] and set(seconds) == {"embed", "query", "group"}
    with pytest.raises(ValueError, match="query is empty"):
        retriever.search("  ")


def test_sparse_mode_does_not_embed(retriever: Retriever) -> None:
    retriever.cfg = RetrieveConfig(mode="sparse", k=2)
    retriever.embedder = None  # type: ignore[assignment]  # would fail if called
    ev = retriever.search("XK-4471-B gasket")
    assert (ev[0].file, ev[0].page) == ("/m/pump.pdf", 2)


def test_file_globs_expand_against_the_store(retriever: Retriever) -> None:
    ev = retriever.search("pump valve motor", k=10, flt=SearchFilter(file_globs=["/m/[pv]*.pdf"]))
    assert {e.file for e in ev} == {"/m/pump.pdf", "/m/valve.pdf"}
    # listed files and patterns form one allowed set
    ev = retriever.search("pump valve motor", k=10,
                          flt=SearchFilter(files=["/m/motor.pdf"], file_globs=["*/valve.*"]))
    assert {e.file for e in ev} == {"/m/motor.pdf", "/m/valve.pdf"}
    # patterns that match nothing match nothing (not "no restriction")
    assert retriever.search("pump", flt=SearchFilter(file_globs=["/elsewhere/*.pdf"])) == []
    assert retriever.store.count(SearchFilter(file_globs=["/m/*"], kinds=["page"])) == 4


def test_embedding_reranker_reorders_and_keeps_k(retriever: Retriever) -> None:
    fused = retriever.search("gasket part replace", k=4)
    cos_only = Retriever(retriever.embedder, retriever.store, RetrieveConfig(k=2, candidates=10, rerank_top=4),
                         reranker=EmbeddingReranker(retriever.embedder, weight=1.0))
    ev, seconds = cos_only.retrieve("gasket part replace")
    assert len(ev) == 2 and "rerank" in seconds
    q = retriever.embedder.embed_queries(["gasket part replace"])[0]
    cos = {(e.file, e.page): float(retriever.embedder.embed_texts([e.text])[0] @ q) for e in fused}
    best = sorted(cos, key=lambda key: -cos[key])[:2]
    assert [(e.file, e.page) for e in ev] == best
    assert [e.rerank_score for e in ev] == pytest.approx([cos[key] for key in best], abs=1e-5)
    # weight 0 (rank prior only) and the "none" backend keep the fused order
    # weight 0 (rank prior only) and the "none" backend keep the fused order (equal fused scores
    # may come back in either order, so the order is checked through the scores)
    prior_only = Retriever(retriever.embedder, retriever.store, RetrieveConfig(k=4, candidates=10),
                           reranker=EmbeddingReranker(retriever.embedder, weight=0.0))
    none = Retriever(retriever.embedder, retriever.store, RetrieveConfig(k=4, candidates=10), reranker=NoReranker())
    assert none.reranker is None
    for kept in (prior_only.search("gasket part replace"), none.search("gasket part replace")):
        assert {(e.file, e.page) for e in kept} == {(e.file, e.page) for e in fused}
        assert [e.score for e in kept] == [e.score for e in fused]


def test_neighbour_chunks_fill_in_the_page_in_reading_order(tmp_path: Path) -> None:
    """A hit chunk brings ``neighbours`` chunks on each side from its page (not from other pages),
    and the page's text then reads in document order."""
    embedder = HashEmbedder()
    store = EdgeStore(tmp_path / "idx")
    store.ensure(embedder.id, embedder.dim)
    texts = ["Intro of the manual.", "Safety first, wear gloves.", "Torque the flange bolts to 40 Nm.",
             "Then check for leaks.", "Chapter two starts here.", "Another page entirely."]
    pages = [1, 1, 1, 1, 1, 2]
    points = []
    for i, (text, page) in enumerate(zip(texts, pages, strict=True)):
        item = _item("text", "/m/manual.pdf", page, i, text).model_copy(update={"order": i})
        points.append(Point(id=item.id, vector=embedder.embed_texts([text])[0].tolist(),
                            sparse=encode_sparse(text), item=item, embedded_as="text", tenant="acme"))
    store.upsert(points)
    plain = Retriever(embedder, store, RetrieveConfig(k=1, mode="sparse"))
    assert plain.search("flange torque")[0].text == "Torque the flange bolts to 40 Nm."
    wide = Retriever(embedder, store, RetrieveConfig(k=1, mode="sparse", neighbours=1))
    ev, seconds = wide.retrieve("flange torque")
    assert ev[0].text == "Safety first, wear gloves.\n\nTorque the flange bolts to 40 Nm.\n\nThen check for leaks."
    assert "neighbours" in seconds
    # the last chunk of page 1 does not pull in page 2's chunk
    edge = Retriever(embedder, store, RetrieveConfig(k=1, mode="sparse", neighbours=2)).search("chapter two")
    assert (edge[0].page, edge[0].text.splitlines()[-1]) == (1, "Chapter two starts here.")
    assert "Another page" not in edge[0].text
    # neighbours respect the tenant of the filter
    other = wide.search("flange torque", flt=SearchFilter(tenant="acme"))
    assert other[0].text.count("\n\n") == 2
    store.close()


@pytest.mark.parametrize(("question", "pages"), [
    ("What is the date mentioned on page 14?", [14]),
    ("Summarise pages 3-5", [3, 4, 5]),
    ("Compare pages 3 and 7.", [3, 7]),
    ("what's on p. 2 and slide 9", [2, 9]),
    ("How many lines are highlighted on the first page?", [1]),
    ("The report has 10 pages; who wrote it?", []),
    ("How many green bars appear in Figure 1?", []),
    ("pages 1 to 400", list(range(1, 11))),
])
def test_referenced_pages(question: str, pages: list[int]) -> None:
    assert referenced_pages(question) == pages


def test_a_question_naming_its_page_brings_that_page_up(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    store = EdgeStore(tmp_path / "idx")
    store.ensure(embedder.id, embedder.dim)
    texts = {1: "Pump seals: replace pump seals yearly. Pump seals wear.", 2: "Valves and torque.",
             3: "The seals of the pump were inspected in March."}
    points = []
    for page, text in texts.items():
        item = _item("text", "/m/pump.pdf", page, page, text)
        points.append(Point(id=item.id, vector=embedder.embed_texts([text])[0].tolist(),
                            sparse=encode_sparse(text), item=item, embedded_as="text"))
    store.upsert(points)
    question = "What does page 3 say about pump seals?"
    off = Retriever(embedder, store, RetrieveConfig(k=2, page_refs=False))
    assert off.search(question)[0].page == 1
    on = Retriever(embedder, store, RetrieveConfig(k=2))
    plan = on.plan(question)
    assert [b.pages for b in plan.prefetch][-1] == [3]
    assert [e.page for e in on.search(question)] == [3, 1]
    store.close()
