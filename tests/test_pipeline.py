"""The whole flow on the CPU profile: real text model, embedded Qdrant, extractive answers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rag.errors import StoreError
from rag.generate.chat import ChatTurn
from rag.pipeline import Pipeline
from rag.records import DateRange, IngestReport, SearchFilter
from rag.retrieve import Retriever
from rag.store.base import Optimizable
from tests.pdfs import FACTS, write_chart_scan, write_corrupt, write_encrypted, write_report


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    write_report(root / "ops" / "operations_2025.pdf")
    write_report(root / "hr.pdf", {1: "Headcount grew to 812 employees across four countries."}, "HR report")
    write_encrypted(root / "locked.pdf")
    write_corrupt(root / "broken.pdf")
    return root


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Iterator[tuple[Pipeline, IngestReport]]:
    index = tmp_path_factory.mktemp("index")
    with Pipeline.from_config("cpu", {"store.path": str(index), "ingest.ocr": "none"}, environ={}) as p:
        yield p, p.ingest([folder], progress=False)


@pytest.fixture
def pipe(first: tuple[Pipeline, IngestReport]) -> Pipeline:
    """The pipeline after the folder's first ingest (each test can run alone)."""
    return first[0]


def test_first_ingest_reports_failures_and_ingests_the_rest(first: tuple[Pipeline, IngestReport]) -> None:
    pipe, report = first
    assert report.files_seen == 4
    assert report.files_ingested == 2
    failed = {Path(f.path).name: f.reason for f in report.files_failed}
    assert set(failed) == {"locked.pdf", "broken.pdf"}
    assert "encrypted" in failed["locked.pdf"]
    assert "corrupt" in failed["broken.pdf"] or "damaged" in failed["broken.pdf"]
    assert report.items["text"] >= 4 and report.items["page"] == 4
    assert report.pages == 4
    assert {"discover", "parse", "embed", "store"} <= set(report.stages)
    assert pipe.stats().files == 2


def test_rerun_ingests_nothing_new(pipe: Pipeline, folder: Path) -> None:
    before = pipe.stats().points
    report = pipe.ingest([folder], progress=False)
    assert report.files_ingested == 0
    assert report.files_unchanged == 2
    assert pipe.stats().points == before


@pytest.mark.parametrize("page", sorted(FACTS))
def test_search_finds_the_page_of_each_fact(pipe: Pipeline, page: int) -> None:
    question = {1: "How many turbines did the Oslo plant produce?",
                2: "What share of units had warranty claims?",
                3: "Which part number replaces the cooling pump?"}[page]
    hits = pipe.search(question, k=3)
    assert hits[0].file.endswith("operations_2025.pdf")
    assert hits[0].page == page


def test_keyword_only_part_number_is_found(pipe: Pipeline) -> None:
    hits = pipe.search("QZ-7781-K", k=3)
    assert (Path(hits[0].file).name, hits[0].page) == ("operations_2025.pdf", 3)


def test_ask_answers_with_citations_to_file_and_page(pipe: Pipeline) -> None:
    ans = pipe.ask("How many turbines did the Oslo plant produce in 2025?")
    assert not ans.abstained
    assert "4,200" in ans.text
    cited = {(Path(c.file).name, c.page) for c in ans.citations}
    assert ("operations_2025.pdf", 1) in cited
    sent_ids = {e.id for e in ans.evidence}
    assert all(c.id in sent_ids for c in ans.citations)
    assert {"retrieve", "generate"} <= set(ans.seconds)


def test_ask_abstains_without_evidence(pipe: Pipeline) -> None:
    ans = pipe.ask("What is the boiling point of liquid nitrogen on Jupiter's moons?")
    assert ans.abstained
    assert ans.citations == []


def test_changed_and_deleted_files_are_replaced_and_removed(pipe: Pipeline, folder: Path,
                                                           tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(folder, work)
    base = pipe.stats().points
    r1 = pipe.ingest([work], progress=False)
    assert r1.files_ingested == 2  # new paths, new ids
    added = pipe.stats().points - base
    write_report(work / "hr.pdf", {1: "Headcount grew to 955 employees.", 2: "Attrition was low."}, "HR")
    r2 = pipe.ingest([work], progress=False)
    assert (r2.files_ingested, r2.files_unchanged) == (1, 1)
    assert "955" in pipe.search("How many employees?", k=5)[0].text or any(
        "955" in e.text for e in pipe.search("Headcount employees", k=5))
    (work / "hr.pdf").unlink()
    (work / "ops" / "operations_2025.pdf").unlink()
    r3 = pipe.ingest([work], progress=False)
    assert r3.files_deleted == 2
    assert pipe.stats().points == base
    assert added > 0
    # The changed copy's renders are gone; the originals' (same bytes, same doc_id) are kept.
    media = pipe.settings.media_dir
    assert len([d for d in media.iterdir() if d.is_dir()]) == 2
    for ev in pipe.search("turbines warranty headcount", k=6):
        assert ev.image_path is None or Path(ev.image_path).exists()


def test_index_made_by_another_embedder_is_refused(tmp_path: Path) -> None:
    over = {"store.path": str(tmp_path / "ix"), "ingest.ocr": "none"}
    with Pipeline.from_config("cpu", over, environ={}) as p:
        p.ingest([write_report(tmp_path / "a.pdf")], progress=False)
    with pytest.raises(StoreError, match=r"e5small-int8.*all-MiniLM-L6-v2|all-MiniLM-L6-v2.*e5small-int8"):
        Pipeline.from_config("cpu", {**over, "embed.backend": "minilm"}, environ={})


def test_follow_up_in_a_chat_is_condensed_before_retrieval(pipe: Pipeline) -> None:
    history = [ChatTurn(role="user", content="Tell me about the cooling pump at the plant."),
               ChatTurn(role="assistant", content="It is serviced from the Hamburg depot.")]
    ans = pipe.ask("Which part number replaces it?", history=history)
    assert ans.question == "Which part number replaces it?"
    assert "QZ-7781-K" in ans.text
    assert any(c.page == 3 for c in ans.citations)
    assert "condense" in ans.seconds


def test_date_filters_and_the_index_build_policy(tmp_path: Path) -> None:
    """Files carry their modification time and stated creation date into the index, searches
    filter on both; an ingest ends with an HNSW build once ``store.optimize_after`` points wait."""
    docs = tmp_path / "docs"
    old, new = write_report(docs / "old.pdf"), write_report(docs / "new.pdf", {1: "Headcount grew to 812."}, "HR")
    os.utime(old, (datetime(2019, 5, 1, tzinfo=UTC).timestamp(),) * 2)
    over = {"store.path": str(tmp_path / "ix"), "ingest.ocr": "none", "store.optimize_after": None}
    with Pipeline.from_config("cpu", over, environ={}) as p:
        report = p.ingest([docs], progress=False)
        assert "optimize" not in report.stages
        assert isinstance(p.store, Optimizable) and p.store.unindexed() > 0
        recent = SearchFilter(modified=DateRange(since=datetime(2020, 1, 1)))
        assert {Path(e.file).name for e in p.search("report results", k=10, flt=recent)} == {"new.pdf"}
        before_2020 = SearchFilter(modified=DateRange(until=datetime(2020, 1, 1)))
        assert {Path(e.file).name for e in p.search("report results", k=10, flt=before_2020)} == {"old.pdf"}
        # write_report states no creation date: a creation-date range leaves both files out
        assert p.search("report", flt=SearchFilter(created=DateRange(since=datetime(2000, 1, 1)))) == []
    over["store.optimize_after"] = 1
    with Pipeline.from_config("cpu", over, environ={}) as p:
        new.write_bytes(write_report(tmp_path / "v2.pdf", {1: "Headcount grew to 955."}, "HR").read_bytes())
        report = p.ingest([docs], progress=False)
        assert report.files_ingested == 1 and "optimize" in report.stages
        assert isinstance(p.store, Optimizable) and p.store.unindexed() == 0
        assert "955" in p.search("headcount", k=1, flt=recent)[0].text


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed (scripts/setup-system.sh)")
def test_image_only_chart_page_is_found_through_the_image_branch(tmp_path: Path) -> None:
    """A chart page with no text layer: on the CPU profile its render is embedded from the OCR
    bridge text, and the dense image branch alone (figures and page renders) finds it."""
    pdf = write_chart_scan(tmp_path / "docs" / "board.pdf", "Turbine shipments by region",
                           {"Nordics": 40, "Iberia": 25, "Benelux": 60})
    with Pipeline.from_config("cpu", {"store.path": str(tmp_path / "ix")}, environ={}) as p:
        report = p.ingest([pdf], progress=False)
        assert report.files_ingested == 1
        image_branch = p.settings.retrieve.model_copy(update={"mode": "dense", "kinds": ["figure", "page"]})
        ev = Retriever(p.embedder, p.store, image_branch).search("turbine shipments by region chart", k=2)
        assert (ev[0].page, ev[0].kind) == (2, "page")
        assert "Turbine shipments" in ev[0].text and "Benelux" in ev[0].text  # the bridge text
        assert ev[0].image_path and Path(ev[0].image_path).exists()
        assert p.search("Which region shipped the most turbines?", k=1)[0].page == 2
