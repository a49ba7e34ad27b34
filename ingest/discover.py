"""Discovery: walk the given paths and sort every file into ingestable, skipped or failed."""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ingest.config import IngestConfig
from ingest.formats import unsupported_reason
from ingest.records import FileFailure, FileInfo

log = logging.getLogger(__name__)

_HASH_BLOCK = 1 << 20


class Discovery(BaseModel):
    """What a walk found: files to parse, files skipped on purpose, files that failed."""

    model_config = ConfigDict(extra="forbid")

    files: list[FileInfo] = Field(default_factory=list)
    """Ingestable files: absolute resolved paths, sorted, each once."""
    skipped: list[FileFailure] = Field(default_factory=list)
    """Files left out on purpose: unsupported type, excluded by a pattern, too large."""
    failed: list[FileFailure] = Field(default_factory=list)
    """Paths that could not be read: missing, unreadable, symlink loop, non-UTF-8 name, or a given
    path outside the allowed folders."""


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _shown(path: str | Path) -> str:
    """A path safe to print and store: undecodable bytes of the name become U+FFFD."""
    return os.fsencode(path).decode("utf-8", errors="replace")


def _utf8_ok(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes: the name's bytes are not UTF-8
        return False
    return True


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


class _Walker:
    def __init__(self, cfg: IngestConfig, within: Sequence[Path] | None) -> None:
        self.cfg = cfg
        self.within = within
        self.out = Discovery()
        self.seen_files: set[str] = set()
        self.include = [p.lower() for p in cfg.include]
        self.exclude = [p.lower() for p in cfg.exclude]

    def _excluded(self, name: str) -> str | None:
        return next((p for p in self.exclude if fnmatch.fnmatchcase(name.lower(), p)), None)

    def fail(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.out.failed.append(FileFailure(path=_shown(path), reason=reason, detail=detail))

    def skip(self, path: str | Path, reason: str) -> None:
        self.out.skipped.append(FileFailure(path=_shown(path), reason=reason))

    def visit(self, path: Path, ancestors: frozenset[tuple[int, int]], root: Path | None) -> None:
        """Sort ``path`` (a given path when ``root`` is None, else an entry found under ``root``,
        the real path of the given folder it was found in)."""
        if not _utf8_ok(str(path)):
            self.fail(path, "non-UTF-8 file name")
            return
        if root is not None and (pattern := self._excluded(path.name)):
            self.skip(path, f"excluded by pattern {pattern!r}")
            return
        try:
            st = path.stat()  # follows symlinks
        except FileNotFoundError:
            self.fail(path, "broken symlink" if path.is_symlink() else "missing path")
            return
        except OSError as exc:  # ELOOP for a symlink cycle, EACCES, ...
            reason = "symlink loop" if exc.errno == errno.ELOOP else "unreadable"
            self.fail(path, reason, exc.strerror or str(exc))
            return
        # Confinement by real path, checked at every entry before it is read or walked: a link
        # chain (sub/link -> ../other, other/evil -> /elsewhere) cannot lead a walk out of the
        # folder it was given, however many hops it takes.
        real = Path(os.path.realpath(path))
        if root is None:
            if self.within is not None and not _inside(real, self.within):
                self.fail(path, "outside the allowed folders")
                return
            root = real
        elif not _inside(real, [root]):
            self.skip(path, f"symlink leads outside {_shown(root)}")
            return
        if stat.S_ISDIR(st.st_mode):
            self._walk_dir(path, st, ancestors, root)
        elif stat.S_ISREG(st.st_mode):
            self._file(path, st, real)
        else:
            self.skip(path, "not a regular file")

    def _walk_dir(self, path: Path, st: os.stat_result, ancestors: frozenset[tuple[int, int]],
                  root: Path) -> None:
        key = (st.st_dev, st.st_ino)
        if key in ancestors:
            # A symlink pointing back up the tree: following it would never end.
            self.fail(path, "symlink loop", "links back to a folder above it")
            return
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            self.fail(path, "unreadable", exc.strerror or str(exc))
            return
        for entry in entries:
            self.visit(Path(entry.path), ancestors | {key}, root)

    def _file(self, path: Path, st: os.stat_result, resolved: Path) -> None:
        if str(resolved) in self.seen_files:  # the same file through a second link or root
            return
        if not any(fnmatch.fnmatchcase(path.name.lower(), p) for p in self.include):
            self.skip(resolved, unsupported_reason(path.suffix) or f"not included by {self.cfg.include}")
            return
        if reason := unsupported_reason(path.suffix):
            self.skip(resolved, reason)
            return
        limit = self.cfg.max_file_mb * 1024 * 1024
        if st.st_size > limit:
            self.skip(resolved, f"too large ({st.st_size / 2**20:.1f} MB > {self.cfg.max_file_mb:g} MB)")
            return
        try:
            digest = sha256_file(resolved)
        except OSError as exc:
            self.fail(resolved, "unreadable", exc.strerror or str(exc))
            return
        self.seen_files.add(str(resolved))
        self.out.files.append(FileInfo(path=str(resolved), size=st.st_size, mtime=st.st_mtime, sha256=digest))


def discover(paths: Sequence[Path], cfg: IngestConfig, within: Sequence[Path] | None = None) -> Discovery:
    """Find the files under ``paths`` (files or folders, walked recursively).

    Symlinks are followed while they stay inside: every file and folder found under a given path
    must have its real path (all links resolved) under that path's real path; a link leading out
    is skipped with a reason, not followed. With ``within`` (the caller's allowed folders, e.g. a
    tenant's ingest roots) a given path whose real path lies outside all of them fails. Loops are
    detected and reported; include patterns match the file name, exclude patterns the file name
    or any folder name below a given root. Each file is hashed (SHA-256) here, so
    ``Manifest.diff`` can compare contents.
    """
    walker = _Walker(cfg, None if within is None else [Path(os.path.realpath(w)) for w in within])
    for p in paths:
        walker.visit(Path(os.path.abspath(p)), frozenset(), root=None)
    out = walker.out
    out.files.sort(key=lambda f: f.path)
    out.skipped.sort(key=lambda f: f.path)
    out.failed.sort(key=lambda f: f.path)
    log.info("discovered %d file(s), skipped %d, failed %d",
             len(out.files), len(out.skipped), len(out.failed))
    return out
