"""Blocks of word-processor files → items: headings, section paths, layout tables, locations."""

from __future__ import annotations

from pathlib import Path

from ingest.config import IngestConfig
from ingest.flowdoc import Block, cell_rows, flow_items, heading_levels, is_layout_table
from ingest.records import FileInfo


def _text(n: int, text: str, size: float = 15.0, page: int | None = None) -> Block:
    return Block(kind="text", section=1, paragraph=n, page=page, text=text, size=size)


DOC = [
    _text(1, "디지털 정부혁신 추진계획", 32),
    _text(2, "Ⅰ. 개 요", 20),
    _text(3, "□ 추진 배경", 17),
    _text(4, "○ 우리나라는 세계 최고수준의 전자정부를 구축했다."),
    _text(5, "참고 1", 16),
    _text(6, "디지털 정부혁신 추진전략", 16),
    _text(7, "○ 비전은 디지털로 여는 좋은 세상이다."),
]


def test_heading_levels() -> None:
    # The title, chapter markers at level 2 (also "참고 1" at 16 pt, under the size threshold), □ at 3.
    assert heading_levels(DOC) == {0: 1, 1: 2, 2: 3, 4: 2}


def test_section_paths_and_paragraph_locations(tmp_path: Path) -> None:
    info = FileInfo(path=str(tmp_path / "plan.hwpx"), size=1, mtime=0.0, sha256="ab" * 32)
    items = flow_items(info, DOC, IngestConfig(ocr="none"), tmp_path)
    first, second = items
    # Headings alone would be bare-heading chunks: they open the chunk under them instead.
    assert first.text.startswith("디지털 정부혁신 추진계획\nⅠ. 개 요\n□ 추진 배경\n○ 우리나라는")
    assert first.section == ["디지털 정부혁신 추진계획", "Ⅰ. 개 요", "□ 추진 배경"]
    assert first.location is not None and (first.location.kind, first.location.paragraph) == ("paragraph", 1)
    assert second.section == ["디지털 정부혁신 추진계획", "참고 1 디지털 정부혁신 추진전략"]
    assert second.page == 1  # the section number: no page was recorded


def test_layout_tables_and_merged_cells() -> None:
    assert cell_rows([(0, 0, "구분"), (0, 2, "값"), (1, 0, "매출"), (1, 2, "3,214 | 억")]) == [
        ["구분", "값"], ["매출", "3,214 \\| 억"]]  # the empty column of a merged cell is dropped
    assert is_layout_table([["Ⅰ. 개 요"]])  # a boxed heading
    assert is_layout_table([["1", "선제적 서비스"], ["국민 각자의 상황에 맞는 혜택을 알려드립니다.", ""]])
    assert not is_layout_table([["지역", "2025년"], ["서울", "135"], ["부산", "91"]])
