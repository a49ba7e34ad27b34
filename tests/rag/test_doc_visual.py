"""Issue 18 (photo18): questions about what pictures show favour files made of pictures, read from
the size of their page renders (real PyMuPDF renders, the real embedded store)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pymupdf
from PIL import Image

from ingest.pdf_pixels import _render
from rag.doc_stage import DocumentStage
from rag.doc_visual import (
    PICTURE_FACTOR,
    asks_what_pictures_show,
    picture_factors,
    picture_prior,
    picture_share,
    render_has_picture,
)
from rag.records import Point
from rag.store.edge import EdgeStore
from rag.store.sparse import encode_sparse

from .test_retrieve import HashEmbedder, _item

DPI = 72  # the cpu profile's ingest.page_dpi, at which PICTURE_BPP was measured


def test_questions_about_what_pictures_show() -> None:
    for q in ("How many people with scarf are there in  Page 5?",
              "How many dogs and cats are there in page 17?",
              "How many women in total are there in the slides?",
              "List the number of the people in the figure in page 6, the number of buildings in page 14",
              "In the figure at Page at the second last, howm many people are standing?",
              "What is the job of the contact person in the picture at the top of page 42?",
              "사진 속 인물은 몇 명인가요?", "3쪽 그림에 사람이 몇 명 있나요?"):
        assert asks_what_pictures_show(q), q
    # people as a statistic, or no picture and no place to look: not about a picture
    for q in ("What's the percentage of people who are democrats and voted in the last election?",
              "How many people in India were using a debit card?",
              "How many people in Figure 2 were surveyed?",
              "회의에 참석한 사람은 누구인가요?", "What is the revenue on page 5?",
              "How many pie charts are there in the paper?"):
        assert not asks_what_pictures_show(q), q


def _photo_png(seed: int, size: int = 480) -> bytes:
    """A continuous-tone image like a photograph: smooth colour fields plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(9 * x + c) * np.cos(7 * y - c) for c in (0.0, 1.0, 2.0)], axis=-1)
    px = (127 + 90 * base + rng.normal(0, 12, (size, size, 3))).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, format="PNG")
    return buf.getvalue()


def _pdf_renders(tmp_path: Path, name: str, pages: list[bool]) -> list[tuple[str, int, int]]:
    """A PDF whose pages are text (False) or text with a large photograph (True), rendered as the
    ingest renders pages; the renders' (path, width, height)."""
    doc = pymupdf.open()
    out = []
    for i, photo in enumerate(pages):
        page = doc.new_page(width=612, height=792)
        page.insert_textbox(pymupdf.Rect(60, 60, 550, 300), ("Quarterly results and outlook. " * 40), fontsize=10)
        if photo:  # half the page, as a brochure's photographs
            page.insert_image(pymupdf.Rect(60, 320, 550, 740), stream=_photo_png(i))
        png, w, h = _render(page, DPI)
        path = tmp_path / f"{name}-page-{i + 1:04d}.png"
        path.write_bytes(png)
        out.append((str(path), w, h))
    return out


def test_page_renders_with_a_photograph_are_told_from_text_pages(tmp_path: Path) -> None:
    renders = _pdf_renders(tmp_path, "brochure", [True, False, True, True])
    assert [render_has_picture(*r) for r in renders] == [True, False, True, True]
    assert picture_share(renders) == 0.75
    assert picture_share(_pdf_renders(tmp_path, "filing", [False, False])) == 0.0
    # nothing to read: unknown, not "no pictures"
    assert render_has_picture(str(tmp_path / "gone.png"), 612, 792) is None
    assert render_has_picture(str(tmp_path / "page.jpg"), 612, 792) is None
    assert picture_share([(str(tmp_path / "gone.png"), 612, 792)]) is None


def test_files_without_pictures_are_scaled_down_for_a_picture_question() -> None:
    q = "How many people are standing in the picture on page 3?"
    shares = [0.8, 0.0, None, 0.02]
    assert picture_factors(q, shares).tolist() == [1.0, PICTURE_FACTOR, 1.0, PICTURE_FACTOR]
    assert picture_factors("What is the revenue on page 3?", shares).tolist() == [1.0] * 4
    assert picture_factors(q, [0.0, 0.01, None]).tolist() == [1.0] * 3  # no file of pictures: no change
    prior = np.array([0.3, 0.9, 0.2, 0.6])
    out = picture_prior(q, prior, shares)
    assert int(np.argmax(out)) == 0 and out[2] == prior[2]  # an unknown share keeps its prior
    assert picture_prior("What is the revenue?", prior, shares) is prior


def test_a_question_about_people_in_a_picture_finds_the_brochure_over_the_whole_folder(tmp_path: Path) -> None:
    """A filing says more of the question's words than the brochure, whose pages are photographs:
    asked what a picture shows, the document stage puts the brochure first (with no renders to
    read, the filing); asked about people as employees, the filing stays first."""
    embedder = HashEmbedder()
    store = EdgeStore(tmp_path / "idx")
    store.ensure(embedder.id, embedder.dim)
    files = {"/f/filing-a.pdf": ([False, False, False], "People standing on page 3: employed by the company"),
             "/f/filing-b.pdf": ([False, False, False], "Employees of the company"),
             "/f/brochure.pdf": ([True, True, False], "Graduate studies: our people, page 3")}
    points: list[Point] = []
    seq = 0
    for file, (pages, text) in files.items():
        renders = _pdf_renders(tmp_path, Path(file).stem, pages)
        for page, (path, w, h) in enumerate(renders, start=1):
            for kind in ("text", "page"):
                seq += 1
                item = _item(kind, file, page, seq, text)
                item = item.model_copy(update={"order": page - 1} if kind == "text"
                                       else {"image_path": path, "width": w, "height": h})
                points.append(Point(id=item.id, vector=embedder.embed_texts([text])[0].tolist(),
                                    sparse=encode_sparse(text), item=item, embedded_as="text"))
    store.upsert(points)
    stage = DocumentStage(embedder, store)
    profiles, _ = stage.profiles()
    assert {Path(p.file).name: p.pictures for p in profiles} == {
        "brochure.pdf": 2 / 3, "filing-a.pdf": 0.0, "filing-b.pdf": 0.0}
    weights = {"name": 1.0, "dense": 1.0}
    question = "How many people are standing in the picture on page 3?"
    qv = embedder.embed_texts([question])[0].tolist()
    prior = stage.prior(question, qv, {}, weights)
    assert max(prior, key=lambda f: prior[f]) == "/f/brochure.pdf"
    for p in profiles:  # the same folder with no renders to read: the words decide
        p.pictures = None
    blind = stage.prior(question, qv, {}, weights)
    assert max(blind, key=lambda f: blind[f]) == "/f/filing-a.pdf"
    question = "How many people are employed by the company?"
    plain = stage.prior(question, embedder.embed_texts([question])[0].tolist(), {}, weights)
    assert max(plain, key=lambda f: plain[f]) == "/f/filing-a.pdf"
