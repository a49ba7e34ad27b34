"""Issue 18, the document stage's doc18 rules on whole-folder searches: document kinds (what a
question calls its document, "the paper", "the slides", against what a file is: page shape, an
abstract, a file name), the size discount of the branch signals, and named pages looked for in the
likely files only. Pure parts first, then searches of real Qdrant Edge indexes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.doc_kind import file_kinds, question_kinds
from rag.doc_stage import KIND_FACTOR, DocumentStage, Profile, kind_factors
from rag.records import Point
from rag.store.edge import EdgeStore
from rag.store.sparse import encode_sparse

from .test_retrieve import HashEmbedder, _item


def test_questions_name_the_kind_of_their_document() -> None:
    assert question_kinds("How many pie charts are there in the paper?") == {"paper"}
    assert question_kinds("How many tables are there in the whole slides?") == {"slides"}
    assert question_kinds("In slide 31, what is the chart legend?") == {"slides"}
    assert question_kinds("How many incorrect postures are shown in this guidebook?") == {"guide"}
    assert question_kinds("What was the revenue in the 10-K for FY2015?") == {"filing"}
    assert question_kinds("이 논문에서 사용한 데이터셋은?") == {"paper"}
    assert question_kinds("발표자료 3쪽의 그래프는 무엇을 보여주나요?") == {"slides"}
    assert question_kinds("회의록에 적힌 다음 회의 일정은?") == {"minutes"}
    # not kinds: a report (Pew survey, inspection, expense report alike), minutes of time, a white paper
    assert question_kinds("According to this report, which group is greater?") == frozenset()
    assert question_kinds("출장 후 경비 보고서는 며칠 이내에 제출해야 하나요?") == frozenset()
    assert question_kinds("What happened within the first 90 minutes?") == frozenset()
    assert question_kinds("What does the white paper recommend?") == frozenset()


def test_files_show_their_kind_in_what_the_index_stores() -> None:
    landscape, portrait = [(768, 576)] * 8, [(612, 792)] * 8
    assert file_kinds("bigdatatrends 120723191058", "BIG DATA TRENDS", landscape) == {"slides"}
    assert file_kinds("2303.05039v2", "Personality-aware recommendation Abstract We study ...", portrait) == {"paper"}
    assert file_kinds("STEPBACK", "arXiv:2310.06117v1 [cs.LG] 9 Oct 2023 Take a step back ...", portrait) == {"paper"}
    assert file_kinds("ADOBE 2015 10K", "UNITED STATES SECURITIES AND EXCHANGE COMMISSION FORM 10-K",
                      portrait) == {"filing"}
    assert file_kinds("watch d", "HUAWEI WATCH D User Guide", portrait) == {"guide"}
    assert file_kinds("hx7720 manual", "HX-7720 전원 모듈 사용 설명서", portrait) == {"guide"}
    assert file_kinds("product committee minutes 20250312", "제품위원회 회의록", portrait) == {"minutes"}
    # prose is not a title: "guide the reasoning" is a verb, "90 minutes" a time; no pages, no verdict
    assert file_kinds("crisis", "We guide the reasoning. Within 90 minutes the site was down.", []) == frozenset()
    assert file_kinds("brochure", "Programmes", [(595, 842)] * 3 + [(842, 595)]) == frozenset()


def _profile(file: str, kinds: set[str]) -> Profile:
    return Profile(file=file, text=file, terms={}, kinds=frozenset(kinds))  # type: ignore[arg-type]


def test_files_of_another_kind_than_the_question_names_are_scaled_down() -> None:
    profiles = [_profile("/f/paper.pdf", {"paper"}), _profile("/f/deck.pdf", {"slides"}), _profile("/f/x.pdf", set())]
    assert kind_factors("How many pie charts are there in the paper?", profiles).tolist() == [
        1.0, KIND_FACTOR, KIND_FACTOR]
    assert kind_factors("How many slides show a map?", profiles).tolist() == [KIND_FACTOR, 1.0, KIND_FACTOR]
    # no kind named, or a kind no file of the folder has: nothing changes
    assert kind_factors("What is the revenue?", profiles).tolist() == [1.0, 1.0, 1.0]
    assert kind_factors("What does the manual say?", profiles).tolist() == [1.0, 1.0, 1.0]


def test_a_question_about_the_slides_finds_the_deck_over_the_whole_folder(tmp_path: Path) -> None:
    """A report holds more of the question's words than the deck (landscape page renders), but
    the deck is the only slide deck: the kind rule puts it first in the prior."""
    embedder = HashEmbedder()
    store = EdgeStore(tmp_path / "idx")
    store.ensure(embedder.id, embedder.dim)
    points: list[Point] = []
    seq = 0
    files = {"/f/report-a.pdf": ((612, 792), "How many tables: the whole survey"),
             "/f/report-b.pdf": ((612, 792), "Crisis analysis"),
             "/f/deck.pdf": ((768, 432), "The whole survey in tables")}
    for file, ((w, h), text) in files.items():
        for page in (1, 2):
            seq += 1
            kind = "text" if page == 1 else "page"
            item = _item(kind, file, 1 if kind == "text" else page, seq, text)
            item = item.model_copy(update={"order": 0} if kind == "text" else {"width": w, "height": h})
            points.append(Point(id=item.id, vector=embedder.embed_texts([text])[0].tolist(),
                                sparse=encode_sparse(text), item=item, embedded_as="text"))
    store.upsert(points)
    stage = DocumentStage(embedder, store)
    profiles, _ = stage.profiles()
    assert {Path(p.file).name: sorted(p.kinds) for p in profiles} == {
        "deck.pdf": ["slides"], "report-a.pdf": [], "report-b.pdf": []}
    question = "How many tables are there in the whole slides?"
    qv = embedder.embed_texts([question])[0].tolist()
    weights = {"name": 1.0, "dense": 1.0}
    prior = stage.prior(question, qv, {}, weights)
    assert max(prior, key=lambda f: prior[f]) == "/f/deck.pdf"
    # the same words without the kind: the report that holds more of them wins
    question = "How many tables are there in the whole survey?"
    plain = stage.prior(question, embedder.embed_texts([question])[0].tolist(), {}, weights)
    assert max(plain, key=lambda f: plain[f]) == "/f/report-a.pdf"


def test_a_long_files_best_hit_is_discounted_for_its_size() -> None:
    """The best of 2,000 chunks beats the best of 20 for any question: after the discount a short
    file whose best hit is a little lower comes first; a branch that missed a file keeps its 0."""
    from rag.doc_stage import HUB_DISCOUNT, discount

    long_file = Profile(file="/f/manual.pdf", text="", terms={}, items={"text": 2000, "sparse": 2500})  # type: ignore[arg-type]
    short = Profile(file="/f/brochure.pdf", text="", terms={}, items={"text": 20, "sparse": 40})  # type: ignore[arg-type]
    unknown = Profile(file="/f/x.pdf", text="", terms={})  # type: ignore[arg-type]
    sig = {"text": np.array([0.86, 0.84, 0.0]), "sparse": np.array([12.0, 6.0, 3.0]), "name": np.array([1.0, 0, 0])}
    out = discount(sig, [long_file, short, unknown])
    assert out["text"][1] > out["text"][0] and out["text"][2] == 0.0
    assert np.isclose(out["text"][0], 0.86 - HUB_DISCOUNT["text"] * np.log(2000))
    # sparse is a share of the best file first; a file with no item counts is not discounted
    assert np.isclose(out["sparse"][2], 0.25)
    assert np.isclose(out["sparse"][0], 1 - HUB_DISCOUNT["sparse"] * np.log(2500))
    assert out["name"] is sig["name"]


def test_a_named_page_is_looked_for_in_the_likely_files_only() -> None:
    """Whole folder, "on page 42": the page-reference branch keeps pages of the prior's first
    files only, so page 42 of every long filing does not fill the first places."""
    from rag.doc_stage import NAMED_PAGE_FILES, first_files

    prior = {f"/f/{i}.pdf": 1.0 - i / 10 for i in range(8)} | {"/f/zero.pdf": 0.0}
    assert first_files(prior) == {f"/f/{i}.pdf" for i in range(NAMED_PAGE_FILES)}
    assert first_files({"/f/a.pdf": 0.0, "/f/b.pdf": 0.2}, 5) == {"/f/b.pdf"}


def test_whole_folder_page_references_keep_to_the_priors_files(tmp_path: Path) -> None:
    """Six filings and a deck each have a page 2; the question names page 2 and the deck: the
    page-reference branch's hits outside the prior's first files are dropped before fusion."""
    from rag.config import RetrieveConfig
    from rag.doc_stage import NAMED_PAGE_FILES
    from rag.retrieve import Retriever

    embedder = HashEmbedder()
    store = EdgeStore(tmp_path / "idx")
    store.ensure(embedder.id, embedder.dim)
    points: list[Point] = []
    seq = 0
    files = [f"/f/filing{i}.pdf" for i in range(6)] + ["/f/deck.pdf"]
    for file in files:
        for page in (1, 2):
            seq += 1
            text = "Contact phone numbers of the companies" if file == "/f/deck.pdf" else f"Balance sheet {seq}"
            item = _item("text", file, page, seq, text).model_copy(update={"order": page - 1})
            points.append(Point(id=item.id, vector=embedder.embed_texts([text])[0].tolist(),
                                sparse=encode_sparse(text), item=item, embedded_as="text"))
    store.upsert(points)
    retriever = Retriever(embedder, store, RetrieveConfig(branch_weights={"pages": 2.0}))
    question = "What is the contact phone number of the companies on page 2?"
    plan = retriever.plan(question, 6)
    _, fused = retriever._query(question, plan, None)
    named = dict(fused)["pages"]
    assert named and len({h.item.file for h in named}) <= NAMED_PAGE_FILES
    assert "/f/deck.pdf" in {h.item.file for h in named} and all(h.item.page == 2 for h in named)
