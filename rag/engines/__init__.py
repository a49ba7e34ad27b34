"""Ingest engines: what parses, embeds and writes the files an ingest has to (re)index.

:class:`~rag.ingestion.Ingestor` keeps the bookkeeping in every case (discovery, the manifest diff,
deletions, media, the manifest rows and the report) and hands the list of new and changed files
to the engine named by ``ingest.engine``:

- ``local`` (:class:`LocalEngine`): this process, parse workers ahead of one embedder.
- ``ray`` (:class:`rag.engines.ray_engine.RayEngine`): a Ray Data pipeline, parse tasks and
  embedding actors on a Ray cluster (``ray:`` section).

An engine reports each file to the run it is given (``begin``, ``parsed``/``parse_failed``,
``finish_file``, ``end``), so a file's manifest row is written by the same code, only after its
points are durable, whichever engine embedded it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rag.registry import Registry

if TYPE_CHECKING:
    from ingest.records import FileInfo
    from rag.config import Settings
    from rag.ingestion import _Run


class IndexEngine(Protocol):
    """Parses, embeds and writes the files of one ingest run, reporting each to ``run``."""

    def index(self, run: _Run, todo: list[FileInfo], *, disable_bar: bool | None) -> None:
        """Index ``todo`` (new and changed files); returns once every file is reported."""
        ...


class LocalEngine:
    """This process: :meth:`rag.ingestion._Run.index` (parse thread and workers, one embedder)."""

    def index(self, run: _Run, todo: list[FileInfo], *, disable_bar: bool | None) -> None:
        """See :class:`IndexEngine`."""
        run.index(todo, disable_bar=disable_bar)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalEngine:
        """The local engine needs nothing from the settings beyond what the run holds."""
        return cls()


ENGINES: Registry[IndexEngine] = Registry("ingest engine")
ENGINES.register("local", "rag.engines:LocalEngine.from_settings")
ENGINES.register("ray", "rag.engines.ray_engine:RayEngine.from_settings")


def build_engine(settings: Settings) -> IndexEngine:
    """The engine named by ``ingest.engine`` (Ray is imported only when chosen)."""
    return ENGINES.factory(settings.ingest.engine)(settings)
