"""Errors raised by the ``rag`` layer. The base classes live in :mod:`ingest.errors`."""

from __future__ import annotations

from ingest.errors import ConfigError, IngestError, MmragError


class EmbedError(MmragError):
    """An embedder failed to load or to embed."""


class StoreError(MmragError):
    """The vector store refused an operation, or holds an index made by another embedder."""


class GenerateError(MmragError):
    """The generation endpoint failed or returned something unusable."""


class MissingPartError(ConfigError):
    """A part the profile needs is not there (a package, weights, a server). One sentence says what to do."""


__all__ = [
    "ConfigError",
    "EmbedError",
    "GenerateError",
    "IngestError",
    "MissingPartError",
    "MmragError",
    "StoreError",
]
