"""Items -> points: choose what each item is embedded from, embed in batches, attach keyword vectors.

A point's id is its item's id scoped to the tenant (:func:`tenant_item_id`): the same file ingested
by two tenants gives two sets of points, so one tenant's upsert never overwrites (and retags) the
other's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from PIL import Image

from ingest.errors import IngestError
from ingest.records import Item, image_path_of
from rag.embed.base import Embedder
from rag.records import Point
from rag.store.sparse import encode_sparse

log = logging.getLogger(__name__)

_TENANT_NAMESPACE = uuid.UUID("0b6d3c52-5a0e-4a51-8f39-74656e616e74")


def tenant_item_id(item_id: str, tenant: str) -> str:
    """The point id of item ``item_id`` ingested by ``tenant``: stable (same item, same tenant,
    same id), different for every tenant."""
    return str(uuid.uuid5(_TENANT_NAMESPACE, f"{tenant}\x00{item_id}"))


def _load_image(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def items_to_points(items: Sequence[Item], embedder: Embedder, *, tenant: str = "default",
                    tags: Sequence[str] = (), modified: datetime | None = None,
                    created: datetime | None = None) -> list[Point]:
    """Embed ``items`` into points (``modified``/``created``: the source document's dates, for
    date-range filters).

    Figures and page renders go in as images when the embedder has an image space; otherwise (and
    for text-only items) their text is embedded: for images that is the bridge text (caption, OCR,
    nearby text). Items with nothing to embed are left out."""
    as_image: list[Item] = []
    as_text: list[Item] = []
    for item in items:
        if item.kind in ("figure", "page") and embedder.embeds_images and image_path_of(item):
            as_image.append(item)
        elif item.text.strip():
            as_text.append(item)
    points: list[Point] = []
    if as_text:
        vecs = embedder.embed_texts([it.text for it in as_text])  # (n_text, dim)
        points += [_point(it, vec.tolist(), "text", tenant, tags, modified, created)
                   for it, vec in zip(as_text, vecs, strict=True)]
    if as_image:
        images = []
        for it in as_image:
            path = image_path_of(it) or ""
            try:
                images.append(_load_image(path))
            except OSError as exc:
                raise IngestError(it.file, "image file unreadable", f"{path}: {exc}") from exc
        vecs = embedder.embed_images(images)  # (n_image, dim)
        points += [_point(it, vec.tolist(), "image", tenant, tags, modified, created)
                   for it, vec in zip(as_image, vecs, strict=True)]
    return points


def _point(item: Item, vector: list[float], embedded_as: Literal["text", "image"], tenant: str,
           tags: Sequence[str], modified: datetime | None, created: datetime | None) -> Point:
    pid = tenant_item_id(item.id, tenant)
    item = item.model_copy(update={"id": pid})  # the item as stored names the point it is
    return Point(id=pid, vector=vector, sparse=encode_sparse(item.text), item=item,
                 embedded_as=embedded_as, tenant=tenant, tags=list(tags), modified=modified, created=created)
