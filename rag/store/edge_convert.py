"""Conversions between the store's records and Qdrant Edge's: filters, payload index schemas,
points, prefetch branches and scrolled records (used by :class:`rag.store.edge.EdgeStore`).
"""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from rag.records import Point, QueryPlan
from rag.store.base import DENSE, SPARSE
from rag.store.common import (
    HNSW_EF,
    TENANT_FIELD,
    FloatRange,
    Terms,
    point_from_stored,
    point_payload,
)


def _edge_filter(terms: Terms | None) -> qe.Filter | None:
    if not terms:
        return None
    conditions: list[Any] = []
    for key, value in terms:
        if isinstance(value, FloatRange):
            conditions.append(qe.FieldCondition(key, range=qe.RangeFloat(gte=value.gte, lt=value.lt)))
        else:
            match: Any = qe.MatchAny(value) if isinstance(value, list) else qe.MatchValue(value)
            conditions.append(qe.FieldCondition(key, match=match))
    return qe.Filter(must=conditions)


def _index_schema(field: str, kind: str) -> Any:
    if field == TENANT_FIELD:
        return qe.KeywordIndexParams(is_tenant=True)
    if kind == "integer":
        return qe.IntegerIndexParams(lookup=True, range=True)
    if kind == "float":
        return qe.PayloadSchemaType.Float
    return qe.PayloadSchemaType.Keyword


def _edge_point(p: Point) -> qe.Point:
    vectors: dict[str, Any] = {DENSE: p.vector}
    if p.sparse.indices:  # an empty keyword vector is left out: the point is not in the IDF corpus
        vectors[SPARSE] = qe.SparseVector(indices=p.sparse.indices, values=p.sparse.values)
    return qe.Point(p.id, vectors, point_payload(p))


def _edge_prefetch(plan: QueryPlan, branch: Any, terms: Terms) -> qe.Prefetch:
    if branch.using == DENSE:
        assert plan.dense is not None
        return qe.Prefetch(limit=branch.limit, query=qe.Query.Nearest(plan.dense, using=DENSE),
                           filter=_edge_filter(terms),
                           params=qe.SearchParams(hnsw_ef=max(HNSW_EF, branch.limit)))
    assert plan.sparse is not None
    sparse = qe.SparseVector(indices=plan.sparse.indices, values=plan.sparse.values)
    return qe.Prefetch(limit=branch.limit, query=qe.Query.Nearest(sparse, using=SPARSE),
                       filter=_edge_filter(terms))


def _point_from_record(r: qe.Record) -> Point:
    vectors = r.vector if isinstance(r.vector, dict) else {}
    dense, sparse = vectors.get(DENSE), vectors.get(SPARSE)
    return point_from_stored(r.id, r.payload, dense if isinstance(dense, list) else None,  # type: ignore[arg-type]
                             (sparse.indices, sparse.values) if isinstance(sparse, qe.SparseVector) else None)
