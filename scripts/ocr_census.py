"""Which pages and figures of a folder are OCR'd, and what each OCR costs (CPU seconds of Tesseract).

Every PDF is parsed in this process with the profile's ingest settings (``--profile``, default
``cpu``), but through a recording OCR engine: each call is timed (CPU seconds of the Tesseract
children, ``getrusage``, and wall) and its input PNG, page and kind (``page``: a page without a
usable text layer; ``figure``: a raster figure's crop) are written under ``--out`` with the text
recognised, so the candidates of ``scripts/ocr_candidates.py`` run on the very same images. Tables
and page renders are turned off (neither changes which pages or figures are OCR'd) to save time.

    PYTHONPATH=$PWD .venv/bin/python scripts/ocr_census.py --docs ../shared/eval/pdfs --out /tmp/census
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _kids_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Recorder:
    """An OCR engine that runs Tesseract and records every call (image, kind, seconds, text)."""

    name = "census"
    reports_confidence = True  # as the Tesseract engine it wraps: the first pass runs as in an ingest

    def __init__(self) -> None:
        from ingest.ocr import TesseractOcr

        self.inner = TesseractOcr()
        self.out: Path | None = None
        self.file = ""
        self.rows: list[dict[str, object]] = []

    def ocr_lines(self, png: bytes, languages: str) -> list:  # type: ignore[type-arg]
        from ingest.ocr import text_of
        from ingest.pdf_pixels import _words_only

        caller = sys._getframe(1)
        while caller.f_back is not None and caller.f_code.co_name not in ("_ocr_page", "_render_pending"):
            caller = caller.f_back  # past ingest.ocr.recognise
        kind = "page" if caller.f_code.co_name == "_ocr_page" else "figure"
        page = caller.f_locals.get("page")
        pno = page.number + 1 if page is not None else 0
        c0, t0 = _kids_cpu(), time.perf_counter()
        lines = self.inner.ocr_lines(png, languages)
        cpu, wall = _kids_cpu() - c0, time.perf_counter() - t0
        text = text_of(lines)
        assert self.out is not None
        name = f"{len(self.rows):05d}-{kind}.png"
        (self.out / name).write_bytes(png)
        bbox = list(caller.f_locals["p"].bbox) if kind == "figure" else None
        self.rows.append({"png": name, "file": self.file, "page": pno, "kind": kind, "bbox": bbox,
                          "languages": languages,
                          "bytes": len(png), "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
                          "chars": len("".join(text.split())), "hangul": len(HANGUL.findall(text)),
                          "kept": bool(_words_only(text)) if kind == "figure" else bool(text.strip()),
                          "text": text})
        return lines


_RECORDER: list[Recorder] = []


def get_recorder() -> Recorder:
    """The one recorder of this run (the OCR registry's factory)."""
    if not _RECORDER:
        _RECORDER.append(Recorder())
    return _RECORDER[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, nargs="+", required=True, help="folders or PDFs")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args(argv)
    from ingest.discover import discover
    from ingest.ocr import OCR_ENGINES
    from ingest.parse import parse_parts
    from rag.config import load_settings

    recorder = get_recorder()
    OCR_ENGINES.register("census", "__main__:get_recorder")  # this script's module
    args.out.mkdir(parents=True, exist_ok=True)
    recorder.out = args.out
    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cfg = load_settings(args.profile, {"ingest.workers": 1, "ingest.file_timeout_s": None, "ingest.ocr": "census",
                                       "ingest.tables": False, "ingest.render_pages": False}, environ={}).ingest
    found = discover(args.docs, cfg)
    per_file: list[tuple[str, int, float, float]] = []
    pages_total = 0
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ocr-census-") as tmp:
        for info in found.files:
            recorder.file = Path(info.path).name
            t0 = time.perf_counter()
            pages = sum(part.pages for part in parse_parts(info, cfg, Path(tmp)))
            pages_total += pages
            per_file.append((recorder.file, pages, time.perf_counter() - t0,
                             sum(float(r["cpu_s"]) for r in recorder.rows if r["file"] == recorder.file)))
            print(f"{recorder.file[:50]:50s} {pages:5d} pages {per_file[-1][2]:7.1f} s, "
                  f"OCR CPU {per_file[-1][3]:6.1f} s", flush=True)
    (args.out / "calls.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recorder.rows))
    print(f"\n{len(found.files)} files, {pages_total} pages, parse {time.perf_counter() - t_all:.0f} s wall "
          "(tables and page renders off)")
    print("\n| kind | calls | files | text kept | with Hangul | OCR CPU s | CPU s per call | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in ("page", "figure"):
        rows = [r for r in recorder.rows if r["kind"] == kind]
        cpu = sum(float(r["cpu_s"]) for r in rows)
        print(f"| {kind} | {len(rows)} | {len({r['file'] for r in rows})} | {sum(1 for r in rows if r['kept'])} | "
              f"{sum(1 for r in rows if int(r['hangul']) > 0)} | {cpu:.1f} | {cpu / max(len(rows), 1):.3f} | "
              f"{sum(float(r['wall_s']) for r in rows):.1f} |")
    print("\n| file | pages | page OCRs | figure OCRs | OCR CPU s |\n|---|---:|---:|---:|---:|")
    for name, pages, _, cpu in per_file:
        rows = [r for r in recorder.rows if r["file"] == name]
        if rows:
            print(f"| {name[:50]} | {pages} | {sum(1 for r in rows if r['kind'] == 'page')} | "
                  f"{sum(1 for r in rows if r['kind'] == 'figure')} | {cpu:.1f} |")
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
