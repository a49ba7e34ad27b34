"""What every Qdrant backend shares: the payload layout, the stored embedder identity, plan and
point checks, and the filter in engine-neutral form. Backends only translate these."""

from __future__ import annotations

import fnmatch
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ingest.records import Item
from ingest.text.tokens import LEGACY_TOKENIZER, TOKENIZER_VERSION
from rag.errors import StoreError
from rag.records import Hit, Point, Prefetch, QueryPlan, SearchFilter, SparseVector, embedded_as_of, timestamp

RRF_K = 2
"""RRF constant: Qdrant's default (``1 / (rank0 + k)``); every backend fuses with the same one."""
HNSW_EF = 256
"""HNSW search breadth of dense branches (its recall: docs/benchmarks.md, "Figures behind the code")."""
SCHEMA_VERSION = 1
"""Layout of payloads and metadata; bumped when it changes incompatibly."""

IndexType = Literal["keyword", "integer", "float"]
INDEX_FIELDS: dict[str, IndexType] = {
    "file": "keyword",
    "doc_id": "keyword",
    "page": "integer",
    "kind": "keyword",
    "tenant": "keyword",
    "tags": "keyword",
    "order": "integer",
    "modified": "float",
    "created": "float",
}
"""Flat payload fields with a payload index (``tenant`` is indexed with ``is_tenant``). ``order`` is
a text chunk's reading-order position (neighbour expansion); ``modified``/``created`` are epoch
seconds (date-range filters). Indexes made before a field existed still filter on it, unindexed."""
TENANT_FIELD = "tenant"

_ITEM = TypeAdapter(Item)


class StoreMeta(BaseModel):
    """Identity of an index: which embedder space and which keyword tokenizer it holds. Persisted
    with the index."""

    model_config = ConfigDict(extra="ignore")

    embedder_id: str
    dim: int
    schema_version: int = SCHEMA_VERSION
    tokenizer: str = LEGACY_TOKENIZER
    """Keyword tokenizer of the sparse vectors (:data:`ingest.text.tokens.TOKENIZER_VERSION`).
    Metadata written before it was recorded reads as the legacy ``\\w+`` tokenizer, which left
    Korean particles glued to nouns: such an index is refused (re-ingest), not searched wrongly."""

    @classmethod
    def new(cls, embedder_id: str, dim: int) -> StoreMeta:
        """The identity of an index created now, with this version's keyword tokenizer."""
        return cls(embedder_id=embedder_id, dim=dim, tokenizer=TOKENIZER_VERSION)

    def check(self, embedder_id: str, dim: int, where: str) -> None:
        """Raise StoreError naming both sides when the index was built by another embedder or with
        another keyword tokenizer."""
        if self.embedder_id != embedder_id or self.dim != dim:
            raise StoreError(
                f"{where} was built by embedder {self.embedder_id!r} (dim {self.dim}); the configured "
                f"embedder is {embedder_id!r} (dim {dim}). Use another store path or collection, or "
                "delete the index and re-ingest")
        self.check_tokenizer(where)

    def check_tokenizer(self, where: str) -> None:
        """Raise StoreError naming both tokenizers when the index's keyword vectors were cut by another
        one: its keywords would no longer match the queries' (Korean above all)."""
        if self.tokenizer != TOKENIZER_VERSION:
            raise StoreError(
                f"{where} was built with keyword tokenizer {self.tokenizer!r}; this version tokenises "
                f"with {TOKENIZER_VERSION!r}, so keyword search would miss. Re-ingest: use another store "
                "path or collection, or delete the index and ingest again")


def read_meta(path: Path) -> StoreMeta | None:
    """The metadata JSON at ``path``, or None when there is none."""
    if not path.exists():
        return None
    try:
        return StoreMeta.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise StoreError(f"{path}: unreadable index metadata: {exc}") from exc


def write_meta(path: Path, meta: StoreMeta) -> None:
    """Write atomically (temp file, fsync, rename) so a crash leaves the old or the new file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(meta.model_dump_json(indent=2))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def point_payload(point: Point) -> dict[str, Any]:
    """Payload of a point: the item as JSON under ``item`` plus the flat indexed fields (fields
    without a value are left out, so a range filter on them does not match)."""
    item = point.item
    payload: dict[str, Any] = {
        "item": item.model_dump(mode="json"),
        "file": item.file,
        "doc_id": item.doc_id,
        "page": item.page,
        "kind": item.kind,
        "tenant": point.tenant,
        "tags": list(point.tags),
        "embedded_as": point.embedded_as,
    }
    if item.order is not None:
        payload["order"] = item.order
    if point.modified is not None:
        payload["modified"] = timestamp(point.modified)
    if point.created is not None:
        payload["created"] = timestamp(point.created)
    return payload


def point_dates(payload: dict[str, Any]) -> dict[str, datetime]:
    """``modified`` and ``created`` of a stored payload as UTC datetimes (those present)."""
    return {key: datetime.fromtimestamp(float(payload[key]), UTC)
            for key in ("modified", "created") if isinstance(payload.get(key), int | float)}


def point_from_stored(point_id: object, payload: dict[str, Any] | None, dense: Sequence[float] | None,
                      sparse: tuple[Sequence[int], Sequence[float]] | None) -> Point:
    """A stored point back as a :class:`Point` (``scroll_points`` of every backend): its payload
    re-validated, its dense vector and its keyword vector (``(indices, values)``) as stored."""
    hit = hit_from_payload(point_id, 0.0, payload)
    payload = payload or {}
    return Point(
        id=hit.id, vector=[float(x) for x in dense] if dense is not None else [],
        sparse=SparseVector(indices=list(sparse[0]), values=list(sparse[1])) if sparse else SparseVector(),
        item=hit.item, embedded_as=hit.embedded_as,
        tenant=str(payload.get("tenant", "default")), tags=list(payload.get("tags", [])), **point_dates(payload))


def hit_from_payload(point_id: object, score: float, payload: dict[str, Any] | None) -> Hit:
    """Re-validate a stored payload into a Hit; a payload that no longer validates is an error
    naming the point."""
    if not payload or "item" not in payload:
        raise StoreError(f"point {point_id}: payload has no 'item' (written by another program?)")
    try:
        item = _ITEM.validate_python(payload["item"])
    except ValidationError as exc:
        raise StoreError(f"point {point_id}: stored item does not validate: {exc}") from exc
    return Hit(id=str(point_id), score=float(score), item=item,
               embedded_as=embedded_as_of(payload.get("embedded_as")))


REF_FIELDS = ["file", "page", "kind"]
"""The flat payload fields a :class:`PointRef` is read from."""


@dataclass(frozen=True, slots=True)
class PointRef:
    """A query's hit as where it is only: what the reranker's pool lookups need of ~250 points
    a search. Read from three flat payload fields instead of the whole item, without a pydantic
    model per hit (issue 14: building and validating those ``Hit`` s was half of the reranker's
    store time)."""

    id: str
    score: float
    file: str
    page: int
    kind: str


def ref_from_payload(point_id: object, score: float, payload: dict[str, Any] | None) -> PointRef:
    """The :class:`PointRef` of a hit whose payload holds :data:`REF_FIELDS`; a payload without
    them is an error naming the point, as in :func:`hit_from_payload`."""
    try:
        return PointRef(str(point_id), float(score), str(payload["file"]), int(payload["page"]),  # type: ignore[index]
                        str(payload["kind"]))  # type: ignore[index]
    except (KeyError, TypeError, ValueError) as exc:  # TypeError: no payload at all
        raise StoreError(f"point {point_id}: payload lacks file, page or kind (written by another program?)") from exc


def check_points(points: Sequence[Point], dim: int) -> None:
    """Refuse points a Qdrant engine would reject, naming the point and the value."""
    for p in points:
        try:
            uuid.UUID(p.id)
        except ValueError:
            raise StoreError(f"point id {p.id!r} is not a UUID "
                             "(item ids come from ingest.records.item_id)") from None
        if len(p.vector) != dim:
            raise StoreError(f"point {p.id} ({p.item.file} p.{p.item.page}): vector has {len(p.vector)} "
                             f"dims, the index holds {dim}")
        if len(p.sparse.indices) != len(p.sparse.values):
            raise StoreError(f"point {p.id}: sparse vector has {len(p.sparse.indices)} indices "
                             f"but {len(p.sparse.values)} values")


@dataclass(frozen=True)
class FloatRange:
    """``gte <= value < lt`` on a numeric payload field; None leaves that end open."""

    gte: float | None = None
    lt: float | None = None


Terms = list[tuple[str, str | list[str] | list[int] | FloatRange]]
"""A conjunction of payload conditions: ``(field, value)`` is equality, ``(field, [v, ...])``
any-of, ``(field, FloatRange)`` a range."""


def resolve_file_globs(flt: SearchFilter, known_files: Callable[[], Sequence[str]]) -> SearchFilter | None:
    """``flt`` with its ``file_globs`` expanded into exact ``files`` (``fnmatchcase`` against
    ``known_files()``, called only when there are globs), united with the listed ``files``.
    None when the allowed set is empty: the filter matches nothing. No Qdrant engine matches
    globs in a payload (``MatchText`` needs a full-text index and matches tokens, not patterns),
    so every backend resolves them here, before the query."""
    if not flt.file_globs:
        return flt
    matched = [f for f in known_files() if any(fnmatch.fnmatchcase(f, g) for g in flt.file_globs)]
    allowed = list(dict.fromkeys([*flt.files, *sorted(matched)]))
    if not allowed:
        return None
    return flt.model_copy(update={"files": allowed, "file_globs": []})


def fusion_weights(branches: Sequence[tuple[Prefetch, Terms]]) -> list[float] | None:
    """RRF weights of the active branches, in order; None when all are 1 (plain RRF)."""
    weights = [b.weight for b, _ in branches]
    return None if all(w == 1.0 for w in weights) else weights


def filter_terms(flt: SearchFilter, kinds: Sequence[str] = ()) -> Terms | None:
    """The filter as a conjunction of matches, with ``kinds`` (a branch's) intersected with the
    filter's kinds. None when the intersection is empty: the branch can match nothing.
    ``file_globs`` must have been resolved (:func:`resolve_file_globs`)."""
    if flt.file_globs:
        raise StoreError(f"file_globs {flt.file_globs} reached the engine unresolved; "
                         "resolve them with resolve_file_globs first")
    terms: Terms = []
    if flt.tenant is not None:
        terms.append(("tenant", flt.tenant))
    if flt.files:
        terms.append(("file", list(flt.files)))
    if flt.doc_ids:
        terms.append(("doc_id", list(flt.doc_ids)))
    if flt.tags:
        terms.append(("tags", list(flt.tags)))
    for key, dates in (("modified", flt.modified), ("created", flt.created)):
        if dates is not None:
            terms.append((key, FloatRange(*dates.bounds())))
    wanted: list[str] = list(flt.kinds)
    if kinds:
        wanted = [k for k in kinds if not flt.kinds or k in flt.kinds]
        if not wanted:
            return None
    if wanted:
        terms.append(("kind", wanted))
    return terms


def check_one_file(file: str, points: Sequence[Point], tenant: str | None = None) -> None:
    """Refuse a replacement of ``file`` that carries a point of another file (or, with ``tenant``,
    of another tenant), naming both."""
    for p in points:
        if p.item.file != file:
            raise StoreError(f"replace_file({file!r}) was given point {p.id} of another file, {p.item.file!r}")
        if tenant is not None and p.tenant != tenant:
            raise StoreError(f"replace_file({file!r}, tenant={tenant!r}) was given point {p.id} of "
                             f"tenant {p.tenant!r}")


def file_terms(file: str, tenant: str | None = None) -> Terms:
    """The points of one file, of one tenant when given."""
    terms: Terms = [("file", file)]
    if tenant is not None:
        terms.append((TENANT_FIELD, tenant))
    return terms


def chunk_terms(file: str, orders: Sequence[int], tenant: str | None) -> Terms:
    """The filter of :meth:`Store.chunks_at`: text chunks of ``file`` at ``orders`` (and ``tenant``)."""
    terms: Terms = [("file", file), ("kind", "text"), ("order", sorted(set(orders)))]
    if tenant is not None:
        terms.append((TENANT_FIELD, tenant))
    return terms


def active_branches(plan: QueryPlan, dim: int) -> list[tuple[Prefetch, Terms]]:
    """The branches of a plan that can return anything, each with its filter; checks the plan.

    A sparse branch with an empty query vector (a question of stopwords only) and a branch whose
    kinds exclude all of the filter's are dropped; a dense branch without a dense vector, or one
    of the wrong size, is an error.
    """
    if plan.dense is not None and len(plan.dense) != dim:
        raise StoreError(f"query vector has {len(plan.dense)} dims, the index holds {dim}")
    out: list[tuple[Prefetch, Terms]] = []
    for branch in plan.prefetch:
        if branch.using == "dense" and plan.dense is None:
            raise StoreError("query plan has a dense prefetch but no dense vector")
        if branch.using == "sparse":
            if plan.sparse is None:
                raise StoreError("query plan has a sparse prefetch but no sparse vector")
            if not plan.sparse.indices:
                continue
        terms = filter_terms(plan.filter, branch.kinds)
        if terms is not None:
            out.append((branch, [*terms, ("page", list(branch.pages))] if branch.pages else terms))
    return out
