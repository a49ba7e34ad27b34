"""``mmrag serve``: build the pipeline once, then serve it with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(config: str | Path, overrides: Mapping[str, Any] | None = None, *, host: str | None = None,
          port: int | None = None) -> int:
    """Serve the profile ``config`` (with dotted ``overrides``) on ``host:port`` (default: the profile's
    ``server.host``/``server.port``) until interrupted. Returns the exit status."""
    try:
        import uvicorn
    except ImportError as exc:
        from rag.errors import MissingPartError

        raise MissingPartError("the server needs FastAPI and uvicorn: pip install 'mmrag[server]'") from exc

    from rag.pipeline import Pipeline
    from rag.server.app import create_app

    merged = dict(overrides or {})
    if host is not None:
        merged["server.host"] = host
    if port is not None:
        merged["server.port"] = port
    with Pipeline.from_config(config, merged) as pipeline:
        cfg = pipeline.settings.server
        if not cfg.api_keys and not _is_loopback(cfg.host):
            log.warning("serving on %s with no server.api_keys: anyone who can reach it can read and "
                        "ingest; configure keys or bind 127.0.0.1", cfg.host)
        app = create_app(pipeline, cfg)
        log.info("mmrag server on http://%s:%d (profile %s)", cfg.host, cfg.port, pipeline.settings.profile)
        uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="info", access_log=False)
    return 0
