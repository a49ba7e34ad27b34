"""The rows that travel through the Ray pipeline, as Arrow tables of bytes and strings.

Ray Data moves blocks between processes and machines as Arrow tables; the typed records go in
and out as JSON (pydantic), vectors as float32 bytes. Three kinds of row:

- a file to parse: ``info`` (:class:`~ingest.records.FileInfo` JSON);
- a parse outcome: ``path``, ``parsed`` (:class:`~ingest.records.ParsedFile` JSON) or ``failure``
  (:class:`~ingest.records.FileFailure` JSON), ``parse_s``;
- a result (:class:`FileResult`): what the driver records for one file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import TypeAdapter

from ingest.parse import Outcome
from ingest.records import FileFailure, FileInfo, ParsedFile
from rag.cross_batch import FileVectors
from rag.errors import EmbedError, IngestError, MmragError, StoreError
from rag.records import Point

_POINTS = TypeAdapter(list[Point])

RESULT_SCHEMA = pa.schema([
    ("path", pa.string()),
    ("failure", pa.binary()),       # FileFailure JSON: the file did not parse
    ("summary", pa.binary()),       # ParsedFile JSON without its items: document, warnings
    ("points", pa.binary()),        # list[Point] JSON, vectors left out
    ("vectors", pa.binary()),       # float32 (n_points, dim), C order; empty when written by the actor
    ("dim", pa.int64()),
    ("embedder_id", pa.string()),
    ("written", pa.bool_()),        # the points are durable in the store already (server)
    ("error", pa.string()),         # why embedding or writing failed
    ("error_type", pa.string()),
    ("parse_s", pa.float64()),
    ("embed_s", pa.float64()),
    ("store_s", pa.float64()),
])


def rows_of(table: pa.Table) -> Iterator[dict[str, Any]]:
    """The rows of a block, as dicts."""
    yield from table.to_pylist()


def info_table(infos: Sequence[FileInfo]) -> list[dict[str, bytes]]:
    """The pipeline's input rows, one per file."""
    return [{"info": info.model_dump_json().encode()} for info in infos]


def infos_of(table: pa.Table) -> list[FileInfo]:
    return [FileInfo.model_validate_json(b) for b in table.column("info").to_pylist()]


def outcome_table(outcomes: Sequence[tuple[Outcome, float]]) -> pa.Table:
    """Parse outcomes (with their parse seconds) as a block."""
    return pa.table({
        "path": pa.array([o.path if isinstance(o, FileFailure) else o.document.path for o, _ in outcomes],
                         pa.string()),
        "parsed": pa.array([o.model_dump_json().encode() if isinstance(o, ParsedFile) else b""
                            for o, _ in outcomes], pa.binary()),
        "failure": pa.array([o.model_dump_json().encode() if isinstance(o, FileFailure) else b""
                             for o, _ in outcomes], pa.binary()),
        "parse_s": pa.array([s for _, s in outcomes], pa.float64()),
    })


def outcome_of(row: dict[str, Any]) -> Outcome:
    if row["failure"]:
        return FileFailure.model_validate_json(row["failure"])
    return ParsedFile.model_validate_json(row["parsed"])


def encode_points(points: Sequence[Point], dim: int, *, with_vectors: bool) -> tuple[bytes, bytes]:
    """``(points JSON without vectors, float32 vectors)``; no vectors when ``with_vectors`` is False."""
    bare = _POINTS.dump_json([p.model_copy(update={"vector": []}) for p in points])
    if not with_vectors:
        return bare, b""
    vecs = np.asarray([p.vector for p in points], dtype=np.float32).reshape(len(points), dim)  # (n, dim)
    return bare, vecs.tobytes()


def decode_points(points: bytes, vectors: bytes, dim: int) -> list[Point]:
    """The points of a result row, with their vectors when the row carries them."""
    bare = _POINTS.validate_json(points)
    if not vectors:
        return bare
    vecs = np.frombuffer(vectors, dtype=np.float32).reshape(len(bare), dim)  # (n, dim)
    return [p.model_copy(update={"vector": v.tolist()}) for p, v in zip(bare, vecs, strict=True)]


_ERRORS: dict[str, type[MmragError]] = {"EmbedError": EmbedError, "StoreError": StoreError, "MmragError": MmragError}


def error_of(message: str, type_name: str) -> MmragError:
    """The error a result row names, rebuilt with its class (as the report names it)."""
    if type_name == "IngestError":
        path, _, rest = message.partition(": ")
        return IngestError(path, rest)
    cls = _ERRORS.get(type_name)
    if cls is None:  # another MmragError subclass: keep its name in the report
        cls = type(type_name, (MmragError,), {})
    return cls(message)


def summary_of(fv: FileVectors) -> bytes:
    """An embedded file without its items (a ``ParsedFile`` of its document and warnings): what the
    driver needs to record it."""
    return ParsedFile(document=fv.document, items=[], warnings=fv.warnings).model_dump_json().encode()


def result_table(results: Sequence[dict[str, Any]]) -> pa.Table:
    """Result rows (dicts with every :data:`RESULT_SCHEMA` column) as a block."""
    return pa.Table.from_pylist(list(results), schema=RESULT_SCHEMA)


def empty_result(path: str) -> dict[str, Any]:
    """A result row with every column at its empty value."""
    return {"path": path, "failure": b"", "summary": b"", "points": b"", "vectors": b"", "dim": 0,
            "embedder_id": "", "written": False, "error": "", "error_type": "", "parse_s": 0.0,
            "embed_s": 0.0, "store_s": 0.0}
