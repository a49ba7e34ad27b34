"""Korean through the whole flow on the CPU profile: Korean keywords find the page whatever the
particle, the extractive answer quotes a Korean sentence, an unanswerable Korean question gets the
Korean abstention, and an index built with the old tokenizer is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.samples import build_hwpx
from rag.errors import StoreError
from rag.pipeline import Pipeline

DOCS = {
    "사업보고서.txt": "사업보고서 요약\n\n2023년 영업이익은 1,234억 원으로 전년 대비 12.5% 증가했다. "
                  "매출은 9,870억 원이었다.\n\n- 1 -\n",
    "설명서.txt": "제품 설명서\n\n교체용 필터의 부품 번호는 HX-7720-K이며 교체 주기는 6개월이다. "
               "필터를 교체하기 전에 전원을 차단하십시오.\n",
    "규정.txt": "출장 규정\n\n임직원의 출장 시 숙박비는 1박 15만 원을 넘을 수 없다. "
              "이 규정은 2024년 1월 1일부터 시행한다.\n",
    "회의록.txt": "회의록\n\n참석자는 김철수, 이영희, 박민수이다. 다음 회의는 3월 5일에 열린다.\n",
}


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    folder = tmp_path_factory.mktemp("korean")
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    # An HWPX written by a tool that records no layout: citations name section and paragraph.
    (folder / "안전점검.hwpx").write_bytes(build_hwpx([
        ("heading", "안전 점검 계획"),
        ("text", "정기 안전 점검은 매 분기 첫째 주 월요일에 실시한다."),
        ("text", "소화기 점검 책임자는 시설관리팀 윤서준 과장이다."),
    ], title="안전 점검 계획"))
    index = tmp_path_factory.mktemp("index")
    with Pipeline.from_config("cpu", {"store.path": str(index)}, environ={}) as p:
        report = p.ingest([folder], progress=False)
        assert report.files_ingested == len(DOCS) + 1
        yield p


@pytest.mark.parametrize("question", ["영업이익은?", "영업이익이 얼마인가?", "영업이익을 알려주세요"])
def test_particle_variants_get_the_same_cited_sentence(pipe: Pipeline, question: str) -> None:
    answer = pipe.ask(question)
    assert not answer.abstained
    assert answer.text.splitlines()[0].startswith('"2023년 영업이익은 1,234억 원으로')
    assert Path(answer.citations[0].file).name == "사업보고서.txt"


def test_part_number_with_a_particle_in_the_question(pipe: Pipeline) -> None:
    answer = pipe.ask("HX-7720-K의 교체 주기는?")
    assert "6개월" in answer.text and Path(answer.citations[0].file).name == "설명서.txt"


def test_a_citation_into_an_hwpx_without_pages_names_section_and_paragraph(pipe: Pipeline) -> None:
    answer = pipe.ask("소화기 점검 책임자는 누구인가요?")
    assert "윤서준" in answer.text
    cite = answer.citations[0]
    assert Path(cite.file).name == "안전점검.hwpx"
    assert cite.location is not None and cite.location.kind == "paragraph"
    assert cite.where == f"section 1, paragraph {cite.location.paragraph}"


def test_unanswerable_korean_question_abstains_in_korean(pipe: Pipeline) -> None:
    answer = pipe.ask("목성 대기의 주성분은 무엇인가?")
    assert answer.abstained and answer.text == "문서에서 이 질문에 대한 답을 찾을 수 없습니다."


def test_index_of_the_old_tokenizer_is_refused(tmp_path: Path) -> None:
    index = tmp_path / "index"
    with Pipeline.from_config("cpu", {"store.path": str(index)}, environ={}):
        pass
    [meta_path] = index.rglob("store.json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    del meta["tokenizer"]  # as every index written before the tokenizer was recorded
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(StoreError, match=r"keyword tokenizer 'mmrag-kw1'.*Re-ingest"):
        Pipeline.from_config("cpu", {"store.path": str(index)}, environ={})
