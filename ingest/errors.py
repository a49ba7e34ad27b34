"""The exception hierarchy shared by every layer.

It lives in ``ingest`` because ``ingest`` is the lowest layer and must not import ``rag``;
``rag.errors`` re-exports it and adds the model and store errors.
"""

from __future__ import annotations


class MmragError(Exception):
    """Base of every error mmrag raises on purpose."""


class ConfigError(MmragError):
    """A configuration key or value is wrong, or a configured part is missing."""


class IngestError(MmragError):
    """A file could not be turned into items. ``reason`` is a short machine-readable cause."""

    def __init__(self, path: str, reason: str, detail: str = "") -> None:
        self.path = path
        self.reason = reason
        self.detail = detail
        msg = f"{path}: {reason}" + (f" ({detail})" if detail else "")
        super().__init__(msg)
