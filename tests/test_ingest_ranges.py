"""A long PDF whose page ranges are parsed by two workers (``ingest.parse_ranges``) makes exactly
the index a one-process parse makes: the same points, items and vectors, one file in the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ingest.parse_ranges import RANGE_PAGES
from rag.pipeline import Pipeline
from tests.pdfs import write_report

PAGES = 2 * RANGE_PAGES + 12  # the first worker's range and two shared ones


def _index(docs: Path, index: Path, workers: int) -> tuple[int, dict[str, tuple[dict[str, Any], np.ndarray]]]:
    over: dict[str, Any] = {"store.path": str(index), "ingest.ocr": "none", "ingest.page_dpi": 36,
                            "ingest.workers": workers, "embed.cache": False}
    if workers == 1:
        over["ingest.file_timeout_s"] = None  # parsed in this process: nothing to share
    with Pipeline.from_config("cpu", over, environ={}) as p:
        report = p.ingest([docs], progress=False)
        store: Any = p.store
        out = {}
        for batch in store.scroll_points():
            for pt in batch:
                item = pt.item.model_dump()
                if item.get("image_path"):
                    item["image_path"] = Path(item["image_path"]).name  # the media folders differ
                out[pt.id] = (item, np.asarray(pt.vector))
    return report.files_ingested, out


def test_a_pdf_shared_by_two_workers_indexes_as_one_parsed_alone(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_report(docs / "long.pdf", {p: f"Depot shipped {100 + p} pumps in week {p}." for p in range(1, PAGES + 1)},
                 title="Depot weekly")
    n_shared, shared = _index(docs, tmp_path / "a", workers=2)
    n_alone, alone = _index(docs, tmp_path / "b", workers=1)
    assert n_shared == n_alone == 1
    assert set(shared) == set(alone) and len(shared) >= 2 * PAGES  # a chunk and a page item a page
    assert all(shared[k][0] == alone[k][0] for k in alone)  # items: ids, texts, pages, chunk order
    assert min(float(shared[k][1] @ alone[k][1]) for k in alone) > 0.9999
