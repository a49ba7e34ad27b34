"""HWP 5 files: the shared real document, protected copies of it, and PARA_TEXT control characters."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from ingest.config import IngestConfig
from ingest.discover import discover
from ingest.errors import IngestError
from ingest.hwp import F_DISTRIBUTION, F_PASSWORD, SIGNATURE, para_text
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
    # Page 3 of the file (printed "1": the cover and the contents come first), under chapter Ⅰ.
    assert chunk.page == 3 and chunk.location is not None and chunk.location.kind == "page"
    assert chunk.section == ["디지털 정부혁신 추진계획", "Ⅰ. 개 요"]
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
