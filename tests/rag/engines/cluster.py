"""A real Ray cluster on this machine for tests: a head and one worker node, each a ``ray start
--block`` process in its own session, the CPUs split between them, its own temp folder and auth token.

:meth:`LocalRayCluster.stop` ends every process the cluster started (its two process groups, then
anything still naming its temp folder), so a failed test leaves nothing running.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
RAY = Path(sys.executable).with_name("ray")
START_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRayCluster:
    """``head_cpus`` on the head, ``worker_cpus`` on the worker node (logical CPUs)."""

    def __init__(self, head_cpus: int = 1, worker_cpus: int = 1) -> None:
        # Short: Ray's unix socket paths live under it and must stay under 108 characters.
        self.temp = Path(tempfile.mkdtemp(prefix="mmray", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.head_cpus, self.worker_cpus = head_cpus, worker_cpus
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MMRAG__", "RAY_"))}
        self.env.update({
            "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1",
            "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),  # its own token, not ~/.ray's
            "RAY_USAGE_STATS_ENABLED": "0",
            # a dead node is noticed in ~3 s rather than ~30 s
            "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
        })
        self.head: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    def _start(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.temp / log).open("wb") as out:
            return subprocess.Popen([str(RAY), "start", "--block", "--disable-usage-stats", "--num-gpus=0",
                                     "--node-ip-address=127.0.0.1", "--object-store-memory=150000000", *args],
                                    cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def start(self) -> LocalRayCluster:
        """Start the head, then the worker node; return once both nodes are alive."""
        self.head = self._start(["--head", f"--port={self.port}", f"--num-cpus={self.head_cpus}",
                                 "--include-dashboard=false", f"--temp-dir={self.temp}"], "head.log")
        self.worker = self._start([f"--address={self.address}", f"--num-cpus={self.worker_cpus}"], "worker.log")
        self.wait_nodes(2)
        return self

    def alive_nodes(self) -> int:
        """Nodes the head reports alive (asked from a fresh driver process)."""
        code = (f"import ray; ray.init(address={self.address!r}, log_to_driver=False, configure_logging=False); "
                "print(sum(1 for n in ray.nodes() if n['Alive']))")
        done = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                              timeout=90, check=False)
        lines = done.stdout.strip().splitlines()
        return int(lines[-1]) if done.returncode == 0 and lines and lines[-1].isdigit() else 0

    def wait_nodes(self, n: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.alive_nodes() != n:
            for proc in (self.head, self.worker):
                if proc is not None and proc.poll() is not None and (proc is self.head or n == 2):
                    raise RuntimeError(f"ray start exited with {proc.returncode}: {self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{n} Ray nodes not alive after {START_TIMEOUT_S:.0f}s: {self.logs()}")
            time.sleep(1.0)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.temp.glob("*.log"))

    def kill_worker_node(self) -> None:
        """``kill -9`` every process of the worker node (its raylet, its workers, its agents)."""
        if self.worker is not None:
            _killpg(self.worker, signal.SIGKILL)
            self.worker.wait(timeout=30)

    def stop(self) -> None:
        """End both nodes: SIGTERM, a few seconds' grace, SIGKILL, then any leftover of this cluster."""
        procs = [p for p in (self.worker, self.head) if p is not None]
        for proc in procs:
            _killpg(proc, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            _killpg(proc, signal.SIGKILL)
            proc.wait(timeout=30)
        for pid in _pids_naming(str(self.temp)):  # workers that left the process group, if any
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _killpg(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the ray start process's pid


def _pids_naming(text: str) -> list[int]:
    """Processes whose command line contains ``text``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            out.append(int(entry.name))
    return out
