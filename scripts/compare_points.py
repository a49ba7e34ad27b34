"""Ingest files with this checkout into a fresh index and compare its points with the same files'
points in an index built by other code (e.g. main): ids, payload items (image paths by file name:
the media folders differ), keyword vectors, and the smallest dense cosine.

    PYTHONPATH=. .venv/bin/python scripts/compare_points.py REF_INDEX a.pdf b.pdf [--fresh DIR]

REF_INDEX is only read (Qdrant Edge locks its folder: point at a copy when another process holds it).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from rag.pipeline import Pipeline
from rag.records import Point


def _points(index: str, files: list[Path], ingest: bool) -> dict[str, Point]:
    wanted = {str(f) for f in files}
    out: dict[str, Point] = {}
    with Pipeline.from_config("cpu", {"store.path": index}, environ={}) as pipe:
        if ingest:
            report = pipe.ingest(files, progress=False)
            print(f"ingested {report.files_ingested} files, {report.pages} pages in {report.seconds:.1f} s")
        store: Any = pipe.store  # EdgeStore.scroll_points
        for batch in store.scroll_points():
            out.update({p.id: p for p in batch if p.item.file in wanted})
    return out


def _item(p: Point) -> dict[str, Any]:
    d = p.item.model_dump()
    if d.get("image_path"):
        d["image_path"] = Path(d["image_path"]).name
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference", help="index folder built by the other code")
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--fresh", default="/tmp/compare-points-ix", help="index folder for this code (emptied)")
    args = ap.parse_args(argv)
    files = [f.resolve() for f in args.files]
    shutil.rmtree(args.fresh, ignore_errors=True)
    new = _points(args.fresh, files, ingest=True)
    old = _points(args.reference, files, ingest=False)
    print(f"points: this code {len(new)}, reference {len(old)}, same ids: {set(new) == set(old)}")
    worst, items, sparse = 1.0, 0, 0
    for pid in set(new) & set(old):
        a, b = new[pid], old[pid]
        items += _item(a) != _item(b)
        sparse += a.sparse != b.sparse
        va, vb = np.asarray(a.vector), np.asarray(b.vector)
        worst = min(worst, float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb))))
    print(f"items differing: {items}; keyword vectors differing: {sparse}; smallest dense cosine: {worst:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
