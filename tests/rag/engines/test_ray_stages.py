"""The pieces of the Ray engine that need no cluster: the rows, the parse task and the embedding
actor (called directly, as Ray calls them), the engine registry and the CLI flags.

Real parts: real PDFs parsed by ``ingest.parse``, the CPU profile's shipped model in the actor,
Qdrant Edge; the actor's server path runs against a Qdrant server when QDRANT_URL is set.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ingest.discover import discover
from ingest.records import FileFailure, ParsedFile
from rag.cli import build_parser
from rag.cli_options import _overrides
from rag.config import load_settings
from rag.engines import LocalEngine, build_engine
from rag.engines.ray_engine import RayEngine
from rag.engines.ray_rows import (
    decode_points,
    encode_points,
    error_of,
    info_table,
    outcome_of,
    rows_of,
)
from rag.engines.ray_stages import EmbedActor, _with_own_url, parse_block
from rag.errors import ConfigError, EmbedError, IngestError, MmragError, StoreError
from rag.indexing import tenant_item_id
from rag.ingestion import Ingestor
from rag.store.edge import EdgeStore
from rag.testing.corpus import corpus
from tests.pdfs import write_report


def test_points_travel_with_their_vectors_exactly() -> None:
    points = corpus(12, seed=2)
    bare, vecs = encode_points(points, 16, with_vectors=True)
    assert decode_points(bare, vecs, 16) == points
    bare, none = encode_points(points, 16, with_vectors=False)
    assert none == b"" and [p.vector for p in decode_points(bare, none, 16)] == [[]] * 12
    assert [p.id for p in decode_points(bare, none, 16)] == [p.id for p in points]


def test_errors_come_back_with_their_class() -> None:
    assert isinstance(error_of("model gone", "EmbedError"), EmbedError)
    assert isinstance(error_of("no room", "StoreError"), StoreError)
    err = error_of("/d/a.pdf: image file unreadable (x.png: gone)", "IngestError")
    assert isinstance(err, IngestError) and str(err) == "/d/a.pdf: image file unreadable (x.png: gone)"
    other = error_of("odd", "MissingPartError")
    assert isinstance(other, MmragError) and type(other).__name__ == "MissingPartError"


@pytest.fixture(scope="module")
def parsed_block(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, Path]:
    root = tmp_path_factory.mktemp("stages")
    folder = root / "docs"
    for i in range(3):
        write_report(folder / f"r{i}.pdf", {1: f"Plant {i} made {10 * i} valves.", 2: f"Plant {i} shipped them."})
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 broken")
    settings = load_settings("cpu", {"store.path": str(root / "ix"), "ingest.ocr": "none"}, environ={})
    found = discover([folder], settings.ingest)
    table = pa.Table.from_pylist(info_table(found.files))
    return parse_block(table, settings.ingest.model_dump_json(), str(settings.media_dir)), root


def test_parse_task_gives_one_outcome_per_file(parsed_block: tuple[pa.Table, Path]) -> None:
    block, root = parsed_block
    outcomes = [outcome_of(r) for r in rows_of(block)]
    assert len(outcomes) == 4
    failed = [o for o in outcomes if isinstance(o, FileFailure)]
    assert [Path(o.path).name for o in failed] == ["broken.pdf"]
    parsed = [o for o in outcomes if isinstance(o, ParsedFile)]
    assert all(o.document.pages == 2 for o in parsed)
    assert all(str(root / "ix" / "media") in (i.image_path or "") for o in parsed for i in o.items
               if i.kind == "page")


def test_embed_actor_builds_the_points_the_driver_records(parsed_block: tuple[pa.Table, Path]) -> None:
    block, root = parsed_block
    settings = load_settings("cpu", {"store.path": str(root / "ix"), "ingest.ocr": "none"}, environ={})
    actor = EmbedActor(settings.model_dump_json(), tenant="acme", tags=["q3"])
    assert actor.store is None  # an embedded index is written by the driver only
    rows = list(rows_of(actor(block)))
    assert len(rows) == 4
    assert [Path(r["path"]).name for r in rows if r["failure"]] == ["broken.pdf"]
    items = {i.id: i for r in rows_of(block) if r["parsed"] for i in ParsedFile.model_validate_json(r["parsed"]).items}
    for row in (r for r in rows if not r["failure"]):
        assert not row["error"] and not row["written"]
        assert row["embedder_id"] == actor.embedder.id and row["dim"] == 384
        points = decode_points(row["points"], row["vectors"], row["dim"])
        assert points and all(p.tenant == "acme" and p.tags == ["q3"] for p in points)
        assert {p.id for p in points} <= {tenant_item_id(iid, "acme") for iid in items}
        assert all(np.isclose(np.linalg.norm(p.vector), 1.0, atol=1e-4) for p in points)
        assert ParsedFile.model_validate_json(row["summary"]).items == []  # items stay on the cluster


@pytest.mark.skipif(not os.environ.get("QDRANT_URL"), reason="QDRANT_URL not set: no Qdrant server")
def test_embed_actor_writes_a_server_itself(parsed_block: tuple[pa.Table, Path]) -> None:
    block, root = parsed_block
    collection = f"ray_{uuid.uuid4().hex[:8]}"
    settings = load_settings("cpu", {"store.path": str(root / "ix"), "store.backend": "server",
                                     "store.url": os.environ["QDRANT_URL"], "store.collection": collection},
                             environ={})
    actor = EmbedActor(settings.model_dump_json(), tenant="acme", tags=[])
    assert actor.store is not None
    try:
        rows = [r for r in rows_of(actor(block)) if not r["failure"]]
        assert all(r["written"] and r["vectors"] == b"" for r in rows)
        assert actor.store.count() == sum(len(decode_points(r["points"], b"", 0)) for r in rows)
    finally:
        actor.store.client.delete_collection(collection)  # type: ignore[attr-defined]
        actor.store.close()


def test_actors_share_the_pooling_servers_out() -> None:
    urls = ["http://gpu-0:8001/v1", "http://gpu-1:8001/v1"]
    settings = load_settings("cpu", {"embed.backend": "vllm", "ray.embed_urls": urls}, environ={})
    picked = {_with_own_url(settings, f"actor-{i}").embed.url for i in range(16)}
    assert picked == set(urls)
    assert _with_own_url(settings, "actor-3").embed.url == _with_own_url(settings, "actor-3").embed.url
    plain = load_settings("cpu", {"embed.backend": "vllm", "embed.url": "http://one:8001/v1"}, environ={})
    assert _with_own_url(plain, "actor-0").embed.url == "http://one:8001/v1"


def test_engine_is_chosen_by_name(tmp_path: Path) -> None:
    assert isinstance(build_engine(load_settings("cpu", environ={})), LocalEngine)
    ray = build_engine(load_settings("cpu", {"ingest.engine": "ray", "ray.address": "auto"}, environ={}))
    assert isinstance(ray, RayEngine) and ray.address == "auto"
    with pytest.raises(ConfigError, match=r"ingest\.engine"):
        load_settings("cpu", {"ingest.engine": "spark"}, environ={})


def test_local_engine_needs_an_embedder(tmp_path: Path) -> None:
    settings = load_settings("cpu", {"store.path": str(tmp_path / "ix")}, environ={})
    (tmp_path / "d").mkdir()
    write_report(tmp_path / "d" / "a.pdf", {1: "text"})
    with EdgeStore(tmp_path / "ix" / "edge") as store, pytest.raises(MmragError, match="needs an embedder"):
        Ingestor(settings, None, store).ingest([tmp_path / "d"], progress=False)


def test_ingest_flags_set_the_engine_and_the_cluster() -> None:
    args = build_parser().parse_args(["ingest", "docs", "--engine", "ray", "--ray-address", "10.0.0.5:6379"])
    assert _overrides(args) == {"ingest.engine": "ray", "ray.address": "10.0.0.5:6379"}
    assert _overrides(build_parser().parse_args(["ingest", "docs"])) == {}
