"""HWP 5 files: the shared real document, protected copies of it, and PARA_TEXT control characters."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from ingest.config import IngestConfig
from ingest.discover import discover
from ingest.errors import IngestError
from ingest.flowdoc import Block
from ingest.hwp import (
    CTRL_HEADER,
    F_DISTRIBUTION,
    F_PASSWORD,
    LIST_HEADER,
    PARA_HEADER,
    PARA_LINE_SEG,
    PARA_TEXT,
    SIGNATURE,
    TABLE,
    _Section,
    _tree,
    para_text,
)
from ingest.parse import parse_file, parse_many
from ingest.records import Figure, FileFailure, ParsedFile, Table

from .builders import info_of

SHARED_HWP = Path(__file__).resolve().parents[2] / "../shared/eval/korean/digital_gov_plan.hwp"
needs_shared = pytest.mark.skipif(not SHARED_HWP.is_file(), reason=f"{SHARED_HWP} absent")


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> ParsedFile:
    if not SHARED_HWP.is_file():
        pytest.skip(f"{SHARED_HWP} absent")
    cfg = IngestConfig(ocr="none")
    return parse_file(info_of(SHARED_HWP.resolve()), cfg, tmp_path_factory.mktemp("media"))


@needs_shared
def test_body_sentence_with_its_page(plan: ParsedFile) -> None:
    assert plan.document.title == "디지털 정부혁신 추진계획" and plan.document.mime == "application/x-hwp"
    assert plan.document.pages == 21
    sentence = ("우리나라는 국가적 초고속 정보통신망 투자와 적극적인 공공정보화 사업 추진에 힘입어 "
                "세계 최고수준의 전자정부를 구축‧운영")
    (chunk,) = [i for i in plan.items if i.kind == "text" and sentence in i.text]
    # Page 3 of the file (printed "1": the cover and the contents come first), under Ⅰ. and □.
    assert chunk.page == 3 and chunk.location is not None and chunk.location.kind == "page"
    assert chunk.section == ["디지털 정부혁신 추진계획", "Ⅰ. 개 요", "□ 추진 배경"]
    assert chunk.text.startswith("Ⅰ. 개 요\n□ 추진 배경\n○ 우리나라는")  # no bare-heading chunk
    text = " ".join(i.text for i in plan.items if i.kind == "text")
    assert "捤獥" not in text and "\x0b" not in text  # control characters do not leak as text


@needs_shared
def test_table_cells(plan: ParsedFile) -> None:
    cell = "블록체인 기반 부동산거래 플랫폼 (국토부) * 20년 ISP, 23년 구축 완료"
    (table,) = [i for i in plan.items if isinstance(i, Table) and cell in i.text]
    assert table.text.splitlines()[0] == "| 중점사업 (예시) | 현행 | 개선 |"
    assert f"| {cell} | 부동산 증명서 통합(18→1종)에도" in table.text
    assert table.page == 11 and table.location is not None
    assert (table.location.kind, table.location.section) == ("page", 1)


@needs_shared
def test_embedded_images_are_figures(plan: ParsedFile) -> None:
    figures = [i for i in plan.items if isinstance(i, Figure)]
    assert len(figures) == 7  # 8 pictures in BinData; the 40-pixel logo is an icon
    assert all(Path(f.image_path).is_file() for f in figures)
    assert sorted({f.page for f in figures}) == [11, 20, 21]


def _flip(src: Path, dest: Path, bits: int) -> Path:
    """A copy of ``src`` with FileHeader property ``bits`` set (the header stream is stored raw)."""
    data = bytearray(src.read_bytes())
    at = data.find(SIGNATURE.ljust(32, b"\0"))
    (flags,) = struct.unpack_from("<I", data, at + 36)
    struct.pack_into("<I", data, at + 36, flags | bits)
    dest.write_bytes(bytes(data))
    return dest


@needs_shared
def test_protected_files_fail_clearly_and_the_folder_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    _flip(SHARED_HWP, folder / "배포용.hwp", F_DISTRIBUTION)
    _flip(SHARED_HWP, folder / "암호.hwp", F_PASSWORD)
    (folder / "memo.txt").write_text("회의는 금요일 오후 3시에 열린다.")
    cfg = IngestConfig(ocr="none")
    outcomes = {Path(o.path if isinstance(o, FileFailure) else o.document.path).name: o
                for o in parse_many(discover([folder], cfg).files, cfg, tmp_path / "media")}
    dist, pw, memo = outcomes["배포용.hwp"], outcomes["암호.hwp"], outcomes["memo.txt"]
    assert isinstance(dist, FileFailure) and dist.reason == "distribution-protected HWP (배포용 문서)"
    assert isinstance(pw, FileFailure) and pw.reason == "password-protected HWP"
    assert isinstance(memo, ParsedFile) and "금요일" in memo.items[0].text
    with pytest.raises(IngestError, match=r"암호\.hwp: password-protected HWP"):
        parse_file(info_of(folder / "암호.hwp"), cfg, tmp_path / "media")


def test_not_an_hwp_file(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    (tmp_path / "old.hwp").write_bytes(b"HWP Document File V3.00 \x1a\x01\x02\x03\x04\x05")
    with pytest.raises(IngestError, match="unsupported HWP version"):
        parse_file(info_of(tmp_path / "old.hwp"), cfg, media)
    shutil.copy(tmp_path / "old.hwp", tmp_path / "junk.hwp")
    (tmp_path / "junk.hwp").write_bytes(b"\x00" * 600)
    with pytest.raises(IngestError, match="corrupt HWP file"):
        parse_file(info_of(tmp_path / "junk.hwp"), cfg, media)


def test_para_text_controls() -> None:
    def units(*parts: str | list[int]) -> bytes:
        out = b""
        for p in parts:
            out += p.encode("utf-16-le") if isinstance(p, str) else struct.pack(f"<{len(p)}H", *p)
        return out

    tab = [9, 0, 0, 0, 0, 0, 0, 9]
    table = [11, *struct.unpack("<2H", b" lbt"), 0, 0, 0, 0, 11]  # an extended control ('tbl ')
    payload = units("매출", tab, "482억", table, [30], "원", [10], "끝", [13])
    assert para_text(payload) == "매출\t482억 원\n끝"


def _rec(tag: int, level: int, payload: bytes) -> bytes:
    """One HWP record: a header word (tag 10 bits, level 10, size 12) and its payload."""
    assert len(payload) < 0xFFF
    return struct.pack("<I", tag | level << 10 | len(payload) << 20) + payload


def _para(level: int, text: str, *children: bytes, vpos: int | None = None) -> bytes:
    out = _rec(PARA_HEADER, level, struct.pack("<IIHBB", len(text) + 1, 0, 0, 0, 0) + b"\0" * 12)
    out += _rec(PARA_TEXT, level + 1, (text + "\r").encode("utf-16-le"))
    if vpos is not None:  # one laid-out line: (text pos, vertical pos, ..., horizontal pos, width, flags)
        out += _rec(PARA_LINE_SEG, level + 1, struct.pack("<iiiiiiiiI", 0, vpos, 1000, 1000, 850, 600, 0, 40000, 0))
    return out + b"".join(children)


def _ctrl(level: int, ctrl: str, *children: bytes) -> bytes:
    return _rec(CTRL_HEADER, level, ctrl.encode("latin-1")[::-1] + b"\0" * 8) + b"".join(children)


def _cell(level: int, row: int, col: int, text: str) -> bytes:
    header = struct.pack("<hHI4H", 1, 0, 0x20, col, row, 1, 1) + b"\0" * 18
    return _rec(LIST_HEADER, level, header) + _para(level, text)


class _NoShapes:
    """DocInfo answers for a record stream that references no shapes, styles or pictures."""

    def size(self, char_shape: int) -> float:
        return 10.0

    def heading(self, para_shape: int, style: int) -> int:
        return 0

    def binary(self, bin_id: int) -> bytes:
        return b""


def _blocks(stream: bytes) -> list[Block]:
    return list(_Section(_NoShapes(), 1, 1).read(_tree(stream)))  # type: ignore[arg-type]


def test_headers_footers_and_page_numbers_stay_out_of_the_body() -> None:
    stream = _para(0, "", _ctrl(1, "head", _rec(LIST_HEADER, 2, b"\0" * 8), _para(2, "한빛전자 대외비")),
                   _ctrl(1, "foot", _rec(LIST_HEADER, 2, b"\0" * 8), _para(2, "- 1 -")), _ctrl(1, "pgnp"))
    stream += _para(0, "본문 첫 문장이다.", vpos=0)
    stream += _para(0, "", _ctrl(1, "tbl ", _rec(TABLE, 2, struct.pack("<IHH", 0, 2, 2) + b"\0" * 12),
                                 _cell(2, 0, 0, "항목"), _cell(2, 0, 1, "값"),
                                 _cell(2, 1, 0, "영업이익"), _cell(2, 1, 1, "412억 원")), vpos=1600)
    stream += _para(0, "다음 쪽 문장이다.", vpos=0)  # the line position starts over: page 2
    blocks = _blocks(stream)
    assert [(b.kind, b.text, b.paragraph, b.page) for b in blocks if b.kind == "text"] == [
        ("text", "본문 첫 문장이다.", 2, 1), ("text", "다음 쪽 문장이다.", 4, 2)]
    (table,) = [b for b in blocks if b.kind == "table"]
    assert table.rows == [["항목", "값"], ["영업이익", "412억 원"]] and table.paragraph == 3


def test_a_file_without_layout_has_no_pages() -> None:
    sec = _Section(_NoShapes(), 1, 1)  # type: ignore[arg-type]
    list(sec.read(_tree(_para(0, "첫 문단.") + _para(0, "둘째 문단."))))
    assert not sec.laid_out  # the reader then gives section/paragraph locations
