"""Cheaper OCR candidates against today's (``kor+eng`` at 200 dpi): CPU seconds and how the text changes.

Two sets of images, each OCR'd with every variant (language set × DPI) by the real Tesseract
(``ingest.ocr.TesseractOcr``, one thread, the ingest's own call), CPU seconds from ``getrusage``:

- ``census``: the OCR calls ``scripts/ocr_census.py`` recorded on a folder (its ``calls.jsonl``),
  re-rendered from the PDFs in ``--docs`` (pages whole, figures by their box) at each DPI: the
  pages and figures an ingest really OCRs. Compared with the ``kor+eng`` 200-dpi text (agreement).
- ``scans``: text-layer pages of ``--gt-docs`` made into scans (rendered at 300 dpi in grey,
  turned 0.4°, blurred, speckled, JPEG-compressed, then put alone into an image-only page and
  rendered for OCR as the ingest renders a scan): the text layer is the ground truth, so each
  variant is scored against it as well as against today's output.

Agreement: ``chars``, difflib's ratio of the two texts without whitespace (1.0: identical);
``words``, the F1 of the two multisets of words (case-folded, punctuation stripped). Raw outputs
(``tsv``, ``txt``) are cached under ``--out`` so policies (``--policy``) are scored without
running Tesseract again.

    PYTHONPATH=$PWD .venv/bin/python scripts/ocr_candidates.py --census /tmp/census --docs ../shared/eval/pdfs \
        --gt-docs a.pdf:1-5 b.pdf --out /tmp/cand
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import random
import re
import resource
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

VARIANTS = [("kor+eng", 200), ("eng", 200), ("kor", 200), ("kor+eng", 150), ("eng", 150)]
BASE = ("kor+eng", 200)
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _kids_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def chars_agreement(a: str, b: str) -> float:
    """difflib ratio of ``a`` and ``b`` with whitespace removed (1.0 when both are empty)."""
    x, y = "".join(a.split()), "".join(b.split())
    if not x and not y:
        return 1.0
    return difflib.SequenceMatcher(None, x, y, autojunk=False).ratio()


def _words(text: str) -> Counter[str]:
    return Counter(w for w in (re.sub(r"^\W+|\W+$", "", t).casefold() for t in text.split()) if w)


def words_f1(a: str, b: str) -> float:
    """F1 of the multisets of words of ``a`` and ``b`` (1.0 when both are empty)."""
    x, y = _words(a), _words(b)
    if not x and not y:
        return 1.0
    common = sum((x & y).values())
    return 2 * common / (sum(x.values()) + sum(y.values()))


@dataclass
class Image:
    """One image to OCR: where it comes from and, for scans, the true text."""

    key: str
    kind: str  # census page, census figure, scan
    lang: str  # "ko" when the true or today's text holds Hangul, else "en"
    pngs: dict[int, bytes]  # dpi -> PNG
    truth: str | None = None


def _scan(page: object, dpi: int, seed: int) -> dict[int, bytes]:
    """``page`` as a scanner would see it, then rendered for OCR at each DPI of ``VARIANTS``."""
    import numpy as np
    import pymupdf
    from PIL import Image as PILImage
    from PIL import ImageFilter

    assert isinstance(page, pymupdf.Page)
    pix = page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY, alpha=False)
    img = PILImage.frombytes("L", (pix.width, pix.height), pix.samples)
    img = img.rotate(0.4, resample=PILImage.Resampling.BILINEAR, fillcolor=255).filter(ImageFilter.GaussianBlur(0.7))
    arr = np.asarray(img).astype(np.int16)
    rng = np.random.default_rng(seed)
    arr = np.clip(arr + rng.normal(0, 12, arr.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="JPEG", quality=70)
    doc = pymupdf.open()
    scan = doc.new_page(width=page.rect.width, height=page.rect.height)
    scan.insert_image(scan.rect, stream=buf.getvalue())
    return {d: scan.get_pixmap(dpi=d, alpha=False).tobytes("png") for d in sorted({v[1] for v in VARIANTS})}


def scan_images(specs: list[str]) -> list[Image]:
    """``path[:first-last]`` specs → scans of those pages (all pages without a range)."""
    import pymupdf

    out: list[Image] = []
    for spec in specs:
        path, _, pages = spec.partition(":")
        doc = pymupdf.open(path)
        if pages:
            first, _, last = pages.partition("-")
            numbers = range(int(first), int(last or first) + 1)
        else:
            numbers = range(1, doc.page_count + 1)
        for pno in numbers:
            page = doc.load_page(pno - 1)
            truth = page.get_text()
            if len(truth.split()) < 20:
                continue
            out.append(Image(f"scan:{Path(path).name}:{pno}", "scan", "ko" if HANGUL.search(truth) else "en",
                             _scan(page, 300, pno), truth))
    return out


def census_images(census: Path, docs: Path, limit: int, seed: int) -> list[Image]:
    """The census's OCR calls, re-rendered at each DPI (at most ``limit`` of each kind, sampled)."""
    import pymupdf

    rows = [json.loads(line) for line in (census / "calls.jsonl").read_text().splitlines()]
    rng = random.Random(seed)
    picked: list[dict[str, object]] = []
    for kind in ("page", "figure"):
        of_kind = [r for r in rows if r["kind"] == kind]
        picked += sorted(rng.sample(of_kind, min(limit, len(of_kind))), key=lambda r: str(r["png"]))
    out: list[Image] = []
    opened: dict[str, pymupdf.Document] = {}
    for r in picked:
        name = str(r["file"])
        doc = opened.setdefault(name, pymupdf.open(docs / name))
        page = doc.load_page(int(str(r["page"])) - 1)
        clip = None
        if r["bbox"]:
            clip = pymupdf.Rect(r["bbox"]) * page.rotation_matrix
        dpis = sorted({v[1] for v in VARIANTS})
        pngs = {d: page.get_pixmap(dpi=d, clip=clip, alpha=False).tobytes("png") for d in dpis}
        out.append(Image(f"census:{r['png']}", f"census {r['kind']}", "ko" if int(str(r["hangul"])) else "en", pngs))
    return out


def run_variants(images: list[Image], out: Path) -> dict[str, dict[str, dict[str, object]]]:
    """Every variant on every image: {key: {"langs@dpi": {"cpu": s, "tsv": ..., "txt": ..., "text": ...}}}."""
    from ingest.ocr import TesseractOcr, parse_tsv, text_of

    cache_path = out / "runs.json"
    cache: dict[str, dict[str, dict[str, object]]] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    engine = TesseractOcr()
    for n, im in enumerate(images):
        runs = cache.setdefault(im.key, {})
        for langs, dpi in VARIANTS:
            name = f"{langs}@{dpi}"
            if name in runs:
                continue
            c0 = _kids_cpu()
            result = engine._run(im.pngs[dpi], langs, 3)
            cpu = _kids_cpu() - c0
            tsv, txt = result or ("", "")
            runs[name] = {"cpu": round(cpu, 3), "tsv": tsv, "txt": txt, "text": text_of(parse_tsv(tsv, txt))}
        if n % 10 == 9:
            cache_path.write_text(json.dumps(cache, ensure_ascii=False))
            print(f"  {n + 1}/{len(images)} images", flush=True)
    cache_path.write_text(json.dumps(cache, ensure_ascii=False))
    return cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--census", type=Path, help="a folder written by scripts/ocr_census.py")
    parser.add_argument("--docs", type=Path, help="the folder the census was taken on")
    parser.add_argument("--limit", type=int, default=40, help="census calls of each kind (sampled)")
    parser.add_argument("--gt-docs", nargs="*", default=[], help="PDF[:first-last] with a text layer, made into scans")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    images = scan_images(args.gt_docs)
    if args.census:
        images += census_images(args.census, args.docs, args.limit, args.seed)
    runs = run_variants(images, args.out)
    meta = [{"key": im.key, "kind": im.kind, "lang": im.lang, "truth": im.truth} for im in images]
    (args.out / "images.json").write_text(json.dumps(meta, ensure_ascii=False))
    report(meta, runs)
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def report(meta: list[dict[str, object]], runs: dict[str, dict[str, dict[str, object]]]) -> None:
    """Per group (kind × language) and variant: CPU s per image, agreement with today's, accuracy."""
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for m in meta:
        groups.setdefault((str(m["kind"]), str(m["lang"])), []).append(m)
    base = f"{BASE[0]}@{BASE[1]}"
    print("\n| images | n | variant | CPU s / image | vs today | chars vs today | words vs today "
          "| chars vs truth | words vs truth |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for (kind, lang), ms in sorted(groups.items()):
        base_cpu = sum(float(str(runs[str(m["key"])][base]["cpu"])) for m in ms)
        for langs, dpi in VARIANTS:
            name = f"{langs}@{dpi}"
            cpu = sum(float(str(runs[str(m["key"])][name]["cpu"])) for m in ms)
            texts = [(str(runs[str(m["key"])][name]["text"]), str(runs[str(m["key"])][base]["text"])) for m in ms]
            vs = [(chars_agreement(a, b), words_f1(a, b)) for a, b in texts]
            truth = [(chars_agreement(a, str(m["truth"])), words_f1(a, str(m["truth"])))
                     for (a, _), m in zip(texts, ms, strict=True) if m["truth"]]
            t = (f"{sum(a for a, _ in truth) / len(truth):.3f} | {sum(b for _, b in truth) / len(truth):.3f}"
                 if truth else " | ")
            print(f"| {kind} {lang} | {len(ms)} | {name} | {cpu / len(ms):.2f} | {cpu / max(base_cpu, 1e-9):.2f} | "
                  f"{sum(a for a, _ in vs) / len(ms):.3f} | {sum(b for _, b in vs) / len(ms):.3f} | {t} |")


if __name__ == "__main__":
    sys.exit(main())
