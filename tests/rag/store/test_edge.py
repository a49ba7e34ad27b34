"""What only the Edge backend promises: crash durability, one opener, the optimise policy."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.errors import StoreError
from rag.store.edge import EdgeStore
from rag.testing.corpus import DIM, corpus


def test_upserts_survive_a_crash_without_close(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import os
        from rag.store.edge import EdgeStore
        from rag.testing.corpus import corpus
        store = EdgeStore({str(tmp_path / 'idx')!r})
        store.ensure("e", {DIM})
        store.upsert(corpus(25))
        os._exit(0)  # no flush, no close
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])
    with EdgeStore(tmp_path / "idx") as store:
        store.ensure("e", DIM)
        assert store.count() == 25


def test_second_opener_gets_a_clear_error(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "idx") as store:
        store.ensure("e", DIM)
        with pytest.raises(StoreError, match="already open"):
            EdgeStore(tmp_path / "idx")


def test_use_before_ensure_names_the_fix(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "idx")
    with pytest.raises(StoreError, match=r"call ensure\(embedder_id, dim\) first"):
        store.upsert(corpus(1))


def test_interrupted_creation_is_reused_when_empty(tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "idx") as store:
        store.ensure("e", DIM)
    (tmp_path / "idx" / "store.json").unlink()  # as if the process died before writing it
    with EdgeStore(tmp_path / "idx") as store:
        store.ensure("e2", DIM)
        store.upsert(corpus(3))
        assert store.stats().embedder_id == "e2"
    (tmp_path / "idx" / "store.json").unlink()
    with EdgeStore(tmp_path / "idx") as store, pytest.raises(StoreError, match="holds 3 points"):
        store.ensure("e3", DIM)


def test_optimize_runs_after_enough_new_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EdgeStore(tmp_path / "idx", auto_optimize_at=30)
    store.ensure("e", DIM)
    calls: list[int] = []

    def fake_optimize() -> bool:
        calls.append(1)
        return False

    monkeypatch.setattr(store, "optimize", fake_optimize)
    points = corpus(50)
    store.upsert(points[:20])
    assert calls == []
    store.upsert(points[20:40])
    assert calls == [1]
    store.close()
    with pytest.raises(StoreError, match="must be >= 1"):
        EdgeStore(tmp_path / "other", auto_optimize_at=0)


def test_optimize_keeps_results(tmp_path: Path) -> None:
    from rag.testing.corpus import dense_all, qvec

    with EdgeStore(tmp_path / "idx") as store:
        store.ensure("e", DIM)
        store.upsert(corpus(60))
        before = [h.id for h in store.query(dense_all(qvec(1), 10))]
        store.optimize()
        assert [h.id for h in store.query(dense_all(qvec(1), 10))] == before
        assert store.count() == 60


def test_points_waiting_for_an_index_build_are_counted_across_opens(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "idx")
    store.ensure("e", DIM)
    store.upsert(corpus(40))
    assert store.unindexed() == 40
    store.close()
    again = EdgeStore(tmp_path / "idx")
    assert again.unindexed() == 40
    again.optimize()
    assert again.unindexed() == 0
    again.close()
    reopened = EdgeStore(tmp_path / "idx")
    assert reopened.unindexed() == 0
    reopened.close()


def test_items_kept_between_reads_never_outlive_a_write(tmp_path: Path) -> None:
    """EdgeStore keeps the items it read until the next write (queries run without payloads):
    every kind of write makes the next read see the stored item, not the kept one."""
    from rag.records import Prefetch, QueryPlan
    from rag.store.sparse import encode_sparse_query
    from rag.testing.corpus import EMBEDDER, make_point

    store = EdgeStore(tmp_path / "index")
    store.ensure(EMBEDDER, DIM)
    points = corpus(30)
    store.upsert(points)

    def find(word: str) -> list[tuple[str, str]]:
        plan = QueryPlan(sparse=encode_sparse_query(word), prefetch=[Prefetch(using="sparse", limit=50)], limit=50)
        return [(h.id, h.item.text) for h in store.query(plan)]

    first = points[0]
    assert first.id in {i for i, _ in find(first.item.text.split()[0])}  # read, so kept
    assert store._items and store.hits_by_id([first.id])[0].item == first.item
    changed = make_point(first.item.model_copy(update={"text": "quokka"}), first.vector, tenant=first.tenant)
    store.upsert([changed])
    assert find("quokka") == [(first.id, "quokka")]
    assert store.hits_by_id([first.id])[0].item.text == "quokka"
    again = make_point(first.item.model_copy(update={"text": "wombat"}), first.vector, tenant=first.tenant)
    others = [p for p in points if p.item.file == first.item.file and p.id != first.id]
    store.replace_file(first.item.file, [again, *others], tenant=None)
    assert find("wombat") == [(first.id, "wombat")] and find("quokka") == []
    assert store.hits_by_id([first.id])[0].item.text == "wombat"
    store.delete_file(first.item.file)
    assert find("wombat") == [] and store.hits_by_id([first.id]) == []
    store.close()
