"""``mmrag serve`` starts uvicorn on the profile's pipeline, with keys from ``--set``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_mmrag_serve_answers_and_checks_keys(tmp_path: Path) -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--config", "cpu", "--index", str(tmp_path / "index"),
           "--host", "127.0.0.1", "--port", str(port), "--set", "server.api_keys={k-1: acme}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
            try:
                health = httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "mmrag serve did not come up"
                time.sleep(0.25)
        assert health.json()["auth"] is True and health.json()["profile"] == "cpu"
        assert httpx.get(f"{url}/v1/models").status_code == 401
        models = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer k-1"})
        assert models.json()["data"][0]["id"] == "mmrag"
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) in (0, -15)
