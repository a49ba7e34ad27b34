"""Ingest paths must stay inside ``server.ingest_roots``: no ``..``, no symlink leading out.

A root may hold ``{tenant}`` (``/data/{tenant}``): each key then ingests only from its tenant's folder.

:func:`check_ingest_path` is the early answer (403/404 before a job is queued). It cannot be the
only guard: links can be chained (``sub/link -> ../other``, ``other/evil -> /elsewhere``) and the tree
can change after the check. The job's discovery therefore confines again, by real path at every
entry, to the tenant's resolved roots (:func:`ingest.discover.discover` with ``within``), and parsing
refuses a file whose bytes no longer match the hash taken at discovery.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


class PathRefused(Exception):
    """A path outside the ingest roots (HTTP 403)."""


class PathMissing(Exception):
    """A path that does not exist (HTTP 404)."""


TENANT = "{tenant}"
"""Placeholder in an ingest root replaced by the caller's tenant: ``/data/{tenant}`` gives every
tenant a folder of its own, so no key can ingest (and then read) another tenant's files."""


def resolve_roots(roots: Sequence[str], tenant: str) -> list[Path]:
    """The configured roots for ``tenant``: placeholder filled, absolute, symlinks resolved."""
    return [Path(r.replace(TENANT, tenant)).expanduser().resolve() for r in roots]


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def check_ingest_path(raw: str, roots: Sequence[Path], max_entries: int = 200_000) -> Path:
    """The resolved path of ``raw`` if it and everything under it stays inside ``roots``.

    Relative paths are taken relative to the first root. Refused: empty roots, any ``..`` part, a
    path resolving outside every root, and a folder holding a symlink that resolves outside (discovery
    follows symlinks, so the whole tree is checked, up to ``max_entries`` entries).
    """
    if not roots:
        raise PathRefused("ingest over HTTP is disabled: server.ingest_roots is empty")
    if "\x00" in raw or not raw.strip():
        raise PathRefused(f"invalid path {raw!r}")
    given = Path(raw).expanduser()
    if ".." in given.parts:
        raise PathRefused(f"{raw}: '..' is not allowed in ingest paths")
    candidate = given if given.is_absolute() else roots[0] / given
    if not _inside(Path(os.path.abspath(candidate)), roots):
        raise PathRefused(f"{raw}: outside the ingest roots")
    resolved = candidate.resolve()
    if not _inside(resolved, roots):
        raise PathRefused(f"{raw}: resolves (through a symlink) outside the ingest roots")
    if not resolved.exists():
        raise PathMissing(f"{raw}: no such file or folder")
    if resolved.is_dir():
        _check_tree(raw, resolved, roots, max_entries)
    return resolved


def _check_tree(raw: str, top: Path, roots: Sequence[Path], max_entries: int) -> None:
    seen = 0
    for folder, dirs, files in os.walk(top, followlinks=False):
        for name in (*dirs, *files):
            seen += 1
            if seen > max_entries:
                raise PathRefused(f"{raw}: more than {max_entries} entries; ingest smaller folders")
            entry = Path(folder) / name
            if entry.is_symlink() and not _inside(entry.resolve(), roots):
                raise PathRefused(f"{raw}: {entry.relative_to(top)} is a symlink leading outside "
                                  "the ingest roots")
