"""Build the Korean evaluation folder: generated Korean (and one English) company documents whose facts
sit on known pages, for ``mmrag eval scripts/korean_eval/qa.jsonl --docs OUT``.

The folder mirrors what a Korean company share holds: a business report (사업보고서) with a revenue table,
meeting minutes (회의록) with attendees and action items, a product manual with a part number, an image-only
scanned official letter (공문), an English travel policy, and a 40-page rulebook (규정집) as distractors.
Everything is generated here (PyMuPDF's built-in Korean font), so the set is ours to publish.

    python scripts/korean_eval/build.py OUT_DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pymupdf

W, H = 595, 842  # A4 in points
MARGIN = 60
FONT = "korea"  # PyMuPDF's built-in CJK font (Hangul and Latin)


def _header_footer(page: pymupdf.Page, title: str, n: int) -> None:
    page.insert_text((MARGIN, 36), title, fontsize=8, fontname=FONT)
    page.insert_text((W / 2 - 10, H - 30), f"- {n} -", fontsize=9, fontname=FONT)


def _paragraphs(page: pymupdf.Page, top: float, paragraphs: list[tuple[str, float]]) -> float:
    """Write (text, fontsize) paragraphs from ``top``; returns the next free y."""
    y = top
    for text, size in paragraphs:
        rect = pymupdf.Rect(MARGIN, y, W - MARGIN, H - 60)
        left = page.insert_textbox(rect, text, fontsize=size, fontname=FONT, lineheight=1.5)
        if left < 0:
            raise ValueError(f"paragraph does not fit: {text[:40]!r}")
        y = rect.y1 - left + size * 0.9
    return y


def _table(page: pymupdf.Page, top: float, rows: list[list[str]], widths: list[float]) -> float:
    """A ruled table: the first row is the header. Returns the y under it."""
    row_h = 22.0
    x0 = MARGIN
    for r, row in enumerate(rows):
        x = x0
        for c, cell in enumerate(row):
            rect = pymupdf.Rect(x, top + r * row_h, x + widths[c], top + (r + 1) * row_h)
            page.draw_rect(rect, color=(0, 0, 0), width=0.6)
            page.insert_text((rect.x0 + 5, rect.y0 + 15), cell, fontsize=9.5, fontname=FONT)
            x += widths[c]
    return top + len(rows) * row_h + 16


def _doc(pages: list[list[tuple[str, float]]], title: str) -> pymupdf.Document:
    doc = pymupdf.open()
    for n, paragraphs in enumerate(pages, start=1):
        page = doc.new_page(width=W, height=H)
        _header_footer(page, title, n)
        _paragraphs(page, 70, paragraphs)
    return doc


def business_report(out: Path) -> None:
    title = "주식회사 한빛전자 2025년 사업보고서"
    doc = pymupdf.open()
    p1 = doc.new_page(width=W, height=H)
    _header_footer(p1, title, 1)
    _paragraphs(p1, 70, [
        ("주식회사 한빛전자 2025년 사업보고서", 18),
        ("제1장 회사의 개요", 13),
        ("주식회사 한빛전자는 1998년 경기도 수원시에서 설립된 전자부품 제조기업이다. 본사는 수원시 영통구에 있으며, "
         "구미와 평택에 생산 공장을 운영하고 있다. "
         "대표이사는 박서연이며, 2025년 말 기준 임직원 수는 2,184명이다.", 10.5),
        ("회사는 반도체 패키징, 디스플레이 모듈, 모바일 부품의 세 개 사업부문으로 구성되어 있다. "
         "주요 고객은 국내외 스마트폰 제조사와 자동차 전장 업체이다.", 10.5),
    ])
    p2 = doc.new_page(width=W, height=H)
    _header_footer(p2, title, 2)
    y = _paragraphs(p2, 70, [("제2장 사업부문별 매출 현황", 13),
                            ("아래 표는 최근 2개 연도의 사업부문별 매출액을 나타낸다(단위: 억 원).", 10.5)])
    _table(p2, y + 6, [["사업부문", "2024년", "2025년", "증감률"],
                       ["반도체 패키징", "8,120", "9,870", "21.6%"],
                       ["디스플레이 모듈", "5,430", "5,110", "-5.9%"],
                       ["모바일 부품", "3,260", "3,580", "9.8%"],
                       ["합계", "16,810", "18,560", "10.4%"]], [140, 90, 90, 90])
    p3 = doc.new_page(width=W, height=H)
    _header_footer(p3, title, 3)
    _paragraphs(p3, 70, [
        ("제3장 경영 성과", 13),
        ("2025년 영업이익은 2,315억 원으로 전년 대비 14.2% 증가하였다. 영업이익률은 12.5%를 기록하였다. "
         "이는 반도체 패키징 부문의 고부가 제품 비중 확대에 따른 것이다.", 10.5),
        ("당기순이익은 1,742억 원이며, 주당 배당금은 1,200원으로 결정되었다.", 10.5),
    ])
    p4 = doc.new_page(width=W, height=H)
    _header_footer(p4, title, 4)
    _paragraphs(p4, 70, [
        ("제4장 연구개발 활동", 13),
        ("2025년 연구개발비는 1,096억 원으로 매출액의 5.9%에 해당한다. 회사는 평택 연구소에서 차세대 "
         "팬아웃 패키징 기술을 개발하고 있으며, 2025년 중 국내외 특허 87건을 등록하였다.", 10.5),
    ])
    p5 = doc.new_page(width=W, height=H)
    _header_footer(p5, title, 5)
    _paragraphs(p5, 70, [
        ("제5장 위험 요인", 13),
        ("원재료 가격 변동과 환율 변동이 주요 위험 요인이다. 회사는 원화 대비 달러 환율이 10% 상승할 경우 "
         "영업이익이 약 180억 원 증가하는 것으로 추정한다.", 10.5),
    ])
    doc.save(out / "hanbit_business_report_2025.pdf")


def minutes(out: Path) -> None:
    title = "제품기획위원회 회의록"
    doc = pymupdf.open()
    p1 = doc.new_page(width=W, height=H)
    _header_footer(p1, title, 1)
    y = _paragraphs(p1, 70, [("제품기획위원회 회의록", 16)])
    y = _table(p1, y + 6, [["항목", "내용"],
                           ["일시", "2025년 3월 12일(수) 14:00 ~ 16:00"],
                           ["장소", "본사 12층 대회의실"],
                           ["참석자", "박서연 대표이사, 김도윤 상무, 이하은 팀장, 정민재 책임"],
                           ["작성자", "최유진 선임"]], [90, 330])
    _paragraphs(p1, y, [
        ("안건 1. 2분기 신제품 출시 일정", 12),
        ("김도윤 상무는 HX-7720 모듈의 양산 일정을 5월 20일로 확정할 것을 제안하였고, 위원회는 이를 승인하였다.", 10.5),
    ])
    p2 = doc.new_page(width=W, height=H)
    _header_footer(p2, title, 2)
    _paragraphs(p2, 70, [
        ("조치 사항", 13),
        ("1. 이하은 팀장은 4월 4일까지 시험 성적서를 제출한다.", 10.5),
        ("2. 정민재 책임은 협력사 단가 협상 결과를 4월 11일까지 보고한다.", 10.5),
        ("3. 다음 회의는 2025년 4월 16일 오후 2시에 개최한다.", 10.5),
    ])
    doc.save(out / "product_committee_minutes_20250312.pdf")


def manual(out: Path) -> None:
    title = "HX-7720 전원 모듈 사용 설명서"
    doc = _doc([
        [("HX-7720 전원 모듈 사용 설명서", 16),
         ("이 설명서는 한빛전자 HX-7720 시리즈 전원 모듈의 설치와 유지보수 방법을 설명한다.", 10.5)],
        [("제품 사양", 13),
         ("교체용 퓨즈의 부품 번호는 HX-7720-K이며, 정격 전류는 3.15A이다. 입력 전압 범위는 100~240V, "
          "출력은 12V 5A이다. 동작 온도 범위는 영하 20도에서 영상 60도까지이다.", 10.5)],
        [("설치 방법", 13),
         ("모듈은 DIN 레일에 수직으로 장착한다. 주변 부품과 최소 20mm의 간격을 유지하여 방열을 확보해야 한다.", 10.5)],
        [("보증", 13),
         ("무상 보증 기간은 구매일로부터 36개월이다. 사용자의 임의 개조로 인한 고장은 보증에서 제외된다.", 10.5)],
    ], title)
    doc.save(out / "hx7720_manual.pdf")


def scanned_letter(out: Path) -> None:
    """An image-only page: the text exists only as pixels, as in a scanned official letter."""
    src = pymupdf.open()
    page = src.new_page(width=W, height=H)
    _paragraphs(page, 80, [
        ("한빛전자 정보보안팀", 12),
        ("수신: 전 부서장", 12),
        ("제목: 정보보호 관리체계 인증 갱신 심사 안내", 14),
        ("정보보호 관리체계(ISMS) 인증 갱신 심사가 2025년 6월 9일부터 6월 13일까지 진행됩니다. "
         "각 부서는 5월 30일까지 자산 목록과 접근 권한 현황을 정보보안팀에 제출하여 주시기 바랍니다.", 12),
        ("담당자: 정보보안팀 한지우 (내선 4417)", 12),
    ])
    pix = page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY)
    scan = pymupdf.open()
    spage = scan.new_page(width=W, height=H)
    spage.insert_image(spage.rect, stream=pix.tobytes("png"))
    scan.save(out / "isms_notice_scan.pdf")


def travel_policy(out: Path) -> None:
    title = "Hanbit Electronics - Business Travel Policy"
    doc = _doc([
        [("Business Travel Policy", 16),
         ("This policy applies to all employees of Hanbit Electronics who travel on company business. "
          "Every overseas trip must be approved by the department head at least 14 days before departure.", 10.5)],
        [("Hotel and per diem limits", 13),
         ("The hotel limit is 250 US dollars per night in New York, London and Tokyo, and 180 US dollars per "
          "night in other cities. The daily meal allowance (per diem) is 75 US dollars.", 10.5)],
        [("Reimbursement", 13),
         ("Expense reports must be submitted within 10 working days after return, with original receipts. "
          "Economy class is required for flights shorter than 6 hours; business class is allowed for longer flights.",
          10.5)],
    ], title)
    doc.save(out / "travel_policy_en.pdf")


_RULE_TOPICS = [
    ("휴가", "연차 휴가는 입사 1년 후 15일이 부여되며, 2년마다 1일씩 가산한다"),
    ("복리후생", "직원의 자녀 학자금은 대학교까지 실비로 지원한다"),
    ("보안", "외부 저장 매체는 정보보안팀의 승인을 받은 경우에만 사용할 수 있다"),
    ("교육", "모든 직원은 연간 40시간 이상의 직무 교육을 이수하여야 한다"),
    ("근무시간", "기본 근무시간은 오전 9시부터 오후 6시까지이며, 선택적 근무제를 운영한다"),
    ("출장", "국내 출장 일비는 하루 3만 원으로 한다"),
    ("포상", "우수 제안 채택 시 최대 500만 원의 포상금을 지급한다"),
    ("징계", "징계의 종류는 견책, 감봉, 정직, 해고로 구분한다"),
]


def rulebook(out: Path, pages: int = 40) -> None:
    """40 pages of 규정집 articles: similar wording everywhere, one fact per article."""
    title = "한빛전자 사내 규정집"
    body = []
    for n in range(1, pages + 1):
        topic, fact = _RULE_TOPICS[(n - 1) % len(_RULE_TOPICS)]
        round_ = (n - 1) // len(_RULE_TOPICS) + 1
        body.append([
            (f"제{n}조 ({topic} 규정 {round_})", 13),
            (f"① 이 조는 {topic}에 관한 사항을 정한다. ② {fact}. ③ 세부 사항은 인사위원회의 의결을 거쳐 "
             f"대표이사가 정한다. ④ 이 조의 적용 대상은 제{n}조 시행일 현재 재직 중인 직원으로 한다.", 10.5),
            ("부칙: 이 규정은 2025년 1월 1일부터 시행한다.", 9.5),
        ])
    # Two articles hold facts nobody else states: the questions ask for them.
    body[22][1] = ("① 법인카드는 1회 300만 원을 초과하여 사용할 수 없다. ② 초과 사용 시 사전에 재무팀장의 "
                   "승인을 받아야 한다. ③ 위반 시 징계위원회에 회부한다.", 10.5)
    body[35][1] = ("① 재택근무는 주 2회까지 신청할 수 있다. ② 재택근무 신청은 전주 금요일까지 부서장에게 "
                   "제출한다.", 10.5)
    _doc(body, title).save(out / "hanbit_rulebook.pdf")


def build(out: Path) -> list[Path]:
    """Write every document of the set into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    for make in (business_report, minutes, manual, scanned_letter, travel_policy, rulebook):
        make(out)
    return sorted(out.glob("*.pdf"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    for path in build(args.out):
        print(path)


if __name__ == "__main__":
    main()
