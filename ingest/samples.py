"""A small, realistic sample folder generated with PyMuPDF (for ``mmrag demo`` and tests).

Deterministic: the same bytes on every run, so ids and test expectations are stable. The
facts planted in it (revenue figures, the part number XK-4471-B, table cells, the words on
the scanned page; in the Korean report and minutes, 영업이익 and HX-7720-K) are listed in
``FACTS`` for tests and demos to ask about. ``build_hwpx`` writes HWPX packages (also used
by the tests of ``ingest.hwpx``).
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pymupdf
from PIL import Image, ImageDraw

from ingest.media import write_atomic

log = logging.getLogger(__name__)

REPORT = "acme_annual_report_2025.pdf"
SHEET = "xk-4471-b_product_sheet.pdf"
NOTES = "release_notes.md"
KO_REPORT = "hanbit_business_report_2025.pdf"  # 사업보고서: Korean prose and a ruled table
KO_MINUTES = "hanbit_meeting_minutes.hwpx"  # 회의록: attendees, an action-item table, a photo

FACTS = {
    "revenue_2025": "$482.7 million",
    "part_number": "XK-4471-B",
    "table_cell": ("Europe", "146.2"),
    "figure_caption": "Figure 1: Revenue by region",
    "table_caption": "Table 1: Revenue by region (USD million)",
    "scanned_words": ("warranty", "claims", "Springfield"),
    "ko_operating_profit": "영업이익은 412억 원",
    "ko_part_number": "HX-7720-K",
    "ko_table_cell": ("아시아", "842"),
    "ko_table_caption": "표 1. 지역별 매출 (단위: 억 원)",
    "ko_action_item": ("박서연", "HX-7720-K 펌웨어 3.1 배포"),
}
KO_REGIONS = [("국내", "1,820", "1,954", "7.4%"), ("아시아", "760", "842", "10.8%"),
              ("유럽", "380", "418", "10.0%")]
REGIONS = [("North America", "201.3", "228.9", "13.7%"), ("Europe", "132.0", "146.2", "10.8%"),
           ("Asia Pacific", "96.2", "107.6", "11.9%")]

_W, _H = 612, 792  # US Letter in points
_MARGIN = 72


def _para(page: pymupdf.Page, y: float, text: str, size: float = 10.5, font: str = "helv",
          x0: float = _MARGIN, x1: float = _W - _MARGIN) -> float:
    """Write a paragraph from ``y`` down; returns the y below it."""
    lines_needed = 1
    while True:
        rect = pymupdf.Rect(x0, y, x1, y + lines_needed * size * 1.3 + 2)
        if page.insert_textbox(rect, text, fontsize=size, fontname=font) >= 0:
            return rect.y1 + size * 0.8
        # insert_textbox writes nothing when the text does not fit: retry with more room.
        lines_needed += 1


def _chrome(page: pymupdf.Page, n: int, total: int) -> None:
    """The running header and footer every page carries (and ingestion must drop)."""
    page.insert_text((_MARGIN, 40), "ACME Corporation - Annual Report 2025", fontsize=8, fontname="helv")
    page.insert_text((_W / 2 - 20, _H - 30), f"Page {n} of {total}", fontsize=8, fontname="helv")


def _photo_png() -> bytes:
    """A synthetic 'photo' of a building: a gradient sky, a block, windows."""
    img = Image.new("RGB", (320, 200))
    draw = ImageDraw.Draw(img)
    for y in range(200):
        draw.line([(0, y), (320, y)], fill=(90 + y // 4, 140 + y // 5, 220 - y // 3))
    draw.rectangle([60, 60, 260, 200], fill=(150, 110, 80))
    for wx in range(75, 250, 30):
        for wy in range(75, 190, 28):
            draw.rectangle([wx, wy, wx + 16, wy + 16], fill=(240, 230, 150))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _page_overview(doc: pymupdf.Document) -> None:
    page = doc.new_page(width=_W, height=_H)
    y = _para(page, 70, "ACME Corporation Annual Report 2025", size=22, font="hebo")
    y = _para(page, y, "1 Overview", size=15, font="hebo")
    y = _para(page, y, (
        "Total revenue reached $482.7 million in fiscal 2025, up 12.4% from $429.5 million in 2024. "
        "Operating margin improved to 18.3% as the XK-4471-B industrial controller became our best "
        "selling product. Net income was $61.2 million. The board proposes a dividend of $1.15 per share."
    ))
    y = _para(page, y, (
        "Headcount grew to 2,140 employees across eleven countries. Our headquarters remain in "
        "Springfield, where the new assembly hall opened in March 2025."
    ))
    rect = pymupdf.Rect(_MARGIN, y + 10, _MARGIN + 240, y + 160)
    page.insert_image(rect, stream=_photo_png())
    _para(page, rect.y1 + 6, "Figure 2: ACME headquarters in Springfield", size=9, font="helv")


def _page_table(doc: pymupdf.Document) -> None:
    page = doc.new_page(width=_W, height=_H)
    y = _para(page, 70, "2 Financial results", size=15, font="hebo")
    y = _para(page, y, (
        "Every region grew in 2025. North America remains the largest market, while Europe and Asia "
        "Pacific grew faster than expected thanks to the XK-4471-B launch."
    ))
    y = _para(page, y + 6, "Table 1: Revenue by region (USD million)", size=9.5, font="hebo")
    rows = [("Region", "2024", "2025", "Growth"), *REGIONS]
    cols = [_MARGIN, _MARGIN + 170, _MARGIN + 270, _MARGIN + 370, _MARGIN + 460]
    row_h = 22
    for r, row in enumerate(rows):
        top = y + r * row_h
        for c, cell in enumerate(row):
            font = "hebo" if r == 0 else "helv"
            page.insert_text((cols[c] + 6, top + 15), cell, fontsize=10, fontname=font)
    for r in range(len(rows) + 1):
        page.draw_line((cols[0], y + r * row_h), (cols[-1], y + r * row_h), width=0.8)
    for x in cols:
        page.draw_line((x, y), (x, y + len(rows) * row_h), width=0.8)
    y += len(rows) * row_h + 16
    _para(page, y, (
        "Currency effects reduced reported growth by 0.6 percentage points. Excluding currency, "
        "revenue grew 13.0%."
    ))


def _page_chart(doc: pymupdf.Document) -> None:
    page = doc.new_page(width=_W, height=_H)
    y = _para(page, 70, "3 Regional performance", size=15, font="hebo")
    y = _para(page, y, (
        "The chart below compares 2025 revenue by region. North America contributed nearly half of "
        "the total."
    ))
    x0, base, scale = 130.0, y + 230, 0.85
    page.draw_line((x0, y + 20), (x0, base), width=1)  # y axis
    page.draw_line((x0, base), (x0 + 360, base), width=1)  # x axis
    colours = [(0.2, 0.4, 0.8), (0.9, 0.5, 0.1), (0.2, 0.7, 0.3)]
    for i, (name, _, rev, _) in enumerate(REGIONS):
        left = x0 + 30 + i * 110
        top = base - float(rev) * scale
        page.draw_rect(pymupdf.Rect(left, top, left + 70, base), color=None, fill=colours[i])
        page.insert_text((left + 18, top - 5), rev, fontsize=8, fontname="helv")
        page.insert_text((left, base + 14), name, fontsize=8, fontname="helv")
    _para(page, base + 30, "Figure 1: Revenue by region", size=9, font="helv")
    _para(page, base + 60, (
        "Asia Pacific is expected to pass $120 million in 2026 as the Osaka service centre opens."
    ))


def _page_scanned(doc: pymupdf.Document) -> None:
    """A page that is only a picture of text: what a scanner produces."""
    src = pymupdf.open()
    sp = src.new_page(width=_W, height=_H)
    y = _para(sp, 90, "Appendix A: Warranty summary", size=16, font="hebo")
    y = _para(sp, y, (
        "Warranty claims for the XK-4471-B controller fell to 0.8 percent of units shipped in 2025. "
        "Most claims came from early units built in Springfield before the firmware update."
    ), size=13)
    _para(sp, y, "Signed by the quality director, Dana Whitfield.", size=13)
    pix = sp.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
    page = doc.new_page(width=_W, height=_H)
    page.insert_image(page.rect, stream=pix.tobytes("png"))


def _report() -> bytes:
    doc = pymupdf.open()
    _page_overview(doc)
    _page_table(doc)
    _page_chart(doc)
    _page_scanned(doc)
    for i in range(doc.page_count):
        _chrome(doc.load_page(i), i + 1, doc.page_count)
    doc.set_metadata({"title": "ACME Corporation Annual Report 2025", "author": "ACME Corporation"})
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def _product_sheet() -> bytes:
    """One two-column page: the left column must be read before the right one."""
    doc = pymupdf.open()
    page = doc.new_page(width=_W, height=_H)
    _para(page, 60, "XK-4471-B Industrial Controller", size=20, font="hebo")
    mid = _W / 2
    left = [
        "The XK-4471-B controls up to 64 axes with a cycle time of 250 microseconds.",
        "It runs on 24 V DC and draws at most 18 W under full load.",
    ]
    right = [
        "Operating temperature ranges from minus 20 to plus 60 degrees Celsius.",
        "The housing is rated IP65 and weighs 1.2 kg.",
    ]
    for col, texts, x0, x1 in ((0, left, _MARGIN, mid - 18), (1, right, mid + 18, _W - _MARGIN)):
        y = 120.0
        y = _para(page, y, "Performance" if col == 0 else "Environment", size=13, font="hebo", x0=x0, x1=x1)
        for t in texts:
            y = _para(page, y, t, x0=x0, x1=x1)
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


_NOTES_MD = """# Release notes

## Firmware 3.2 for XK-4471-B

Firmware 3.2 cuts boot time to 4 seconds and fixes the watchdog reset seen on early units.

## Known issues

Units built before serial number 10450 need a one-time calibration after the update.
"""


def _ko_report() -> bytes:
    """A Korean business report: two pages of prose set in MuPDF's built-in Korean font
    ("korea", not embedded: viewers substitute one), a ruled table on page 1."""
    doc = pymupdf.open()
    page = doc.new_page(width=_W, height=_H)
    y = _para(page, 70, "주식회사 한빛전자 2025년 사업보고서", size=20, font="korea")
    y = _para(page, y, "1. 경영 실적", size=15, font="korea")
    y = _para(page, y, (
        "2025년 매출액은 3,214억 원으로 전년 대비 8.6% 증가했다. 영업이익은 412억 원이며, "
        "주력 제품인 산업용 센서 HX-7720-K의 판매 호조가 실적을 이끌었다."
    ), font="korea")
    y = _para(page, y + 6, FACTS["ko_table_caption"], size=9.5, font="korea")  # type: ignore[arg-type]
    rows = [("지역", "2024년", "2025년", "증감률"), *KO_REGIONS]
    cols = [_MARGIN, _MARGIN + 170, _MARGIN + 270, _MARGIN + 370, _MARGIN + 460]
    row_h = 22
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_text((cols[c] + 6, y + r * row_h + 15), cell, fontsize=10, fontname="korea")
    for r in range(len(rows) + 1):
        page.draw_line((cols[0], y + r * row_h), (cols[-1], y + r * row_h), width=0.8)
    for x in cols:
        page.draw_line((x, y), (x, y + len(rows) * row_h), width=0.8)
    _para(page, y + len(rows) * row_h + 16, "아시아 지역 매출은 베트남 공장 가동으로 10.8% 늘었다.", font="korea")
    page = doc.new_page(width=_W, height=_H)
    y = _para(page, 70, "2. 향후 계획", size=15, font="korea")
    _para(page, y, (
        "2026년에는 HX-7720-K 후속 모델을 출시하고, 연구개발 투자를 매출액의 7% 수준으로 확대할 계획이다. "
        "배당금은 주당 1,200원으로 결정했다."
    ), font="korea")
    doc.set_metadata({"title": "주식회사 한빛전자 2025년 사업보고서", "author": "한빛전자"})
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def _ko_minutes() -> bytes:
    """Meeting minutes as HWPX, with the line layout Hangul records (so items cite pages)."""
    who, task = FACTS["ko_action_item"]
    return build_hwpx([
        ("header", "한빛전자 내부 문서"),
        ("heading", "2025년 3분기 경영회의 회의록"),
        ("text", "일시는 2025년 10월 2일 오후 2시, 장소는 본사 3층 대회의실이다."),
        ("text", "참석자는 김지훈 대표, 박서연 개발팀장, 이민준 영업팀장이다."),
        ("subheading", "결정 사항"),
        ("text", "HX-7720-K 센서의 펌웨어를 3.1로 올려 현장 오류를 줄이기로 했다."),
        ("table", [["담당", "할 일", "기한"], [who, task, "10월 15일"],
                   ["이민준", "유럽 대리점 계약 갱신", "10월 31일"]]),
        ("page_break", None),
        ("subheading", "첨부"),
        ("image", _photo_png()),
        ("text", "사진은 회의에서 검토한 베트남 공장의 전경이다."),
    ], title="2025년 3분기 경영회의 회의록", layout=True)


def write_sample_folder(dest: Path) -> list[Path]:
    """Write the sample documents into ``dest`` (created if needed) and return their paths.

    Files: a 4-page annual report PDF (prose, a ruled table, a vector bar chart, a photo and
    a scanned page without text layer), a one-page two-column product sheet PDF, a
    markdown file, a 2-page Korean business report PDF (사업보고서, with a table) and Korean
    meeting minutes as HWPX (회의록, with a table and a photo). Existing files are
    overwritten with identical bytes.
    """
    dest.mkdir(parents=True, exist_ok=True)
    written = [
        write_atomic(dest / REPORT, _report()),
        write_atomic(dest / SHEET, _product_sheet()),
        write_atomic(dest / NOTES, _NOTES_MD.encode()),
        write_atomic(dest / KO_REPORT, _ko_report()),
        write_atomic(dest / KO_MINUTES, _ko_minutes()),
    ]
    log.info("wrote %d sample files to %s", len(written), dest)
    return written


# ------------------------------------------------------------------------------------- HWPX
_NS = ('xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph" '
       'xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section" '
       'xmlns:hc="http://www.hancom.co.kr/hwpml/2011/core" '
       'xmlns:hh="http://www.hancom.co.kr/hwpml/2011/head"')
_BODY_PR, _HEADING_PR, _SUBHEADING_PR = "0", "1", "2"  # charPr ids: 10 pt body, 16 and 13 pt headings

HwpxPart = tuple[str, object]
"""One part of a generated HWPX body: ``("heading", text)``, ``("subheading", text)``, ``("text", text)``,
``("table", rows)`` (first row the header), ``("image", png_bytes)``, ``("header", text)``
(a running header, which readers must leave out) or ``("page_break", None)``."""


def _hwpx_para(n: int, inner: str, char_pr: str = _BODY_PR, *, page_break: bool = False,
               vpos: int | None = None) -> str:
    seg = (f'<hp:linesegarray><hp:lineseg textpos="0" vertpos="{vpos}" vertsize="1000" textheight="1000" '
           'baseline="850" spacing="600" horzpos="0" horzsize="42520" flags="393216"/></hp:linesegarray>'
           if vpos is not None else "")
    return (f'<hp:p id="{n}" paraPrIDRef="0" styleIDRef="0" pageBreak="{int(page_break)}" columnBreak="0" '
            f'merged="0"><hp:run charPrIDRef="{char_pr}">{inner}</hp:run>{seg}</hp:p>')


def _hwpx_table(rows: Sequence[Sequence[str]]) -> str:
    trs = []
    for r, row in enumerate(rows):
        tcs = "".join(
            f'<hp:tc header="{int(r == 0)}"><hp:subList><hp:p id="0" paraPrIDRef="0" styleIDRef="0">'
            f'<hp:run charPrIDRef="{_BODY_PR}"><hp:t>{escape(cell)}</hp:t></hp:run></hp:p></hp:subList>'
            f'<hp:cellAddr colAddr="{c}" rowAddr="{r}"/><hp:cellSpan colSpan="1" rowSpan="1"/></hp:tc>'
            for c, cell in enumerate(row))
        trs.append(f"<hp:tr>{tcs}</hp:tr>")
    return f'<hp:tbl rowCnt="{len(rows)}" colCnt="{len(rows[0]) if rows else 0}">{"".join(trs)}</hp:tbl>'


def build_hwpx(parts: Sequence[HwpxPart], *, title: str = "", layout: bool = False) -> bytes:
    """A small, valid HWPX package (OWPML) with the given body, deterministic bytes.

    ``layout=True`` records a line layout (``hp:lineseg vertpos``) the way Hangul does, with
    the position starting over after each ``page_break``, so readers can count pages; without
    it the file has none, like files written by other tools.
    """
    paras: list[str] = []
    images: list[bytes] = []
    vpos, page_break = 0, False
    for kind, value in parts:
        if kind == "page_break":
            vpos, page_break = 0, True
            continue
        if kind in ("heading", "subheading"):
            inner, pr = f"<hp:t>{escape(str(value))}</hp:t>", _HEADING_PR if kind == "heading" else _SUBHEADING_PR
        elif kind == "text":
            inner, pr = f"<hp:t>{escape(str(value))}</hp:t>", _BODY_PR
        elif kind == "table":
            inner, pr = _hwpx_table(value), _BODY_PR  # type: ignore[arg-type]
        elif kind == "image":
            images.append(value)  # type: ignore[arg-type]
            inner = (f'<hp:pic id="{len(images)}"><hc:img binaryItemIDRef="image{len(images)}" bright="0" '
                     'contrast="0" effect="REAL_PIC" alpha="0"/></hp:pic>')
            pr = _BODY_PR
        elif kind == "header":
            inner = (f'<hp:ctrl><hp:header id="1" applyPageType="BOTH"><hp:subList><hp:p id="0" '
                     f'paraPrIDRef="0" styleIDRef="0"><hp:run charPrIDRef="{_BODY_PR}"><hp:t>{escape(str(value))}'
                     '</hp:t></hp:run></hp:p></hp:subList></hp:header></hp:ctrl>')
            pr = _BODY_PR
        else:
            raise ValueError(f"unknown HWPX part kind: {kind!r}")
        paras.append(_hwpx_para(len(paras), inner, pr, page_break=page_break, vpos=vpos if layout else None))
        vpos, page_break = vpos + 1600, False
    section = f'<?xml version="1.0" encoding="UTF-8" standalone="yes" ?><hs:sec {_NS}>{"".join(paras)}</hs:sec>'
    header = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes" ?><hh:head {_NS} version="1.4" secCnt="1">'
              '<hh:refList><hh:charProperties itemCnt="3">'
              f'<hh:charPr id="{_BODY_PR}" height="1000"/><hh:charPr id="{_HEADING_PR}" height="1600"/>'
              f'<hh:charPr id="{_SUBHEADING_PR}" height="1300"/></hh:charProperties>'
              '<hh:styles itemCnt="1"><hh:style id="0" type="PARA" name="바탕글" engName="Normal" '
              'paraPrIDRef="0" charPrIDRef="0"/></hh:styles></hh:refList></hh:head>')
    bins = "".join(f'<opf:item id="image{i}" href="BinData/image{i}.png" media-type="image/png" isEmbeded="1"/>'
                   for i in range(1, len(images) + 1))
    hpf = ('<?xml version="1.0" encoding="UTF-8" standalone="yes" ?><opf:package '
           'xmlns:opf="http://www.idpf.org/2007/opf/" version="" unique-identifier="" id="">'
           f"<opf:metadata><opf:title>{escape(title)}</opf:title><opf:language>ko</opf:language></opf:metadata>"
           '<opf:manifest><opf:item id="header" href="Contents/header.xml" media-type="application/xml"/>'
           '<opf:item id="section0" href="Contents/section0.xml" media-type="application/xml"/>'
           f'{bins}</opf:manifest><opf:spine><opf:itemref idref="header" linear="yes"/>'
           '<opf:itemref idref="section0" linear="yes"/></opf:spine></opf:package>')
    container = ('<?xml version="1.0" encoding="UTF-8" standalone="yes" ?><ocf:container '
                 'xmlns:ocf="urn:oasis:names:tc:opendocument:xmlns:container"><ocf:rootfiles>'
                 f'<ocf:rootfile full-path={quoteattr("Contents/content.hpf")} '
                 'media-type="application/hwpml-package+xml"/></ocf:rootfiles></ocf:container>')
    files = [("mimetype", b"application/hwp+zip"), ("META-INF/container.xml", container.encode()),
             ("Contents/content.hpf", hpf.encode()), ("Contents/header.xml", header.encode()),
             ("Contents/section0.xml", section.encode())]
    files += [(f"BinData/image{i}.png", png) for i, png in enumerate(images, start=1)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files:
            # Fixed timestamps: the same bytes on every run. The mimetype goes first, stored.
            zinfo = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            zinfo.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            zf.writestr(zinfo, data)
    return buf.getvalue()
