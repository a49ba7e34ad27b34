"""Issue 18, the document stage's own signals: the script rule (word signals are missing, not zero,
for a file in another script than the question) and the page gate (a file far shorter than a named
page is ruled out). Pure parts first, then a whole-folder search of a tiny real index (the ``cpu``
profile: multilingual-e5-small, Kiwi keywords, Qdrant Edge) where a Korean question is about an
English policy and a Korean rulebook of look-alike articles holds every keyword of the question."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.doc_stage import PAGE_SLACK, DocumentStage, Profile, discount, mix, script_of, too_short
from rag.pipeline import Pipeline
from rag.records import Point
from rag.store.edge import EdgeStore
from rag.store.sparse import encode_sparse
from tests.pdf_pages import write_pages

from .test_retrieve import HashEmbedder, _item


def test_script_of_reads_the_writing_system() -> None:
    assert script_of("출장 시 뉴욕의 호텔 1박 한도는 얼마인가요?") == "hangul"
    # a Korean question with an English part number stays Korean: one syllable, several letters
    assert script_of("HX-7720-K 퓨즈의 정격 전류는?") == "hangul"
    assert script_of("What was Hanbit's operating profit in 2025?") == "latin"
    assert script_of("東京の会社") == "cjk" and script_of("Привет, мир") == "cyrillic"
    assert script_of("2025 / 10-4") == ""  # no letters: meets every file


def test_word_signals_are_missing_not_zero_for_a_file_in_another_script() -> None:
    signals = {"name": np.array([5.0, 0.0]), "sparse": np.array([9.0, 0.0]),
               "text": np.array([0.80, 0.83])}
    weights = {"name": 2.0, "sparse": 2.0, "text": 1.0}
    plain = mix(signals, weights)
    # file 1 meets no keyword: without the rule its silence counts as "no" in 4 of its 5 weights
    assert plain[0] > 0.8 and plain[1] < 0.25
    other = np.array([False, True])
    crossed = mix(signals, weights, missing={"name": other, "sparse": other})
    assert crossed[0] == plain[0] and crossed[1] == 1.0  # the dense signal alone speaks for it
    # a file for which every weighted signal is missing gets 0, not NaN
    only_words = mix({"name": np.array([1.0, 0.0])}, {"name": 1.0}, missing={"name": other})
    assert only_words.tolist() == [1.0, 0.0]
    # one signal missing, the other counted
    half = mix(signals, weights, missing={"sparse": other})
    assert plain[1] < half[1] < crossed[1]


def _profile(pages: int) -> Profile:
    return Profile(file=f"/f/{pages}.pdf", text="", terms=Counter(), pages=pages)


def test_a_named_page_rules_out_files_far_shorter_than_it() -> None:
    profiles = [_profile(10), _profile(0), _profile(40), _profile(34)]
    assert too_short(profiles, [42]).tolist() == [True, False, False, False]  # 34 * 1.25 + 2 = 44.5
    assert not too_short(profiles, []).any()
    assert PAGE_SLACK == (1.25, 2)
    assert too_short(profiles, [3, 15]).tolist() == [True, False, False, False]  # the highest page counts


ENGLISH = {
    1: "Travel policy for overseas business trips. Employees book economy class for flights.",
    2: "Hotel limit per night: New York 300 dollars, London 250 dollars, other cities 180 dollars.",
    3: "Meals abroad are reimbursed up to 60 dollars per day with receipts.",
}
# Look-alike articles: every one holds the question's keywords (출장, 호텔, 한도, 1박), none the answer.
KOREAN = {
    1: "제1조 (목적) 이 규정은 임직원의 국내 출장 시 호텔 숙박과 교통의 한도를 정한다.",
    2: "제2조 (숙박) 국내 출장 시 호텔 1박 숙박비 한도는 직급별 별표에 따른다.",
    3: "제3조 (교통) 출장 시 교통비 한도는 실비로 정산하며 호텔 셔틀은 제외한다.",
    4: "제4조 (식비) 국내 출장 식비 한도는 1일 기준이며 호텔 조식은 포함한다.",
    5: "제5조 (보고) 출장 후 호텔 영수증과 1박 내역을 5일 이내에 제출한다.",
    6: "제6조 (예외) 출장 호텔 한도를 넘는 1박 비용은 부서장의 승인을 받는다.",
}
QUESTION = "출장 중 뉴욕 호텔은 하룻밤에 얼마까지 되나요?"
"""The dense branch finds the policy's page 2 first; the keyword branch finds only rulebook articles."""




@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    docs = tmp_path_factory.mktemp("docs")
    write_pages(docs / "travel_policy_en.pdf", ENGLISH, "helv")
    write_pages(docs / "rulebook.pdf", KOREAN, "korea")
    over = {"store.path": str(tmp_path_factory.mktemp("ix")), "ingest.ocr": "none"}
    with Pipeline.from_config("cpu", over, environ={}) as p:
        assert p.ingest([docs], progress=False).files_ingested == 2
        yield p


def test_profiles_know_their_script_and_pages(pipe: Pipeline) -> None:
    profiles, _ = pipe.retriever.doc_stage.profiles()
    got = {Path(p.file).name: (p.script, p.name_script, p.pages) for p in profiles}
    assert got == {"travel_policy_en.pdf": ("latin", "latin", 3), "rulebook.pdf": ("hangul", "latin", 6)}
    stage = pipe.retriever.doc_stage
    english = [p.script == "latin" for p in profiles]
    missing = stage.missing(QUESTION)  # a Korean question: the English policy's words cannot speak
    assert {k: v.tolist() for k, v in missing.items()} == {"sparse": english, "name": english}
    # an English question: the rulebook's text is Korean, its name is not
    missing = stage.missing("What does the rulebook say about hotels?")
    assert missing["sparse"].tolist() == [not e for e in english] and not missing["name"].any()
    assert stage.missing("2025") == {}


def test_a_korean_question_about_the_english_policy_finds_it_over_the_whole_folder(pipe: Pipeline) -> None:
    cfg = pipe.settings.retrieve
    assert cfg.fusion == "pages" and cfg.doc_stage  # the defaults: page fusion with the document stage
    stage = pipe.retriever.doc_stage
    plan = pipe.retriever.plan(QUESTION, 10)
    prior = {Path(f).name: v for f, v in stage.prior(QUESTION, plan.dense, {}, cfg.doc_weights).items()}
    # the policy meets none of the question's words: its prior is that of its dense signal alone
    # (0.83; 0.49 before the rule, when the keywords' silence counted 4 of its 7 weights as "no")
    assert prior["rulebook.pdf"] == 1.0 and prior["travel_policy_en.pdf"] > 0.7, prior
    found = [(Path(e.file).name, e.page) for e in pipe.search(QUESTION, k=10)]
    # before the rule six rulebook articles came first and the answer page 7th
    assert ("travel_policy_en.pdf", 2) in found[:5], found
    # within one file the stage stays out of it
    from rag.records import SearchFilter

    policy = next(f for f in pipe.store.files() if f.endswith("travel_policy_en.pdf"))
    assert {e.file for e in pipe.search(QUESTION, k=3, flt=SearchFilter(files=[policy]))} == {policy}


def test_shared_words_still_raise_a_file_in_another_script(pipe: Pipeline) -> None:
    stage = pipe.retriever.doc_stage
    cfg = pipe.settings.retrieve
    question = "New York 호텔 1박 한도는?"  # Korean, with the policy's own words "New York"
    plan = pipe.retriever.plan(question, 10)
    branches = {"sparse": pipe.store.query(plan.model_copy(update={"prefetch": [plan.prefetch[-1]]}))}
    files, raw = stage.signals(question, plan.dense, branches)
    sig = discount(raw, stage.profiles()[0])  # branch signals discounted for the files' sizes
    with_words = mix(sig, cfg.doc_weights)
    without = mix(sig, cfg.doc_weights, stage.missing(question))
    prior = stage.prior(question, plan.dense, branches, cfg.doc_weights)
    assert [prior[f] for f in files] == np.maximum(with_words, without).tolist()
    policy = next(i for i, f in enumerate(files) if f.endswith("travel_policy_en.pdf"))
    assert sig["sparse"][policy] > 0 and raw["sparse"][policy] > 0  # the keyword branch found "new york" on the policy


def test_a_named_page_beyond_a_short_file_rules_it_out(pipe: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    stage = pipe.retriever.doc_stage
    policy, rulebook = (next(p.file for p in stage.profiles()[0] if p.file.endswith(n))
                        for n in ("travel_policy_en.pdf", "rulebook.pdf"))
    weights = pipe.settings.retrieve.doc_weights
    question = "What is the hotel limit on page 8?"
    qv = pipe.retriever.plan(question).dense
    assert stage.prior(question, qv, {}, weights)[policy] == 1.0  # the English file is the best bet
    # 3 pages: 3 * 1.25 + 2 = 5.75 < 8, ruled out; 6 pages: 9.5, kept
    prior = stage.prior(question, qv, {}, weights, pages=[8])
    assert prior[policy] == 0.0 and prior[rulebook] > 0
    assert stage.prior(question, qv, {}, weights, pages=[5])[policy] == 1.0
    # through the Retriever: the question's named pages reach the stage (whole-folder searches only)
    seen: list[list[int]] = []
    real = stage.prior
    monkeypatch.setattr(stage, "prior", lambda *a, **kw: seen.append(list(a[4])) or real(*a, **kw))
    pipe.search(question, k=3)
    pipe.search("What is the hotel limit?", k=3)
    assert seen == [[8], []]


def _hash_index(tmp_path: Path, embedder: HashEmbedder) -> tuple[EdgeStore, Callable[[str, int, str], None]]:
    """A real Qdrant Edge index under ``tmp_path`` and a function adding one text point to it."""
    store = EdgeStore(tmp_path / "idx")
    store.ensure(embedder.id, embedder.dim)

    def add(file: str, seq: int, text: str) -> None:
        item = _item("text", file, 1, seq, text).model_copy(update={"order": 0})
        store.upsert([Point(id=item.id, vector=embedder.embed_texts([text])[0].tolist(), sparse=encode_sparse(text),
                            item=item, embedded_as="text")])

    return store, add


def test_a_new_file_embeds_one_profile_not_all(tmp_path: Path) -> None:
    class Counting(HashEmbedder):
        """The hash embedder, counting the texts it embeds."""

        def __init__(self) -> None:
            self.embedded: list[str] = []

        def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
            self.embedded.extend(texts)
            return super().embed_texts(texts)

    embedder = Counting()
    store, add = _hash_index(tmp_path, embedder)
    add("/f/a.pdf", 1, "Annual report of ACME")
    add("/f/b.pdf", 2, "Pump manual")
    stage = DocumentStage(embedder, store)
    embedder.embedded.clear()
    profiles, vectors = stage.profiles()
    assert len(profiles) == 2 and vectors.shape == (2, embedder.dim) and len(embedder.embedded) == 2
    add("/f/c.pdf", 3, "Travel policy")
    embedder.embedded.clear()
    profiles, vectors = stage.profiles()
    assert [Path(p.file).name for p in profiles] == ["a.pdf", "b.pdf", "c.pdf"]
    assert embedder.embedded == ["c\nTravel policy"]  # only the new file's profile
    # each vector is its own profile's, whatever the order of embedding
    again = embedder.embed_texts([p.text for p in profiles])
    assert np.allclose(vectors, again, atol=1e-6)
    embedder.embedded.clear()
    stage.profiles()
    assert embedder.embedded == []  # unchanged file set: nothing read or embedded


def test_one_search_scores_one_file_set_while_an_ingest_adds_files(tmp_path: Path) -> None:
    """An ingest job may add a file between two reads of the store's file set; the prior must
    score one snapshot (on the old code the script rule's arrays had one more file than the
    signals: IndexError in a search served during an ingest)."""
    embedder = HashEmbedder()
    store, add = _hash_index(tmp_path, embedder)
    add("/f/a.pdf", 1, "Annual report of ACME")
    add("/f/b.pdf", 2, "Pump manual")

    class Racing(DocumentStage):
        """Each read of the profiles after the first sees one more file, as during an ingest."""

        reads = 0

        def profiles(self) -> tuple[list[Profile], np.ndarray]:
            self.reads += 1
            if self.reads > 1:
                add(f"/f/new{self.reads}.pdf", 10 + self.reads, f"Report number {self.reads}")
            return super().profiles()

    stage = Racing(embedder, store)
    prior = stage.prior("What does the ACME report say?", embedder.embed_texts(["ACME report"])[0].tolist(),
                        {}, {"name": 1.0, "dense": 1.0})
    assert stage.reads == 1 and set(prior) == {"/f/a.pdf", "/f/b.pdf"}
