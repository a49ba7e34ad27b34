"""Background ingest jobs: one worker thread runs them in order, so ingestion never blocks queries.

Jobs run the pipeline's :class:`~rag.ingestion.Ingestor` for the job's tenant, confined to that
tenant's ingest roots (every discovered file's real path must lie under them). Deletes go through
the same worker (:meth:`JobManager.run_exclusive`), so they never interleave with an ingest that is
writing the same index.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rag.records import IngestReport
from rag.server.protocol import Job

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from rag.server.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobManager:
    """Queues ingest jobs on a single worker thread and keeps the last ``keep`` of them."""

    def __init__(self, pipeline: Pipeline, metrics: Metrics | None = None, keep: int = 1000) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self._pipeline = pipeline
        self._metrics = metrics
        self._keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmrag-ingest")

    def submit(self, paths: list[Path], tenant: str, tags: list[str], roots: list[Path] | None = None) -> Job:
        """Queue an ingest of ``paths`` (already checked against the ingest roots) for ``tenant``;
        discovery keeps to ``roots`` (the tenant's resolved ingest roots) at every step."""
        job = Job(id=uuid.uuid4().hex, status="queued", tenant=tenant, paths=[str(p) for p in paths],
                  tags=tags, created=time.time())
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].status in ("queued", "running"):
                    break
                del self._jobs[oldest]
        self._pool.submit(self._run, job.id, roots)
        log.info("job %s queued: tenant=%s paths=%s", job.id, tenant, job.paths)
        return self.get(job.id) or job

    def _update(self, job_id: str, **changes: object) -> Job:
        with self._lock:
            job = self._jobs[job_id].model_copy(update=changes)
            self._jobs[job_id] = job
            return job

    def _progress(self, job_id: str, files_done: int, files_total: int) -> None:
        """Show the running job's progress in ``GET /v1/jobs/{id}``."""
        self._update(job_id, files_done=files_done, files_total=files_total)
        log.debug("job %s: %d/%d files", job_id, files_done, files_total)

    def _run(self, job_id: str, roots: list[Path] | None) -> None:
        job = self._update(job_id, status="running", started=time.time())
        try:
            report: IngestReport = self._pipeline.ingestor.ingest(
                job.paths, tenant=job.tenant, tags=job.tags, progress=False, within=roots,
                on_progress=lambda done, total: self._progress(job_id, done, total))
        except Exception as exc:  # a job must never kill the worker; the client reads the reason
            log.exception("job %s failed", job_id)
            self._update(job_id, status="failed", finished=time.time(), error=f"{type(exc).__name__}: {exc}")
            if self._metrics:
                self._metrics.count_job("failed")
            return
        self._update(job_id, status="done", finished=time.time(), report=report)
        if self._metrics:
            self._metrics.count_job("done")
            for stage, seconds in report.stages.items():
                self._metrics.observe_stage(f"ingest.{stage}", seconds)
        log.info("job %s done: %d ingested, %d failed in %.1fs", job_id, report.files_ingested,
                 len(report.files_failed), report.seconds)

    def get(self, job_id: str, tenant: str | None = None) -> Job | None:
        """The job, or ``None`` when unknown or owned by another tenant (``tenant=None``: any)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or (tenant is not None and job.tenant != tenant):
                return None
            if job.status != "queued":
                return job
            ahead = 0
            for other in self._jobs.values():
                if other.id == job_id:
                    break
                ahead += other.status in ("queued", "running")
            return job.model_copy(update={"queue_position": ahead})

    def counts(self, tenant: str | None = None) -> dict[str, int]:
        """Jobs by status, of ``tenant`` only when given."""
        out = {"queued": 0, "running": 0, "done": 0, "failed": 0}
        with self._lock:
            for job in self._jobs.values():
                if tenant is None or job.tenant == tenant:
                    out[job.status] += 1
        return out

    async def run_exclusive(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the ingest worker, after the jobs queued before it; await its result."""
        return await asyncio.wrap_future(self._pool.submit(fn))

    def shutdown(self) -> None:
        """Drop queued jobs, let the running one finish (ingest is crash-safe, but finishing is kinder)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
