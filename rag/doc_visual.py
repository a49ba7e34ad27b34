"""Pictures in the whole folder: which questions ask what a picture shows, and which files are
made of pictures, read from what the index already stores.

A whole-folder question such as "How many people with scarf are there in Page 5?" or "How many
women in total are there in the slides?" names nothing of its file: every file has a page 5, and
without an image model (the ``cpu`` profile embeds figures and pages through their bridge text)
nothing in the index says "scarf" or "woman". What the index does know is which files hold
photographs: a page render is a lossless PNG, and a PNG of a photograph is several times larger per
pixel than one of text, tables or flat charts (continuous tone does not compress; dev split,
PyMuPDF renders: text and chart pages 0.05-0.4 bytes per pixel, pages with a photograph
0.55-2.5). The file size is one ``stat`` per page render, no decoding.

* :func:`asks_what_pictures_show`: the question asks about people, animals, cars or buildings
  *seen* in a picture ("people ... in the figure", "dogs and cats in page 17", "women in the
  slides", "사진 속 인물"), not about people as a statistic ("the percentage of people who voted",
  "how many people in India use a debit card").
* :func:`picture_share`: the share of a file's page renders that hold a picture
  (:data:`PICTURE_BPP`).
* :func:`picture_factors`: for such a question, files with almost no pictures
  (:data:`PICTURE_SHARE`) have their document prior scaled by :data:`PICTURE_FACTOR`, when the
  folder holds a file of pictures at all (as :func:`rag.doc_stage.kind_factors` does for kinds).

Fitted on the dev split with five folds over documents (docs/eval.md, photo18).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

import numpy as np

PICTURE_BPP = 0.55
"""A page render holds a picture (a photograph, a scanned image) when its PNG takes at least this
many bytes per pixel (of ``width * height`` as the page item stores them). Dev split: the 4,522
page renders of 44 files at 72 dpi; papers, filings and manuals stay under 0.5 on every page,
most pages with the photographs the dev questions ask about are 0.56-1.9. Measured for renders at
72-96 dpi (the ``cpu`` and default ``ingest.page_dpi``): at 36 dpi text pages reach 0.44, at 150
dpi a photograph of low resolution upsamples smoothly and can fall under it."""
PICTURE_SHARE = 0.1
"""A file counts as one with pictures when at least this share of its page renders hold one
(dev split: 0.1 chosen on every fold, 0.05 and 0.2 also tried)."""
PICTURE_FACTOR = 0.5
"""A question about what pictures show scales the prior of files without pictures by this, when
the folder holds a file with pictures (:func:`picture_factors`)."""

_DEPICTED = re.compile(
    r"\b(?:people|persons?|humans?|men|women|man|woman|males?|females?|boys?|girls?|child(?:ren)?|kids?"
    r"|faces?|dogs?|cats?|animals?|birds?|horses?|cars?|vehicles?|bicycles?|bikes?|buildings?|trees?)\b"
    r"|사람|인물|남성|여성|남자|여자|어린이|아이들|동물|강아지|고양이|자동차|차량|건물|얼굴", re.IGNORECASE)
_PICTURE = re.compile(r"\b(?:pictures?|photos?|photographs?|images?|cover)\b|사진|이미지|표지", re.IGNORECASE)
_COUNT = re.compile(r"\bmany\b|\bnumber of\b|\bcount\b|몇 ?(?:명|마리|대|채)", re.IGNORECASE)
_WHERE = re.compile(r"\b(?:figures?|pages?|slides?|pictures?|photos?|images?)\b|쪽|페이지|슬라이드|그림",
                    re.IGNORECASE)
_STATISTIC = re.compile(r"%|\b(?:percent(?:age)?|share|proportion|rate|survey(?:ed)?|respondents?|polls?)\b"
                        r"|비율|설문|응답", re.IGNORECASE)


def asks_what_pictures_show(question: str) -> bool:
    """Whether a question asks about people, animals or things seen in a picture: it names one and
    either a picture ("photo", "image", "cover", 사진) or a count with a place to look ("how many
    ... in the figure / on page 6 / in the slides"), and it is not about people as a statistic
    (a percentage, a survey)."""
    if not _DEPICTED.search(question) or _STATISTIC.search(question):
        return False
    return bool(_PICTURE.search(question) or (_COUNT.search(question) and _WHERE.search(question)))


def render_has_picture(path: str, width: int, height: int, bpp: float = PICTURE_BPP) -> bool | None:
    """Whether one page render holds a picture (its PNG's bytes per pixel, see :data:`PICTURE_BPP`);
    None when it cannot say (no such file, not a PNG, no size)."""
    if width <= 0 or height <= 0 or not path.lower().endswith(".png"):
        return None
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    return size >= bpp * width * height


def picture_share(renders: Iterable[tuple[str, int, int]], bpp: float = PICTURE_BPP) -> float | None:
    """The share of a file's page renders ``(image path, width, height)`` that hold a picture;
    None when none of them can be read (another format, media moved away)."""
    seen = [v for v in (render_has_picture(p, w, h, bpp) for p, w, h in renders) if v is not None]
    return sum(seen) / len(seen) if seen else None


def picture_factors(question: str, shares: Sequence[float | None], factor: float = PICTURE_FACTOR,
                    least: float = PICTURE_SHARE) -> np.ndarray:
    """Per file, 1 or ``factor``: ``factor`` for files whose picture share is known and under
    ``least`` when the question asks what pictures show and some file reaches ``least``; all 1
    otherwise (shape (n,))."""
    out = np.ones(len(shares), dtype=np.float64)
    if not asks_what_pictures_show(question):
        return out
    has = np.array([s is not None and s >= least for s in shares], dtype=bool)
    without = np.array([s is not None and s < least for s in shares], dtype=bool)
    if has.any():
        out[without] = factor
    return out


PICTURE_WEIGHT = 0.25
"""For a question about what pictures show, the picture share (over the folder's best) joins the
document prior with this weight: ``(1 - w) * prior + w * share / best share`` (:func:`picture_prior`; dev
split: 0.25 chosen on four of five folds over documents, 0 on the fifth; 0.5 and 0.75 also tried)."""


def picture_prior(question: str, prior: np.ndarray, shares: Sequence[float | None],
                  weight: float = PICTURE_WEIGHT, factor: float = PICTURE_FACTOR,
                  least: float = PICTURE_SHARE) -> np.ndarray:
    """The document prior (shape (n,)) for a question about what pictures show: blended with the
    files' picture shares over the best one (files of unknown share keep their prior's value for
    it), then files without pictures scaled by :func:`picture_factors`; ``prior`` unchanged for any
    other question or when no file reaches ``least``."""
    if not asks_what_pictures_show(question):
        return prior
    known = np.array([s is not None for s in shares], dtype=bool)
    v = np.array([s if s is not None else 0.0 for s in shares], dtype=np.float64)
    best = float(v.max()) if v.size else 0.0
    if best < least:
        return prior
    rel = np.where(known, v / best, prior)
    out = (1.0 - weight) * prior + weight * rel
    return out * picture_factors(question, shares, factor, least)
