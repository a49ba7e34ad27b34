"""Items -> points: choose what each item is embedded from, embed in batches, attach keyword vectors.

A point's id is its item's id scoped to the tenant (:func:`tenant_item_id`): the same file ingested
by two tenants gives two sets of points, so one tenant's upsert never overwrites (and retags) the
other's.

The steps are also exposed one by one (:func:`split_items`, :func:`embed_text_of`,
:func:`make_points`) for the ingest's cross-file batching (:mod:`rag.cross_batch`), which embeds the
items of many files together and builds each file's points once all its vectors are in.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import numpy as np
from PIL import Image

from ingest.errors import IngestError
from ingest.records import IMAGE_KINDS, Item, image_path_of
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
                modified: datetime | None = None, created: datetime | None = None) -> list[Point]:
    """The points of one file from its items and their vectors (rows of shape (dim,)): text points
    first, then image points."""
    return ([_point(it, np.asarray(v).tolist(), "text", tenant, tags, modified, created)
             for it, v in zip(as_text, text_vecs, strict=True)]
            + [_point(it, np.asarray(v).tolist(), "image", tenant, tags, modified, created)
               for it, v in zip(as_image, image_vecs, strict=True)])


def items_to_points(items: Sequence[Item], embedder: Embedder, *, tenant: str = "default",
                    tags: Sequence[str] = (), modified: datetime | None = None,
                    created: datetime | None = None) -> list[Point]:
    """Embed ``items`` (one file's) into points (``modified``/``created``: the source document's
    dates, for date-range filters). See :func:`split_items` for what is embedded from what."""
    as_text, as_image = split_items(items, embedder)
    window = max_tokens_of(embedder)
    text_vecs = (embedder.embed_texts([embed_text_of(it, window) for it in as_text]) if as_text
                 else np.zeros((0, embedder.dim), dtype=np.float32))  # (n_text, dim)
    image_vecs = (embedder.embed_images([load_item_image(it) for it in as_image]) if as_image
                  else np.zeros((0, embedder.dim), dtype=np.float32))  # (n_image, dim)
    return make_points(as_text, list(text_vecs), as_image, list(image_vecs), tenant=tenant, tags=tags,
                       modified=modified, created=created)


def _point(item: Item, vector: list[float], embedded_as: Literal["text", "image"], tenant: str,
           tags: Sequence[str], modified: datetime | None, created: datetime | None) -> Point:
    pid = tenant_item_id(item.id, tenant)
    item = item.model_copy(update={"id": pid})  # the item as stored names the point it is
    return Point(id=pid, vector=vector, sparse=encode_sparse(item.text), item=item,
                 embedded_as=embedded_as, tenant=tenant, tags=list(tags), modified=modified, created=created)
