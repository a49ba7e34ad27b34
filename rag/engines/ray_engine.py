"""The Ray engine (``ingest.engine: ray``): a Ray Data pipeline for folders one machine cannot
ingest in time.

::

    driver (this process)            Ray cluster                                 driver
    discover, manifest diff,  ──►  parse_block tasks (CPU) ──► EmbedActor pool ──►  per file, in
    deletions (Ingestor)           ingest.parse_many,          (GPU or CPU),        arrival order:
                                   ray.parse_files a task      ray.embed_files a    write (embedded
                                                               call, batches cross  index), manifest
                                                               files; a server is   row, report
                                                               written from here

A file's manifest row is written on the driver only once its points are durable: written by the
driver into an embedded index (``replace_file``), or by the actor into a server before its row comes
back. Ray Data retries a task whose worker or node died and restarts a dead actor without limit
(a file's own error is a row, never an exception, so it is not retried). Point ids are the
deterministic ids of the local engine, so a retried task or restarted actor
rewrites the same points, and a killed job leaves only files the manifest does not know (or knows
in their old version): the rerun replaces them exactly, as after a crash of the local engine.

Where it runs: ``ray.address`` (``--ray-address``). Paths in the settings (``store.path``, the media
folder under it, ``embed.model``) must name the same place on every node: a shared file system on a
real cluster; files are read by the parse tasks at their discovered paths.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.parts import whole
from ingest.records import FileInfo, ParsedFile
from rag.backend_settings import E5SmallEmbedConfig
from rag.config import Settings
from rag.cross_batch import FileVectors
from rag.engines.ray_rows import decode_points, error_of, info_table, outcome_of, rows_of
from rag.engines.ray_stages import EmbedActor, parse_block
from rag.errors import ConfigError, MissingPartError

if TYPE_CHECKING:
    from rag.ingest_run import _Run

log = logging.getLogger(__name__)


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingPartError("ingest.engine is 'ray' but Ray is not installed: pip install 'mmrag[ray]'") from exc
    return ray


def connect(address: str) -> None:
    """Join the cluster at ``address`` ("" starts one in this process); a no-op when connected."""
    ray = _ray()
    if ray.is_initialized():
        return
    log.info("connecting to Ray at %s", address or "a new local instance")
    try:
        ray.init(address=address or None, log_to_driver=False, include_dashboard=False,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"ray.address={address!r}: cannot connect to a Ray cluster: {exc}") from exc
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the run's own page bar reports progress


def _portable(settings: Settings) -> Settings:
    """The settings with relative paths made absolute here: Ray workers run in other folders."""
    store = settings.store.model_copy(update={"path": str(Path(settings.store.path).expanduser().resolve())})
    embed = settings.embed
    if embed.model and Path(embed.model).exists():
        embed = embed.model_copy(update={"model": str(Path(embed.model).resolve())})
    if isinstance(embed, E5SmallEmbedConfig):
        embed = embed.model_copy(update={"model_cache": str(Path(embed.model_cache).expanduser().resolve())})
    return settings.model_copy(update={"store": store, "embed": embed})


class RayEngine:
    """Runs an ingest's parsing and embedding on Ray (see the module doc)."""

    def __init__(self, settings: Settings, address: str | None = None) -> None:
        """``address`` overrides ``ray.address``."""
        self.settings = settings
        self.address = settings.ray.address if address is None else address
        self._connected = False

    @classmethod
    def from_settings(cls, settings: Settings) -> RayEngine:
        """The engine of ``ingest.engine: ray``, on the cluster of ``ray.address``."""
        return cls(settings)

    def index(self, run: _Run, todo: list[FileInfo], *, disable_bar: bool | None) -> None:
        """Parse and embed ``todo`` on the cluster; record each file as its result comes back."""
        run.begin(todo, disable_bar=disable_bar)
        try:
            if todo:
                self._index(run, todo)
        finally:
            run.end()

    def _dataset(self, todo: list[FileInfo], run: _Run) -> Any:
        ray = _ray()
        settings = _portable(self.settings)
        rc = settings.ray
        blocks = max(1, -(-len(todo) // rc.parse_files))
        ds = ray.data.from_items(info_table(todo), override_num_blocks=blocks)
        ds = ds.map_batches(parse_block, batch_size=rc.parse_files, batch_format="pyarrow", zero_copy_batch=True,
                            fn_kwargs={"ingest_json": settings.ingest.model_dump_json(),
                                       "media_dir": str(settings.media_dir)},
                            num_cpus=rc.parse_cpus, max_calls=rc.parse_max_calls)
        return ds.map_batches(EmbedActor, batch_size=rc.embed_files, batch_format="pyarrow",
                              fn_constructor_kwargs={"settings_json": settings.model_dump_json(),
                                                     "tenant": run.tenant, "tags": list(run.tags)},
                              compute=ray.data.ActorPoolStrategy(size=rc.embed_actors), num_cpus=rc.embed_cpus,
                              num_gpus=rc.embed_gpus or None)

    def close(self) -> None:
        """Leave the cluster if this engine joined it (the cluster itself goes on)."""
        if self._connected:
            _ray().shutdown()
            self._connected = False

    def _index(self, run: _Run, todo: list[FileInfo]) -> None:
        # Ray's driver prints raylet and worker notices on stdout; while the job runs they go to
        # stderr, so stdout stays the program's own (``mmrag ingest --json``).
        with contextlib.redirect_stdout(sys.stderr):
            self._run_job(run, todo)

    def _run_job(self, run: _Run, todo: list[FileInfo]) -> None:
        t = time.perf_counter()
        if not _ray().is_initialized():
            connect(self.address)
            self._connected = True
        run.timer.add("ray_connect", t)
        store = run.ingestor.store
        ensured = False
        worker_s = {"parse": 0.0, "embed": 0.0, "actor_store": 0.0}
        results = iter(self._dataset(todo, run).iter_batches(batch_size=None, batch_format="pyarrow"))
        while True:
            t = time.perf_counter()
            block = next(results, None)
            run.timer.add("ray_wait", t)  # the driver idle: the cluster parses and embeds
            if block is None:
                break
            for row in rows_of(block):
                worker_s["parse"] += row["parse_s"]
                worker_s["embed"] += row["embed_s"]
                worker_s["actor_store"] += row["store_s"]
                if row["failure"]:
                    run.parse_failed(outcome_of(row))  # type: ignore[arg-type]
                    continue
                if not ensured and row["embedder_id"]:
                    # The driver never loads the embedder: the index is made for the actors' one.
                    store.ensure(row["embedder_id"], row["dim"])
                    ensured = True
                self._record(run, row)
        for stage, seconds in worker_s.items():  # summed over workers: may exceed the run
            run.timer.seconds[stage] = round(run.timer.seconds.get(stage, 0.0) + seconds, 4)

    @staticmethod
    def _record(run: _Run, row: dict[str, Any]) -> None:
        summary = ParsedFile.model_validate_json(row["summary"])
        run.parsed(whole(summary))
        fv = FileVectors(summary.document, [], [], warnings=summary.warnings)
        if row["error"]:
            fv.error = error_of(row["error"], row["error_type"])
            run.finish_file(fv)
            return
        points = decode_points(row["points"], row["vectors"], row["dim"])
        run.finish_file(fv, points, written=row["written"])

