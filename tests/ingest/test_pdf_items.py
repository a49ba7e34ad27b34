"""PDF items on generated documents: tables, vector charts, photos, page renders, ids."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ingest.config import IngestConfig
from ingest.parse import parse_file
from ingest.records import BBox, Figure, PageImage, Table

from .builders import bar_chart_pdf, info_of, photo_pdf, photo_png, report_pdf, save, scanned_pdf, table_pdf

ROWS = [("Product", "Q1", "Q2", "Q3"), ("Widget", "1,200", "1,350", "1,410"),
        ("Gadget", "830", "910", "1,020"), ("Gizmo", "75.5", "80.25", "91.0")]


def _near(a: float, b: float, tol: float = 6.0) -> bool:
    return abs(a - b) <= tol


def test_table_markdown_cells_page_bbox(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    path, (x0, y0, x1, y1) = table_pdf(tmp_path / "t.pdf", ROWS)
    parsed = parse_file(info_of(path), cfg, media)
    (table,) = [i for i in parsed.items if isinstance(i, Table)]
    assert table.page == 1
    assert table.caption == "Table 3: Unit sales by quarter"
    lines = table.text.split("\n")
    assert lines[0] == "Table 3: Unit sales by quarter"
    assert "| Product | Q1 | Q2 | Q3 |" in lines
    assert "| Gizmo | 75.5 | 80.25 | 91.0 |" in lines
    assert "| Widget | 1,200 | 1,350 | 1,410 |" in lines
    assert table.bbox is not None
    assert all(_near(a, b) for a, b in zip((table.bbox.x0, table.bbox.y0, table.bbox.x1, table.bbox.y1),
                                           (x0, y0, x1, y1), strict=True))
    assert table.image_path and Path(table.image_path).is_file()
    assert Path(table.image_path).parent == media.resolve() / parsed.document.doc_id
    # Table cells are not repeated as prose.
    assert not any("80.25" in i.text for i in parsed.items if i.kind == "text")


def test_large_table_split_with_header_repeated(tmp_path: Path, media: Path) -> None:
    rows = [("Item", "Count", "Note")] + [(f"Part {i}", str(i * 7), f"lot {i}") for i in range(30)]
    path, _ = table_pdf(tmp_path / "big.pdf", rows, top=100)
    cfg = IngestConfig(ocr="none", render_pages=False, chunk_tokens=60)
    tables = [i for i in parse_file(info_of(path), cfg, media).items if isinstance(i, Table)]
    assert len(tables) > 2
    body_rows: list[str] = []
    for t in tables:
        md = t.text.split("\n\n", 1)[-1].split("\n")
        assert md[0] == "| Item | Count | Note |"
        assert len(t.text.split()) <= 60 + len(t.caption.split()) + 1
        body_rows += md[2:]
    assert body_rows == [f"| Part {i} | {i * 7} | lot {i} |" for i in range(30)]
    assert len({t.id for t in tables}) == len(tables)


def test_vector_bar_chart_is_a_figure(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    path, (x0, y0, x1, y1) = bar_chart_pdf(tmp_path / "chart.pdf")
    items = parse_file(info_of(path), cfg, media).items
    (fig,) = [i for i in items if isinstance(i, Figure)]
    assert fig.caption == "Figure 4: Quarterly sales in 2025"
    assert fig.text.startswith("Figure 4: Quarterly sales in 2025")
    assert "Q3" in fig.text  # axis labels from the text layer
    assert fig.bbox is not None
    b = fig.bbox
    assert b.x0 <= x0 + 2 and b.y0 <= y0 + 2 and b.x1 >= x1 - 2 and b.y1 >= y1 - 2  # covers the chart
    assert b.x0 >= x0 - 30 and b.y0 >= y0 - 30 and b.x1 <= x1 + 30 and b.y1 <= y1 + 30  # and not much more
    assert Image.open(fig.image_path).size[0] > 200
    assert not any(i.kind == "table" for i in items)


def test_raster_photos_deduped_and_icons_skipped(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    items = parse_file(info_of(photo_pdf(tmp_path / "p.pdf", pages=3)), cfg, media).items
    figs = [i for i in items if isinstance(i, Figure)]
    # The photo repeated on 3 pages counts once; the 16 px icon never; the page-1 photo once.
    assert sorted((f.page, round(f.bbox.x0) if f.bbox else 0) for f in figs) == [(1, 72), (1, 300)]
    plant = next(f for f in figs if f.caption)
    assert plant.caption == "Figure 1: The new plant"
    assert all(Path(f.image_path).is_file() for f in figs)


def test_page_images_one_per_page(tmp_path: Path, media: Path) -> None:
    cfg = IngestConfig(ocr="none", page_dpi=36)
    items = parse_file(info_of(report_pdf(tmp_path / "r.pdf", pages=3)), cfg, media).items
    pages = [i for i in items if isinstance(i, PageImage)]
    assert [p.page for p in pages] == [1, 2, 3]
    for p in pages:
        assert (p.width, p.height) == (306, 396) == Image.open(p.image_path).size  # 612x792 pt at 36 dpi
        assert "measured output" in p.text and "Confidential" not in p.text


def test_rotated_scan_is_a_page_not_a_figure(tmp_path: Path, media: Path) -> None:
    path, _ = scanned_pdf(tmp_path / "scan.pdf", "Rotated scan of a landscape page.", rotation=90)
    items = parse_file(info_of(path), IngestConfig(ocr="none", page_dpi=36), media).items
    assert not [i for i in items if isinstance(i, Figure)]
    (page,) = [i for i in items if isinstance(i, PageImage)]
    assert page.bbox == BBox(x0=0, y0=0, x1=612, y1=792)  # unrotated, like every other box
    assert (page.width, page.height) == (396, 306)  # the render shows the page as displayed


def test_rotated_page_figure_crop_is_the_photo(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    page.set_rotation(90)
    page.insert_image(pymupdf.Rect(72, 150, 272, 300), stream=photo_png())  # unrotated: 200 x 150 pt
    (fig,) = [i for i in parse_file(info_of(save(doc, tmp_path / "rot.pdf")), cfg, media).items
              if isinstance(i, Figure)]
    assert fig.bbox == BBox(x0=72, y0=150, x1=272, y1=300)
    crop = Image.open(fig.image_path).convert("L")
    assert abs(crop.size[0] - 312) <= 1 and abs(crop.size[1] - 417) <= 1  # displayed 150 x 200 pt at 150 dpi
    assert sum(crop.histogram()[246:]) < 0.05 * crop.size[0] * crop.size[1]  # the photo, not blank page


def test_ids_are_stable_across_runs(tmp_path: Path, cfg: IngestConfig) -> None:
    path, _ = table_pdf(tmp_path / "t.pdf", ROWS)
    a = parse_file(info_of(path), cfg, tmp_path / "m1")
    b = parse_file(info_of(path), cfg, tmp_path / "m2")
    assert [i.id for i in a.items] == [i.id for i in b.items]
    assert len({i.id for i in a.items}) == len(a.items)
    assert a.document.doc_id == info_of(path).sha256[:16]


def test_ids_change_with_content(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    path, _ = table_pdf(tmp_path / "t.pdf", ROWS)
    before = {i.id for i in parse_file(info_of(path), cfg, media).items}
    table_pdf(path, ROWS[:3])
    after = {i.id for i in parse_file(info_of(path), cfg, media).items}
    assert not before & after


def test_no_tmp_files_left(tmp_path: Path, media: Path) -> None:
    cfg = IngestConfig(ocr="none", page_dpi=36)
    parse_file(info_of(photo_pdf(tmp_path / "p.pdf")), cfg, media)
    names = [p.name for p in media.rglob("*")]
    assert names and not [n for n in names if n.endswith(".tmp")]


def test_layered_images_are_one_figure(tmp_path: Path, cfg: IngestConfig, media: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    for i in range(30):  # strips layered into one picture, as brochures do
        page.insert_image(pymupdf.Rect(72 + i * 5, 100, 272 + i * 5, 250), stream=photo_png(seed=i))
    doc.save(tmp_path / "layers.pdf")
    (fig,) = [i for i in parse_file(info_of(tmp_path / "layers.pdf"), cfg, media).items if isinstance(i, Figure)]
    assert fig.bbox is not None and (round(fig.bbox.x0), round(fig.bbox.x1)) == (72, 417)
