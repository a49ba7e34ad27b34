"""An on-disk embedding cache keyed by (embedder id, content hash).

Re-ingesting unchanged content, re-running an evaluation or rebuilding an index with the same
embedder then costs a lookup instead of a forward pass.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from rag.embed.base import Embedder, EmbedderWrapper


def _text_key(prefix: str, text: str) -> str:
    return hashlib.sha256(f"{prefix}\x00{text}".encode()).hexdigest()


def _image_key(image: Image.Image) -> str:
    h = hashlib.sha256(f"img\x00{image.mode}\x00{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


class CachedEmbedder(EmbedderWrapper):
    """Wraps an :class:`Embedder`; vectors are stored as float32 blobs in SQLite."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        super().__init__(inner)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # No fsync per commit (the WAL is synced at checkpoints): a search that misses writes its
        # query vector, and a sync there cost ~8 ms of each search. A crash may lose the last
        # vectors written, never the database: they are computed again.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (embedder TEXT, key TEXT, vec BLOB, "
                         "PRIMARY KEY (embedder, key))")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _cached(self, keys: list[str], compute: Callable[[list[int]], np.ndarray]) -> np.ndarray:
        out = np.zeros((len(keys), self.dim), dtype=np.float32)  # (n, dim)
        with self._lock:
            found: dict[str, bytes] = {}
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                rows = self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE embedder=? AND key IN ({','.join('?' * len(chunk))})",
                    [self.id, *chunk]).fetchall()
                found.update(rows)
        missing = [i for i, k in enumerate(keys) if k not in found]
        for i, k in enumerate(keys):
            if k in found:
                out[i] = np.frombuffer(found[k], dtype=np.float32)
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            vecs = compute(missing)  # (len(missing), dim)
            out[missing] = vecs
            with self._lock, self._db:
                self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                                     [(self.id, keys[i], vecs[j].astype(np.float32).tobytes())
                                      for j, i in enumerate(missing)])
        return out

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached([_text_key("passage", t) for t in texts],
                            lambda idx: self.inner.embed_texts([texts[i] for i in idx]))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached([_text_key("query", t) for t in texts],
                            lambda idx: self.inner.embed_queries([texts[i] for i in idx]))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._cached([_image_key(im) for im in images],
                            lambda idx: self.inner.embed_images([images[i] for i in idx]))

    def close(self) -> None:
        self._db.close()
