"""Registries of backends keyed by name. Adding a backend is a module plus one ``register`` line.

The class is :class:`ingest.backends.Registry`, shared with ``ingest`` (OCR engines)."""

from __future__ import annotations

from ingest.backends import Entry, Registry

__all__ = ["Entry", "Registry"]
