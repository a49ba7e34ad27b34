"""The driver of a Ray ingest run from the command line: the bookkeeping without a model.

``mmrag ingest --engine ray`` needs no embedder here (the actors load it), so the CLI builds an
:class:`~rag.ingestion.Ingestor` over the store alone; the index is created for the actors'
embedder when the first file comes back (:class:`~rag.engines.ray_engine.RayEngine`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rag.config import Settings
from rag.engines.ray_engine import RayEngine
from rag.ingestion import Ingestor
from rag.store.base import open_store


@contextmanager
def driver_ingestor(settings: Settings, address: str | None = None) -> Iterator[Ingestor]:
    """An ingestor over the configured store whose files are embedded on Ray; leaves the cluster
    and closes the store afterwards."""
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.store)
    engine = RayEngine(settings, address)
    # Ray's driver prints raylet notices (a node lost, a task resubmitted) on stdout, also after the
    # job: stderr gets them until the cluster is left, so stdout holds the report alone (--json).
    with contextlib.redirect_stdout(sys.stderr):
        try:
            yield Ingestor(settings, None, store, engine=engine)
        finally:
            try:
                engine.close()
            finally:
                store.close()
