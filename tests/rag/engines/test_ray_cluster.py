"""The Ray engine on a real Ray cluster (a head and a worker node on this machine): the same index
as the local engine, changes and deletions applied the same way, and a worker node killed with
``kill -9`` mid-job, after which the job (or its rerun) leaves nothing lost or duplicated.

Real parts throughout: ``ray start`` processes, the ``mmrag`` command as the driver, the CPU
profile's shipped model (multilingual-e5-small, int8 ONNX) in the actors, Qdrant Edge on disk.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from rag.cli import EXIT_FILES_FAILED
from rag.store.common import point_payload
from rag.store.edge import EdgeStore
from tests.manifest_rows import recorded_files
from tests.pdfs import write_report
from tests.rag.engines.cluster import REPO_ROOT, LocalRayCluster

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 300.0
COMMON = ["--config", "cpu", "--set", "ingest.ocr=none", "--set", "embed.cache=false", "--json"]
RAY = ["--engine", "ray", "--set", "ray.parse_cpus=0.5", "--set", "ray.embed_cpus=0.5",
       "--set", "ray.parse_files=2", "--set", "ray.embed_files=2"]
"""Half a CPU each, so that either node can hold a parse task and the actor (the head keeps going
alone once the worker node is killed); small blocks, so the job is many steps long."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    ray_cluster = LocalRayCluster(head_cpus=1, worker_cpus=1)
    try:
        yield ray_cluster.start()
    finally:
        ray_cluster.stop()


def _write(folder: Path, n: int, pages: int, version: str = "v1") -> list[Path]:
    return [write_report(folder / f"depot_{i:02d}.pdf",
                         {p: f"Depot {i} shipped {1000 * i + p} pumps in week {p} ({version}). Audit D{i}-W{p}."
                          for p in range(1, pages + 1)}, title=f"Depot {i} weekly report")
            for i in range(n)]


def _command(folder: Path, index: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "rag.cli", "ingest", str(folder), "--index", str(index),
            "--tenant", "acme", "--tag", "weekly", *COMMON, *extra]


PLAN = "TaskPoolMapOperator[MapBatches(parse_block)] -> ActorPoolMapOperator[MapBatches(EmbedActor)]"
"""Ray Data's plan of the job: parse tasks, then the actors (not fused into one actor stage)."""


def _ingest(cluster: LocalRayCluster, folder: Path, index: Path, extra: list[str]) -> dict[str, Any]:
    done = subprocess.run(_command(folder, index, extra), cwd=REPO_ROOT, env=cluster.env, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode in (0, EXIT_FILES_FAILED), done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    if "ray_wait" in report["stages"]:  # the job ran (a run with nothing to do starts none)
        assert PLAN in done.stderr
    return report


def _local(cluster: LocalRayCluster, folder: Path, index: Path) -> dict[str, Any]:
    return _ingest(cluster, folder, index, ["--engine", "local"])


def _ray(cluster: LocalRayCluster, folder: Path, index: Path) -> dict[str, Any]:
    return _ingest(cluster, folder, index, [*RAY, "--ray-address", cluster.address])


def _snapshot(index: Path) -> dict[str, Any]:
    """Every point's payload (the index folder named ``IX``) and vector, and the manifest rows."""
    points: dict[str, Any] = {}
    with EdgeStore(index / "edge" / "mmrag") as store:
        for page in store.scroll_points():
            for p in page:
                payload = json.loads(json.dumps(point_payload(p)).replace(str(index), "IX"))
                points[p.id] = (payload, p.vector)
    with closing(sqlite3.connect(f"file:{index / 'manifest.sqlite'}?mode=ro", uri=True)) as conn:
        rows = {(path, tenant): sorted(json.loads(ids)) for path, tenant, ids in
                conn.execute("SELECT path, tenant, item_ids FROM files")}
    return {"points": points, "manifest": rows}


def _same_index(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["manifest"] == b["manifest"]
    assert a["points"].keys() == b["points"].keys()
    for pid, (payload, vector) in a["points"].items():
        other_payload, other_vector = b["points"][pid]
        assert payload == other_payload, pid
        assert other_vector == pytest.approx(vector, abs=1e-5), pid  # batches differ: float sums may too


def _counts(report: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (report["files_seen"], report["files_ingested"], report["files_unchanged"], report["files_deleted"],
            len(report["files_failed"]))


def test_ray_engine_builds_the_index_of_the_local_engine(cluster: LocalRayCluster, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    files = _write(folder, 5, 3)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 not really")
    local, ray = tmp_path / "ix-local", tmp_path / "ix-ray"
    first_local, first_ray = _local(cluster, folder, local), _ray(cluster, folder, ray)
    assert _counts(first_ray) == _counts(first_local) == (6, 5, 0, 0, 1)
    assert first_ray["items"] == first_local["items"] and first_ray["pages"] == first_local["pages"] == 15
    assert [f["path"] for f in first_ray["files_failed"]] == [str(folder.resolve() / "broken.pdf")]
    assert first_ray["stages"]["ray_wait"] > 0
    _same_index(_snapshot(local), _snapshot(ray))
    assert all(p["tenant"] == "acme" and p["tags"] == ["weekly"] for p, _ in _snapshot(ray)["points"].values())

    # a change and a deletion, then the same folder again
    write_report(files[1], {1: "Depot 1 closed in week 1 (v2).", 2: "Depot 1 moved its pumps (v2)."},
                 title="Depot 1 closing report")
    files[2].unlink()
    second_local, second_ray = _local(cluster, folder, local), _ray(cluster, folder, ray)
    assert _counts(second_ray) == _counts(second_local) == (5, 1, 3, 1, 1)  # the broken file is tried again
    _same_index(_snapshot(local), _snapshot(ray))
    assert not any(str(files[2].resolve()) == p["file"] for p, _ in _snapshot(ray)["points"].values())


def test_worker_node_killed_mid_job_loses_and_duplicates_nothing(cluster: LocalRayCluster, tmp_path: Path) -> None:
    """Runs last in this module: it leaves the cluster with its head alone."""
    folder = tmp_path / "docs"
    n_files = 10
    _write(folder, n_files, 4)
    killed, clean = tmp_path / "ix-killed", tmp_path / "ix-clean"
    log = tmp_path / "killed.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(_command(folder, killed, [*RAY, "--ray-address", cluster.address]), cwd=REPO_ROOT,
                                env=cluster.env, stdout=subprocess.PIPE, stderr=err)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while proc.poll() is None and recorded_files(killed) < 1:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            at_kill = recorded_files(killed)
            cluster.kill_worker_node()
            out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
    assert at_kill < n_files, "the job finished before the worker node could be killed"
    if proc.returncode == 0:  # Ray retried the lost tasks and restarted the actor on the head
        report = json.loads(out)  # stdout holds the report alone: Ray's messages went to stderr
        assert (report["files_ingested"], report["files_failed"]) == (n_files, [])
    rerun = _ray(cluster, folder, killed)
    assert len(rerun["files_failed"]) == 0
    assert rerun["files_ingested"] + rerun["files_unchanged"] == n_files
    _local(cluster, folder, clean)
    _same_index(_snapshot(clean), _snapshot(killed))
