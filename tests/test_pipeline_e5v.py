"""The thin path on the real E5-V code (tiny random LLaVA-NeXT): PDFs -> text AND page images in one
space -> embedded Qdrant -> the right page comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from rag.aio import run_sync
from rag.generate.openai import OpenAIChatGenerator
from rag.pipeline import Pipeline
from rag.records import Answer, Prefetch, QueryPlan
from rag.retrieve import Retriever
from rag.testing.vllm_server import VllmServer
from tests.pdfs import FACTS, write_chart_scan, write_report


@pytest.fixture(scope="module")
def pipe(tiny_llava_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    index = tmp_path_factory.mktemp("e5v-index")
    over = {"store.path": str(index), "embed.model": str(tiny_llava_dir)}
    with Pipeline.from_config("test", over, environ={}) as p:
        docs = tmp_path_factory.mktemp("docs")
        report = p.ingest([write_report(docs / "ops.pdf")], progress=False)
        assert report.files_ingested == 1 and not report.files_failed
        yield p


def test_text_and_page_images_share_one_space(pipe: Pipeline) -> None:
    st = pipe.stats()
    assert st.embedder_id.startswith("e5v:") and st.dim == 128
    assert st.items["page"] == len(FACTS) and st.items["text"] >= len(FACTS)
    probe = pipe.embedder.embed_queries(["x"])[0].tolist()
    hits = pipe.store.query(QueryPlan(dense=probe, prefetch=[Prefetch(using="dense", limit=50)], limit=50))
    by_kind = {h.item.kind: h.embedded_as for h in hits}
    assert by_kind["page"] == "image"  # page renders went in as images, not as text
    assert by_kind["text"] == "text"


@pytest.mark.parametrize("page", sorted(FACTS))
def test_dense_search_returns_the_right_page(pipe: Pipeline, page: int) -> None:
    # A random tiny model has no semantics; an exact chunk text is the one query whose nearest
    # neighbour is known (cosine 1 under the same prompt), so it checks the whole dense plumbing.
    probe = pipe.embedder.embed_queries(["x"])[0].tolist()
    stored = pipe.store.query(QueryPlan(dense=probe, prefetch=[Prefetch(using="dense", limit=50)], limit=50))
    chunk = next(h.item for h in stored if h.item.kind == "text" and h.item.page == page)
    cfg = pipe.settings.retrieve.model_copy(update={"mode": "dense", "kinds": ["text"]})
    dense_only = Retriever(pipe.embedder, pipe.store, cfg)
    hits = dense_only.search(chunk.text, k=3)
    assert hits[0].page == page
    assert hits[0].kind == "text"


def test_hybrid_finds_part_number_page(pipe: Pipeline) -> None:
    hits = pipe.search("QZ-7781-K", k=3)
    assert hits[0].page == 3


@pytest.mark.slow
@pytest.mark.vllm
def test_ask_through_a_real_vllm_server(tiny_llava_dir: Path, vllm_chat_server: VllmServer,
                                        tmp_path: Path) -> None:
    # The tiny server's window is 2048 tokens: a prompt of one small image and little text.
    over = {"store.path": str(tmp_path / "ix"), "embed.model": str(tiny_llava_dir),
            "generate.backend": "openai", "generate.urls": [vllm_chat_server.url], "generate.model": "tiny",
            "generate.max_images": 1, "generate.image_side": 112, "generate.context_tokens": 1536,
            "generate.tokens_per_image": 200, "generate.max_tokens": 16}
    with Pipeline.from_config("test", over, environ={}) as p:
        p.ingest([write_report(tmp_path / "ops.pdf")], progress=False)
        question = "Which part number replaces the cooling pump?"
        ans = p.ask(question)
        assert isinstance(ans, Answer) and ans.question == question
        assert ans.evidence and ans.seconds["generate"] > 0
        assert ans.text or ans.abstained  # the tiny model's words are noise; the reply was handled
        assert all(c.id in {e.id for e in ans.evidence} for c in ans.citations)
        # What the generator sends for this evidence carries the page render as a data URL.
        generator = p.generator
        assert isinstance(generator, OpenAIChatGenerator)
        build = run_sync(generator.prepare(question, ans.evidence))
        parts = [part for m in build.messages if isinstance(m["content"], list) for part in m["content"]]
        urls = [part["image_url"]["url"] for part in parts if part.get("type") == "image_url"]
        assert urls and urls[0].startswith("data:image/")


def test_image_only_page_goes_in_as_an_image_and_the_image_branch_returns_it(
        tiny_llava_dir: Path, tmp_path: Path) -> None:
    """Plumbing on the tiny E5-V: a chart page without a text layer is embedded from its render
    (no OCR), its vector is the image embedding of that render, and the image branch returns it."""
    over = {"store.path": str(tmp_path / "ix"), "embed.model": str(tiny_llava_dir), "ingest.ocr": "none"}
    with Pipeline.from_config("test", over, environ={}) as p:
        p.ingest([write_chart_scan(tmp_path / "board.pdf", "Shipments", {"A": 1, "B": 2})], progress=False)
        cfg = p.settings.retrieve.model_copy(update={"mode": "dense", "kinds": ["figure", "page"]})
        ev = Retriever(p.embedder, p.store, cfg).search("shipments chart", k=5)
        scan = next(e for e in ev if e.page == 2)
        assert scan.kind == "page" and scan.text == "" and scan.image_path
        with Image.open(scan.image_path) as im:
            own = p.embedder.embed_images([im.convert("RGB")])[0].tolist()
        hits = p.store.query(QueryPlan(dense=own, prefetch=[Prefetch(using="dense", limit=5, kinds=["page"])],
                                       limit=5))
        assert (hits[0].item.page, hits[0].embedded_as) == (2, "image")
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
