"""Benchmark the language analysis that runs on every chunk and query: Kiwi's load, keyword terms
and sentence splitting, English and Korean, against the regex code they replaced.

    PYTHONPATH=. .venv/bin/python scripts/bench_text.py                 # English pages from ../shared/eval/pdfs
    PYTHONPATH=. .venv/bin/python scripts/bench_text.py --pages 40 --repeats 7

English pages are the text of the first ``--pages`` pages of the shared evaluation PDFs; Korean pages
are generated (fixed seed) from report, minutes, manual and regulation sentences, about 2,300
characters each, the length of a dense Korean A4 page, once as written and once without the
periods that end its sentences (the splitter then needs Kiwi). Kiwi's load is timed in a fresh process.
Prints a markdown table of medians over ``--repeats`` rounds.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from ingest.text.sentences import _english, split_sentences
from ingest.text.tokens import keyword_terms

KOREAN_SENTENCES = [
    "2023년 매출액은 1,234억 원으로 전년 대비 12.5% 증가했다.",
    "영업이익은 원가 절감과 판매 호조에 힘입어 크게 개선되었습니다.",
    "정보보호관리체계 인증을 받았으며 모든 부서가 참여하였다.",
    "회의 참석자는 김철수, 이영희, 박민수이며 다음 회의는 3월 5일에 열린다.",
    "부품 번호는 HX-7720-K이며 교체 주기는 6개월이다.",
    "본 규정은 임직원의 출장 및 여비 지급에 관한 사항을 정함을 목적으로 한다.",
    "디지털 정부혁신 추진계획에 따라 각 부처는 세부 과제를 수립한다.",
    "필터를 교체하기 전에 반드시 전원을 차단하고 압력을 확인하십시오.",
]

_OLD_TOKEN = re.compile(r"\w+(?:[-./]\w+)*")
_OLD_SPLIT = re.compile(r"[-./_]+")



def old_terms(text: str) -> list[str]:
    """The ``\\w+`` keyword tokenizer before Korean analysis (stopwords aside), as the baseline."""
    norm = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for m in _OLD_TOKEN.finditer(norm):
        parts = [p for p in _OLD_SPLIT.split(m.group()) if p]
        out.extend([m.group(), *parts] if len(parts) > 1 else parts)
    return out


def english_pages(n: int) -> list[str]:
    import pymupdf

    pages: list[str] = []
    for pdf in sorted(Path("../shared/eval/pdfs").glob("*.pdf")):
        with pymupdf.open(pdf) as doc:
            pages.extend(page.get_text() for page in doc)
        if len(pages) >= n:
            break
    return [p for p in pages[:n] if p.strip()]


def korean_pages(n: int, chars: int = 2300) -> list[str]:
    rng = random.Random(0)
    pages = []
    for _ in range(n):
        text = ""
        while len(text) < chars:
            text += rng.choice(KOREAN_SENTENCES) + " "
        pages.append(text.strip())
    return pages


def median_s(fn: Callable[[str], object], pages: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for page in pages:
            fn(page)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def kiwi_load() -> tuple[float, float]:
    code = ("import time; t = time.perf_counter(); from ingest.text.hangul import kiwi; "
            "rss0 = int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]); kiwi(); "
            "rss1 = int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]); "
            "print(time.perf_counter() - t, (rss1 - rss0) / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, mb = out.stdout.split()
    return float(seconds), float(mb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    loads = [kiwi_load() for _ in range(3)]
    print(f"Kiwi load (fresh process, median of 3): {statistics.median(s for s, _ in loads):.2f} s, "
          f"RSS +{statistics.median(m for _, m in loads):.0f} MB\n")
    keyword_terms("준비")  # load once here, not inside a timing
    rows = []
    korean = korean_pages(args.pages)
    # The same pages with every sentence-final period removed: the splitter has to ask Kiwi.
    unpunctuated = [p.replace(". ", " ") for p in korean]
    for lang, pages in (("English", english_pages(args.pages)), ("Korean", korean),
                        ("Korean, no periods", unpunctuated)):
        chars = sum(len(p) for p in pages)
        for what, new, old in (("keyword terms", keyword_terms, old_terms),
                               ("sentences", split_sentences, _english)):
            t_new, t_old = median_s(new, pages, args.repeats), median_s(old, pages, args.repeats)
            rows.append((lang, what, len(pages), chars / len(pages), t_new / len(pages) * 1000,
                         t_old / len(pages) * 1000))
    print("| text | step | pages | chars/page | ms/page now | ms/page before (regex rules) |")
    print("|---|---|---:|---:|---:|---:|")
    for lang, what, n, cpp, now, before in rows:
        print(f"| {lang} | {what} | {n} | {cpp:.0f} | {now:.2f} | {before:.2f} |")


if __name__ == "__main__":
    main()
