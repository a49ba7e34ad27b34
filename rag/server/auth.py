"""API keys: ``Authorization: Bearer KEY``, each key bound to one tenant.

With no keys configured the server is open (meant for loopback use): requests act as the
``default`` tenant for ingest and see every tenant's documents.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from rag.config import ServerConfig

OPEN_TENANT = "default"


class AuthError(Exception):
    """Missing or unknown API key (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    tenant: str
    """Ingest is tagged with this tenant."""
    restricted: bool
    """Whether search, ask, jobs and deletes are limited to ``tenant`` (False only in open mode)."""

    @property
    def search_tenant(self) -> str | None:
        """The tenant filter for retrieval: ``None`` (all) in open mode."""
        return self.tenant if self.restricted else None


class KeyRing:
    """Resolves bearer tokens to principals in constant time per key."""

    def __init__(self, cfg: ServerConfig) -> None:
        self._keys = [(key.encode(), tenant) for key, tenant in cfg.api_keys.items()]
        for key, tenant in self._keys:
            if not key.strip() or not tenant.strip():
                raise ValueError("server.api_keys: keys and tenants must be non-empty strings")

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal for an ``Authorization`` header value; raises :class:`AuthError`."""
        if not self._keys:
            return Principal(OPEN_TENANT, restricted=False)
        if not authorization:
            raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("malformed Authorization header: expected 'Bearer <key>'")
        given = token.strip().encode()
        tenant: str | None = None
        for key, owner in self._keys:  # compare against every key: timing reveals nothing
            if hmac.compare_digest(given, key):
                tenant = owner
        if tenant is None:
            raise AuthError("invalid API key")
        return Principal(tenant, restricted=True)
