"""One real ``cpu`` pipeline for the whole server test package (model loads take seconds), with
the sample folder ingested for tenant ``acme``; each module starts its own uvicorn server(s) on
127.0.0.1 over it with the server settings it needs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from ingest.samples import write_sample_folder  # noqa: E402
from rag.config import ServerConfig  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.server.app import create_app  # noqa: E402

ACME_KEY = "key-acme-0123456789"
GLOBEX_KEY = "key-globex-0123456789"
KEYS = {ACME_KEY: "acme", GLOBEX_KEY: "globex"}


class LiveServer:
    """A uvicorn server in a daemon thread on a free 127.0.0.1 port."""

    def __init__(self, pipeline: Pipeline, cfg: ServerConfig) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(pipeline, cfg), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self, timeout: float = 30) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture(scope="package")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ingest root; tenants' folders live under it."""
    return tmp_path_factory.mktemp("roots")


@pytest.fixture(scope="package")
def sample_dir(roots: Path) -> Path:
    folder = roots / "acme"
    write_sample_folder(folder)
    return folder.resolve()


@pytest.fixture(scope="package")
def pipeline(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Iterator[Pipeline]:
    index = tmp_path_factory.mktemp("index")
    pipe = Pipeline.from_config("cpu", {"store.path": str(index)}, environ={})
    report = pipe.ingest([sample_dir], tenant="acme", progress=False)
    assert report.files_ingested >= 2, report
    yield pipe
    pipe.close()


@pytest.fixture(scope="package")
def serve(pipeline: Pipeline) -> Callable[..., AbstractContextManager[LiveServer]]:
    """``with serve(api_keys=..., ingest_roots=...) as srv:`` runs a server over the shared pipeline."""

    @contextmanager
    def run(**server_settings: object) -> Iterator[LiveServer]:
        srv = LiveServer(pipeline, ServerConfig.model_validate(server_settings))
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()

    return run
