"""Items -> points: choose what each item is embedded from, embed in batches, attach keyword vectors.

A point's id is its item's id scoped to the tenant (:func:`tenant_item_id`): the same file ingested
by two tenants gives two sets of points, so one tenant's upsert never overwrites (and retags) the
other's.

The steps are also exposed one by one (:func:`split_items`, :func:`plan_texts`,
:func:`make_points`) for the ingest's cross-file batching (:mod:`rag.cross_batch`), which embeds the
items of many files together and builds each file's points once all its vectors are in.

**Page vectors** (``embed.page_vector``, issue 14). A text-layer page's page item carries the page's
whole text as its bridge text, which is already embedded as that page's chunks: a third of the
tokens of an ingest. :class:`PageVectorRule` says how its dense vector is made instead: ``text``
(its text, cut to the model window), ``window`` (its first ``embed.page_tokens`` tokens) or
``chunks`` (the normalised mean of the vectors of that page's own text chunks and tables: no model
call). Image-only pages (their text is OCR, ``PageImage.ocr``) and pages with no chunk or table keep
their text. Each point records how its vector was made (``Point.embedded_as``: ``text``,
``text:<N>``, ``chunks`` or ``image``) and the manifest records the rule per file
(:attr:`PageVectorRule.recipe`), so a change of rule re-embeds the files instead of mixing vectors.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from PIL import Image

from ingest.errors import IngestError
from ingest.records import IMAGE_KINDS, Item, image_path_of
from rag.config import EmbedConfig
from rag.embed.base import Embedder
from rag.records import Point
from rag.store.sparse import encode_sparse

log = logging.getLogger(__name__)

_TENANT_NAMESPACE = uuid.UUID("0b6d3c52-5a0e-4a51-8f39-74656e616e74")

CHARS_PER_TOKEN = 6
"""Non-space characters allowed per token of the model's window before a text is cut. A token
covers at least one non-space character and rarely more than five (English wordpieces average ~4,
Korean ~1-2), so the cut only drops text the model's own truncation would drop anyway."""
DEFAULT_MAX_TOKENS = 512
"""The window assumed when the embedder does not say (``max_tokens``): the largest of the shipped
text models (multilingual-e5-small); MiniLM's is 256, so this cut is conservative for it."""


def tenant_item_id(item_id: str, tenant: str) -> str:
    """The point id of item ``item_id`` ingested by ``tenant``: stable (same item, same tenant,
    same id), different for every tenant."""
    return str(uuid.uuid5(_TENANT_NAMESPACE, f"{tenant}\x00{item_id}"))


def load_image(path: str) -> Image.Image:
    """An item's image file as RGB (read fully, the file closed)."""
    with Image.open(path) as im:
        return im.convert("RGB")


def max_tokens_of(embedder: Embedder) -> int:
    """The embedder's input window in tokens: its ``max_tokens`` attribute (looked up through
    wrappers such as the cache), a sentence-transformers model's ``max_seq_length``, else
    :data:`DEFAULT_MAX_TOKENS`."""
    seen: Embedder | None = embedder
    while seen is not None:
        value = getattr(seen, "max_tokens", None)
        if isinstance(value, int) and value > 0:
            return value
        model = getattr(seen, "_model", None)  # SentenceTransformerEmbedder: no public accessor yet
        value = getattr(model, "max_seq_length", None)
        if isinstance(value, int) and value > 0:
            return value
        seen = getattr(seen, "inner", None)
    return DEFAULT_MAX_TOKENS


def cut_for_window(text: str, max_tokens: int) -> str:
    """``text`` cut after ``CHARS_PER_TOKEN * max_tokens`` non-space characters: a page's bridge
    text can be tens of thousands of characters, which the tokenizer would tokenise in full only
    for the model to keep its first ``max_tokens`` tokens."""
    budget = CHARS_PER_TOKEN * max_tokens
    if len(text) <= budget:  # cheap common case: short enough even counting spaces
        return text
    return _cut_after_nonspace(text, budget)


def _cut_after_nonspace(text: str, budget: int) -> str:
    """``text`` cut just after its first ``budget`` non-space characters (whole when it has fewer)."""
    seen = 0
    for i, ch in enumerate(text):
        if not ch.isspace():
            seen += 1
            if seen > budget:
                return text[:i]
    return text


def embed_text_of(item: Item, max_tokens: int) -> str:
    """What ``item`` is embedded from when embedded as text (the stored text stays whole)."""
    return cut_for_window(item.text, max_tokens)


PageVector = Literal["text", "window", "chunks"]
TokenHead = Callable[[str, int], str]
"""``head(text, n)``: the start of ``text`` holding its first ``n`` tokens (``text`` itself when it
has no more)."""
APPROX_CHARS_PER_TOKEN = 4
"""Non-space characters per token assumed by :func:`approx_head` (English wordpieces average ~4)."""
MEMBER_KINDS = frozenset({"text", "table"})
"""Items whose vectors a ``chunks`` page vector averages: the page item's text is the page's prose
and its tables' text (``ingest.page_item_text``), embedded as these."""


@dataclass(frozen=True)
class PageVectorRule:
    """How the dense vector of a text-embedded page item is made (``embed.page_vector`` and
    ``embed.page_tokens``; see the module doc)."""

    mode: PageVector = "text"
    tokens: int = 256
    """``window``: tokens of the page's text embedded (the model's window still applies)."""

    @property
    def recipe(self) -> str:
        """The rule as the manifest records it: ``text``, ``window:<N>`` or ``chunks``."""
        return f"window:{self.tokens}" if self.mode == "window" else self.mode


WHOLE_TEXT = PageVectorRule()
"""The default rule: page items embedded from their text (what every index held before the rule)."""


def page_vector_rule(cfg: EmbedConfig) -> PageVectorRule:
    """The rule an ``embed`` section configures."""
    return PageVectorRule(cfg.page_vector, cfg.page_tokens)


def approx_head(text: str, tokens: int) -> str:
    """A :data:`TokenHead` for embedders without a tokenizer to ask: the text cut after
    :data:`APPROX_CHARS_PER_TOKEN` non-space characters a token."""
    return _cut_after_nonspace(text, APPROX_CHARS_PER_TOKEN * tokens)


def token_head_of(embedder: Embedder) -> TokenHead:
    """The embedder's own ``head_tokens(text, n)`` (looked up through wrappers such as the cache),
    else :func:`approx_head`."""
    seen: object = embedder
    while seen is not None:
        head = getattr(seen, "head_tokens", None)
        if callable(head):
            return head
        seen = getattr(seen, "inner", None)
    return approx_head


@dataclass
class TextPlan:
    """What each text-embedded item of one file (or part) gets its vector from: ``texts[i]`` is the
    text to embed, or None when item ``i``'s vector is the normalised mean of the vectors of the
    items ``members[i]`` (indexes into the same list); ``embedded_as[i]`` is what its point records."""

    texts: list[str | None] = field(default_factory=list)
    members: dict[int, list[int]] = field(default_factory=dict)
    embedded_as: list[str] = field(default_factory=list)


def plan_texts(as_text: Sequence[Item], window: int, rule: PageVectorRule = WHOLE_TEXT,
               head: TokenHead = approx_head) -> TextPlan:
    """The :class:`TextPlan` of ``as_text`` (text-embedded items of whole pages: a page's chunks and
    its page item come together, as in a file or a :class:`~ingest.parts.FilePart`) under ``rule``;
    ``window``: the model's window in tokens, ``head``: the embedder's token cut."""
    members: dict[tuple[str, int], list[int]] = {}
    if rule.mode == "chunks":
        for i, it in enumerate(as_text):
            if it.kind in MEMBER_KINDS:
                members.setdefault((it.file, it.page), []).append(i)
    plan = TextPlan()
    for i, it in enumerate(as_text):
        text: str | None = embed_text_of(it, window)
        how = "text"
        if it.kind == "page" and not getattr(it, "ocr", False):
            if rule.mode == "window" and rule.tokens < window:
                text, how = head(text or "", rule.tokens), f"text:{rule.tokens}"
            elif rule.mode == "chunks" and (own := members.get((it.file, it.page))):
                plan.members[i] = own
                text, how = None, "chunks"
        plan.texts.append(text)
        plan.embedded_as.append(how)
    return plan


def mean_vector(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """The L2-normalised mean of (normalised) vectors of shape (dim,): a ``chunks`` page vector."""
    total = np.sum(np.stack([np.asarray(v, dtype=np.float32) for v in vectors]), axis=0)  # (dim,)
    norm = float(np.linalg.norm(total))
    return (total / norm if norm > 1e-12 else total).astype(np.float32)


def embed_planned(plan: TextPlan, embed: Callable[[list[str]], np.ndarray], dim: int) -> list[np.ndarray]:
    """The vector of every item of ``plan``: its texts embedded in one call, then the means."""
    todo = [i for i, t in enumerate(plan.texts) if t is not None]
    vecs: list[np.ndarray | None] = [None] * len(plan.texts)
    if todo:
        for i, v in zip(todo, embed([plan.texts[i] or "" for i in todo]), strict=True):
            vecs[i] = v
    for i, own in plan.members.items():
        vecs[i] = mean_vector([v for v in (vecs[j] for j in own) if v is not None])
    return [v if v is not None else np.zeros(dim, dtype=np.float32) for v in vecs]


def split_items(items: Sequence[Item], embedder: Embedder) -> tuple[list[Item], list[Item]]:
    """``(as_text, as_image)``: figures and page renders go in as images when the embedder has an
    image space; otherwise (and for text-only items) their text is embedded: for images that is the
    bridge text (caption, OCR, nearby text). Items with nothing to embed are left out."""
    as_image: list[Item] = []
    as_text: list[Item] = []
    for item in items:
        if item.kind in IMAGE_KINDS and embedder.embeds_images and image_path_of(item):
            as_image.append(item)
        elif item.text.strip():
            as_text.append(item)
    return as_text, as_image


def load_item_image(item: Item) -> Image.Image:
    """The image an image-embedded item points at; ``IngestError`` naming the file when unreadable."""
    path = image_path_of(item) or ""
    try:
        return load_image(path)
    except OSError as exc:
        raise IngestError(item.file, "image file unreadable", f"{path}: {exc}") from exc


def make_points(as_text: Sequence[Item], text_vecs: Sequence[np.ndarray], as_image: Sequence[Item],
                image_vecs: Sequence[np.ndarray], *, tenant: str = "default", tags: Sequence[str] = (),
                modified: datetime | None = None, created: datetime | None = None,
                text_embedded_as: Sequence[str] | None = None) -> list[Point]:
    """The points of one file from its items and their vectors (rows of shape (dim,)): text points
    first, then image points. ``text_embedded_as``: what each text point records (its
    :class:`TextPlan`'s; None: ``text`` for all)."""
    how = list(text_embedded_as) if text_embedded_as is not None else ["text"] * len(as_text)
    return ([_point(it, np.asarray(v).tolist(), h, tenant, tags, modified, created)
             for it, v, h in zip(as_text, text_vecs, how, strict=True)]
            + [_point(it, np.asarray(v).tolist(), "image", tenant, tags, modified, created)
               for it, v in zip(as_image, image_vecs, strict=True)])


def items_to_points(items: Sequence[Item], embedder: Embedder, *, tenant: str = "default",
                    tags: Sequence[str] = (), modified: datetime | None = None,
                    created: datetime | None = None, page_vector: PageVectorRule = WHOLE_TEXT) -> list[Point]:
    """Embed ``items`` (one file's) into points (``modified``/``created``: the source document's
    dates, for date-range filters). See :func:`split_items` for what is embedded from what and
    :class:`PageVectorRule` for the page items."""
    as_text, as_image = split_items(items, embedder)
    plan = plan_texts(as_text, max_tokens_of(embedder), page_vector, token_head_of(embedder))
    text_vecs = embed_planned(plan, embedder.embed_texts, embedder.dim)  # n_text rows of (dim,)
    image_vecs = (embedder.embed_images([load_item_image(it) for it in as_image]) if as_image
                  else np.zeros((0, embedder.dim), dtype=np.float32))  # (n_image, dim)
    return make_points(as_text, text_vecs, as_image, list(image_vecs), tenant=tenant, tags=tags,
                       modified=modified, created=created, text_embedded_as=plan.embedded_as)


def _point(item: Item, vector: list[float], embedded_as: str, tenant: str,
           tags: Sequence[str], modified: datetime | None, created: datetime | None) -> Point:
    pid = tenant_item_id(item.id, tenant)
    item = item.model_copy(update={"id": pid})  # the item as stored names the point it is
    return Point(id=pid, vector=vector, sparse=encode_sparse(item.text), item=item,
                 embedded_as=embedded_as, tenant=tenant, tags=list(tags), modified=modified, created=created)
