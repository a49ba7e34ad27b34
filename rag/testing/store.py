"""The Store contract: what every store backend must do, as a test class to subclass (its corpora:
:mod:`rag.testing.corpus`).

A backend's test module subclasses :class:`StoreContract` and provides ``reopen``: a callable that
opens the backend's index (the same one each call, closing the one before)::

    class TestEdgeContract(StoreContract):
        @pytest.fixture
        def reopen(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
            with store_opener(EdgeStoreConfig(path=str(tmp_path / "index"))) as reopen:
                yield reopen

Needs pytest (the ``dev`` extra).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from rag.config import StoreConfig
from rag.errors import StoreError
from rag.records import DateRange, Hit, Point, Prefetch, QueryPlan, SearchFilter
from rag.store.base import RefQueries, Store, open_store
from rag.store.common import RRF_K, PointRef, point_payload
from rag.store.sparse import encode_sparse_query
from rag.testing.corpus import (
    DIM,
    EMBEDDER,
    TENANT_FILE,
    chunk_points,
    corpus,
    dense_all,
    hybrid,
    make_item,
    make_point,
    qvec,
    structured_vectors,
    tenant_points,
)


@contextlib.contextmanager
def store_opener(cfg: StoreConfig) -> Iterator[Callable[[], Store]]:
    """``reopen()`` opens the store of ``cfg`` (closing the one opened before); at the end the last
    one is closed, and a server's collection dropped."""
    opened: list[Store] = []

    def reopen() -> Store:
        if opened:
            opened[-1].close()
        opened.append(open_store(cfg))
        return opened[-1]

    try:
        yield reopen
    finally:
        if opened:
            last = opened[-1]
            client = getattr(last, "client", None)
            if getattr(last, "server", False) and client is not None:
                client.delete_collection(cfg.collection)
            last.close()


def _tied(refs: Sequence[PointRef]) -> list[tuple[float, set[PointRef]]]:
    """``refs`` (best first) as runs of equal scores: the order the engine owes a fused query."""
    runs: list[tuple[float, set[PointRef]]] = []
    for r in refs:
        if runs and runs[-1][0] == r.score:
            runs[-1][1].add(r)
        else:
            runs.append((r.score, {r}))
    return runs


class StoreContract:
    """Tests every :class:`~rag.store.base.Store` passes. Subclass and provide ``reopen``."""

    @pytest.fixture
    def reopen(self) -> Iterator[Callable[[], Store]]:
        raise NotImplementedError("a StoreContract subclass provides the `reopen` fixture")

    @pytest.fixture
    def store(self, reopen: Callable[[], Store]) -> Store:
        """An empty store of the backend."""
        return reopen()

    def test_empty_store_before_ensure(self, store: Store) -> None:
        assert store.count() == 0
        assert store.delete_file("/nowhere.pdf") == 0
        assert store.stats().points == 0

    def test_upsert_count_stats(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        points = corpus(60)
        store.upsert(points)
        assert store.count() == 60
        stats = store.stats()
        assert (stats.points, stats.files, stats.embedder_id, stats.dim) == (60, 3, EMBEDDER, DIM)
        assert stats.items == {"text": 24, "table": 12, "figure": 12, "page": 12}

    def test_reupsert_is_idempotent_and_overwrites(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        points = corpus(30)
        store.upsert(points)
        store.upsert(points)
        assert store.count() == 30
        first = points[0]
        changed = make_point(first.item.model_copy(update={"text": "replaced text zebra"}), first.vector,
                             tenant=first.tenant)
        store.upsert([changed])
        assert store.count() == 30
        hits = store.query(QueryPlan(sparse=encode_sparse_query("zebra"),
                                     prefetch=[Prefetch(using="sparse", limit=5)], limit=5))
        assert [h.id for h in hits] == [first.id]
        assert hits[0].item.text == "replaced text zebra"
        assert hits[0].item == changed.item  # the item round-trips through the payload

    def test_delete_file_is_exact(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        vecs = structured_vectors(np.random.default_rng(1), 9)
        files = ["/d/x.pdf", "/d/x.pdf.bak", "/d/X.pdf"]
        points = [make_point(make_item("text", files[i % 3], 1, i, f"word{i}"), vecs[i]) for i in range(9)]
        store.upsert(points)
        ids = sorted(p.id for p in points if p.item.file == "/d/x.pdf")
        assert sorted(store.file_ids("/d/x.pdf")) == ids
        assert store.delete_file("/d/x.pdf") == 3
        assert store.count() == 6
        assert store.file_ids("/d/x.pdf") == []
        assert store.delete_file("/d/x.pdf") == 0
        assert store.count(SearchFilter(files=["/d/x.pdf.bak"])) == 3
        assert store.count(SearchFilter(files=["/d/X.pdf"])) == 3

    def test_ensure_refuses_other_embedder_after_reopen(self, store: Store, reopen: Callable[[], Store]) -> None:
        store.ensure(EMBEDDER, DIM)
        store.upsert(corpus(5))
        store = reopen()  # closes and reopens the same index
        store.ensure(EMBEDDER, DIM)
        assert store.count() == 5
        with pytest.raises(StoreError, match=r"test:embedder.*other:model"):
            store.ensure("other:model", DIM)
        with pytest.raises(StoreError, match=r"dim 16.*dim 32"):
            store.ensure(EMBEDDER, 32)

    def test_wrong_dimensions_are_refused(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        point = corpus(1)[0]
        with pytest.raises(StoreError, match="3 dims"):
            store.upsert([point.model_copy(update={"vector": [0.1, 0.2, 0.3]})])
        with pytest.raises(StoreError, match="3 dims"):
            store.query(dense_all([0.1, 0.2, 0.3]))
        with pytest.raises(StoreError, match="not a UUID"):
            store.upsert([point.model_copy(update={"id": "chunk-1"})])

    @pytest.mark.parametrize(
        ("flt", "check"),
        [
            (SearchFilter(files=["/docs/f1.pdf"]), lambda h: h.item.file == "/docs/f1.pdf"),
            (SearchFilter(files=["/docs/f0.pdf", "/docs/f2.pdf"]), lambda h: h.item.file != "/docs/f1.pdf"),
            (SearchFilter(kinds=["figure", "page"]), lambda h: h.item.kind in ("figure", "page")),
            (SearchFilter(tenant="acme"), None),
            (SearchFilter(tags=["manual"]), None),
            (SearchFilter(tenant="globex", kinds=["text"], files=["/docs/f0.pdf"]),
             lambda h: h.item.kind == "text" and h.item.file == "/docs/f0.pdf"),
        ],
    )
    def test_filters(self, store: Store, flt: SearchFilter, check: Callable[[Hit], bool] | None) -> None:
        store.ensure(EMBEDDER, DIM)
        points = corpus(60)
        store.upsert(points)
        by_id = {p.id: p for p in points}

        def expected(p: object) -> bool:
            pt = by_id[p.id]  # type: ignore[attr-defined]
            return ((flt.tenant is None or pt.tenant == flt.tenant)
                    and (not flt.files or pt.item.file in flt.files)
                    and (not flt.kinds or pt.item.kind in flt.kinds)
                    and (not flt.tags or bool(set(pt.tags) & set(flt.tags))))

        want = {p.id for p in points if expected(p)}
        assert store.count(flt) == len(want)
        hits = store.query(dense_all(qvec(3), limit=100, flt=flt))
        assert {h.id for h in hits} == want
        if check is not None:
            assert all(check(h) for h in hits)
        # the same filter holds inside every branch of a fused plan
        fused = store.query(hybrid(qvec(4), "pump valve", limit=100, n=100, flt=flt))
        assert {h.id for h in fused} <= want

    def test_files_and_file_globs(self, store: Store) -> None:
        assert store.files() == []
        store.ensure(EMBEDDER, DIM)
        points = corpus(60)
        store.upsert(points)
        assert store.files() == ["/docs/f0.pdf", "/docs/f1.pdf", "/docs/f2.pdf"]
        in_f01 = {p.id for p in points if p.item.file in ("/docs/f0.pdf", "/docs/f1.pdf")}
        globbed = SearchFilter(file_globs=["/docs/f[01].pdf"])
        assert store.count(globbed) == len(in_f01)
        assert {h.id for h in store.query(dense_all(qvec(3), 100, globbed))} == in_f01
        assert {h.id for h in store.query(hybrid(qvec(3), "pump", 100, 100, globbed))} <= in_f01
        # listed files and patterns form one allowed set; other filters still apply
        union = SearchFilter(files=["/docs/f2.pdf"], file_globs=["*/f0.*"], tenant="acme")
        want = {p.id for p in points if p.item.file in ("/docs/f0.pdf", "/docs/f2.pdf") and p.tenant == "acme"}
        assert {h.id for h in store.query(dense_all(qvec(3), 100, union))} == want
        # patterns that match no file match nothing, not everything
        nothing = SearchFilter(file_globs=["/docs/F*.pdf"])  # case-sensitive
        assert store.count(nothing) == 0
        assert store.query(dense_all(qvec(3), 100, nothing)) == []

    def test_weighted_rrf_changes_the_fused_order(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        points = corpus(60, seed=2, unique_lengths=True)
        store.upsert(points)
        sparse_top = store.query(hybrid(None, "pump valve", limit=1))[0].id
        text_top = store.query(QueryPlan(dense=qvec(8), limit=1,
                                         prefetch=[Prefetch(using="dense", limit=1, kinds=["text", "table"])]))[0].id
        assert sparse_top != text_top
        keyword_heavy = store.query(hybrid(qvec(8), "pump valve", weights=(0.1, 0.1, 10.0)))
        text_heavy = store.query(hybrid(qvec(8), "pump valve", weights=(10.0, 0.1, 0.1)))
        assert keyword_heavy[0].id == sparse_top
        assert text_heavy[0].id == text_top
        # weighted RRF (both engines): sum over branches of 1 / (rank / weight + RRF_K - 1), rank from 1
        assert keyword_heavy[0].score >= 1 / (1 / 10.0 + RRF_K - 1)

    def test_branch_kinds_intersect_filter_kinds(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        store.upsert(corpus(40))
        plan = QueryPlan(dense=qvec(5), prefetch=[Prefetch(using="dense", limit=50, kinds=["page", "text"])],
                         filter=SearchFilter(kinds=["page", "figure"]), limit=50)
        hits = store.query(plan)
        assert hits and {h.item.kind for h in hits} == {"page"}
        # a branch whose kinds the filter excludes is dropped, not an error
        plan = QueryPlan(dense=qvec(5), prefetch=[Prefetch(using="dense", limit=50, kinds=["table"])],
                         filter=SearchFilter(kinds=["page"]), limit=50)
        assert store.query(plan) == []

    def test_part_number_found_by_keywords_when_dense_is_noise(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        rng = np.random.default_rng(7)
        n = 200
        vecs = structured_vectors(rng, n)
        points = []
        for i in range(n):
            text = " ".join(rng.choice(["pump", "valve", "seal", "XK-4470-B", "4471", "housing"], size=6))
            if i == 137:
                text = "Replace the gasket with part XK-4471-B before restarting the pump."
            points.append(make_point(make_item("text", f"/docs/m{i % 7}.pdf", 1 + i // 7, i, text), vecs[i]))
        store.upsert(points)
        noise = qvec(99)
        target = points[137].id
        dense_only = store.query(hybrid(noise, None, limit=5))
        assert target not in [h.id for h in dense_only]
        hits = store.query(hybrid(noise, "Which part is XK-4471-B?", limit=5))
        assert target in [h.id for h in hits[:3]]
        sparse_only = store.query(hybrid(None, "XK-4471-B", limit=5))
        assert sparse_only[0].id == target

    def test_query_refs_are_the_hits_of_query_and_hits_by_id_their_items(self, store: Store) -> None:
        """:class:`~rag.store.base.RefQueries` (the reranker's pool lookups): each plan's refs
        are what :meth:`Store.query` returns for it, point for point, order and scores included."""
        assert isinstance(store, RefQueries)
        store.ensure(EMBEDDER, DIM)
        store.upsert(corpus(60, seed=3, unique_lengths=True))  # no keyword ties at a branch's cut
        pages = SearchFilter(files=["/docs/f0.pdf", "/docs/f1.pdf"])
        plans = [
            hybrid(qvec(4), "pump valve", limit=100),  # every fused hit: no tie at the cut either
            QueryPlan(dense=qvec(4), limit=40, filter=pages,
                      prefetch=[Prefetch(using="dense", limit=40, pages=[1, 2, 3])]),
            QueryPlan(sparse=encode_sparse_query("pump seal"), limit=40, filter=pages,
                      prefetch=[Prefetch(using="sparse", limit=40, pages=[1, 2])]),
            hybrid(None, "what is the"),  # stopwords only: no branch left
            dense_all(qvec(4), 10, SearchFilter(file_globs=["/nowhere/*.pdf"])),  # matches nothing
        ]
        got = store.query_refs(plans)
        assert len(got) == len(plans)
        for i, (plan, refs) in enumerate(zip(plans, got, strict=True)):
            want = [PointRef(h.id, h.score, h.item.file, h.item.page, h.item.kind) for h in store.query(plan)]
            if i == 0:  # fused: RRF ties come in any order, from one call of `query` to the next too
                assert _tied(refs) == _tied(want)
            else:  # local mode's numpy scores differ in the 9th digit from one call to the next
                assert [(r.id, r.file, r.page, r.kind) for r in refs] == [(r.id, r.file, r.page, r.kind) for r in want]
                assert [r.score for r in refs] == pytest.approx([r.score for r in want], abs=1e-6)
        assert got[0] and got[1] and got[2] and got[3] == [] and got[4] == []
        wanted = [r.id for r in reversed(got[1][:5])]
        items = {h.id: h.item for h in store.query(plans[1])}
        hits = store.hits_by_id([wanted[0], "00000000-0000-0000-0000-000000000000", *wanted[1:]])
        assert [h.id for h in hits] == wanted and all(h.score == 0.0 for h in hits)
        assert [h.item for h in hits] == [items[i] for i in wanted]
        assert store.hits_by_id([]) == []

    def test_stopword_only_query_drops_the_sparse_branch(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        store.upsert(corpus(20))
        assert store.query(hybrid(None, "what is the")) == []
        assert len(store.query(hybrid(qvec(1), "what is the", limit=5))) == 5

    def test_replace_file_swaps_versions_exactly(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        other = chunk_points("/d/other.pdf", 3, "keep")
        store.upsert(other)
        old = chunk_points("/d/x.pdf", 5, "old")
        assert store.replace_file("/d/x.pdf", old) == 0
        new = chunk_points("/d/x.pdf", 3, "new")
        assert store.replace_file("/d/x.pdf", new) == 5
        assert sorted(store.file_ids("/d/x.pdf")) == sorted(p.id for p in new)
        assert store.count() == 6
        # points that keep their id (unchanged content) are overwritten, not removed
        assert store.replace_file("/d/x.pdf", new[:2]) == 1
        assert sorted(store.file_ids("/d/x.pdf")) == sorted(p.id for p in new[:2])
        with pytest.raises(StoreError, match=r"another file, ./d/other.pdf"):
            store.replace_file("/d/x.pdf", other)

    def test_chunks_at_returns_neighbours_in_reading_order(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        points = chunk_points("/d/x.pdf", 8, "v", page_of=lambda i: 1 + i // 4, tenant="acme")
        store.upsert(points + chunk_points("/d/y.pdf", 8, "w"))
        got = store.chunks_at("/d/x.pdf", [5, 3, 4, 40])
        assert [h.item.order for h in got] == [3, 4, 5]
        assert [h.item.text for h in got] == ["chunk 3 v", "chunk 4 v", "chunk 5 v"]
        assert [h.item.page for h in got] == [1, 2, 2]
        assert store.chunks_at("/d/x.pdf", [3], tenant="globex") == []
        assert store.chunks_at("/d/x.pdf", []) == []

    def test_date_ranges_filter_inside_every_branch(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        points = corpus(30, unique_lengths=True)
        jan, jun = datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 6, 15, tzinfo=UTC)
        dated = [p.model_copy(update={"modified": jan if i % 2 else jun, "created": jan if i % 3 == 0 else None})
                 for i, p in enumerate(points)]
        store.upsert(dated)
        spring = SearchFilter(modified=DateRange(since=datetime(2024, 3, 1), until=datetime(2024, 9, 1)))
        assert store.count(spring) == 15
        hits = store.query(hybrid(qvec(3), "pump valve seal flow", limit=30, n=30, flt=spring))
        assert hits and all(h.id in {p.id for p in dated if p.modified == jun} for h in hits)
        assert store.count(SearchFilter(modified=DateRange(until=jan))) == 0
        assert store.count(SearchFilter(modified=DateRange(since=jan))) == 30  # since is inclusive
        # documents that state no creation date are left out by a creation-date range
        assert store.count(SearchFilter(created=DateRange(since=datetime(2000, 1, 1)))) == 10
        # dates round-trip through the payload (copy_store relies on it)
        back = {p.id: p for batch in store.scroll_points() for p in batch}
        assert back[dated[1].id].modified == jan and back[dated[0].id].created == jan
        assert back[dated[1].id].created is None

    def test_a_search_never_sees_half_a_replaced_file(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        """Searches running while one file is replaced again and again see exactly one whole version:
        never none of it, never two versions. The writes are slowed down (a pause before and after
        each upsert) so that a reader gets to run between the steps of a replacement."""
        store.ensure(EMBEDDER, DIM)
        store.upsert(chunk_points("/d/x.pdf", 40, "v0"))
        upsert = store.upsert

        def slow_upsert(points: Sequence[Point]) -> None:
            time.sleep(0.01)
            upsert(points)
            time.sleep(0.01)

        monkeypatch.setattr(store, "upsert", slow_upsert)
        stop = threading.Event()
        seen: list[set[str]] = []
        errors: list[BaseException] = []

        def search() -> None:
            plan = QueryPlan(sparse=encode_sparse_query("chunk"), prefetch=[Prefetch(using="sparse", limit=100)],
                             filter=SearchFilter(files=["/d/x.pdf"]), limit=100)
            try:
                while not stop.is_set():
                    hits = store.query(plan)
                    seen.append({h.item.text.split()[2] for h in hits})
                    if len(hits) != 40:
                        raise AssertionError(f"saw {len(hits)} chunks of a 40-chunk file")
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=search)
        reader.start()
        try:
            for v in range(1, 15):
                store.replace_file("/d/x.pdf", chunk_points("/d/x.pdf", 40, f"v{v}"))
        finally:
            stop.set()
            reader.join()
        assert not errors, errors[0]
        assert seen and all(len(versions) == 1 for versions in seen)

    def test_replace_and_delete_per_tenant(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        assert store.file_tenants(TENANT_FILE) == []
        store.replace_file(TENANT_FILE, tenant_points("alpha", "v1"), tenant="alpha")
        store.replace_file(TENANT_FILE, tenant_points("beta", "v1", 2), tenant="beta")
        assert store.file_tenants(TENANT_FILE) == ["alpha", "beta"]
        # beta's new version replaces beta's points only
        assert store.replace_file(TENANT_FILE, tenant_points("beta", "v2", 1), tenant="beta") == 2
        assert store.count(SearchFilter(tenant="alpha", files=[TENANT_FILE])) == 3
        assert sorted(store.file_ids(TENANT_FILE, "beta")) == sorted(p.id for p in tenant_points("beta", "v2", 1))
        assert store.delete_file(TENANT_FILE, tenant="alpha") == 3
        assert store.file_tenants(TENANT_FILE) == ["beta"]
        assert store.count() == 1
        with pytest.raises(StoreError, match="tenant 'beta'"):
            store.replace_file(TENANT_FILE, tenant_points("beta", "v3"), tenant="alpha")

    def test_scroll_points_returns_every_point_whole(self, store: Store) -> None:
        store.ensure(EMBEDDER, DIM)
        points = corpus(45, seed=4)
        store.upsert(points)
        pages = list(store.scroll_points(7))
        assert all(len(p) <= 7 for p in pages) and sum(len(p) for p in pages) == 45
        back = {p.id: p for page in pages for p in page}
        for p in points:
            got = back[p.id]
            np.testing.assert_allclose(got.vector, p.vector, rtol=1e-6, atol=1e-6)
            assert got.sparse.indices == p.sparse.indices
            np.testing.assert_allclose(got.sparse.values, p.sparse.values, rtol=1e-6)
            assert point_payload(got) == point_payload(p)
        assert store.embedder is not None and store.embedder.embedder_id == EMBEDDER
