"""Embed the items of many files together: batches cross file boundaries, sorted by length.

:class:`CrossFileBatcher` takes parsed files, whole or in parts (:class:`~ingest.parts.FilePart`:
a long PDF's page ranges), one at a time (:meth:`~CrossFileBatcher.add`) and holds their items;
:meth:`~CrossFileBatcher.flush` embeds everything held in batches of ``batch_size``, texts sorted
by length (so a batch pads little) and mixed across files, and hands back every file whose vectors
are now all in and whose last part has come, in the order the files came. A file is never split
between results: it comes back whole (all its vectors) or failed, so the caller stores it in one
step and records it afterwards, exactly as when files were embedded one at a time. A file's first
part coming again (parsing started over) or :meth:`~CrossFileBatcher.drop` discards what is held.

A batch that fails with an :class:`~rag.errors.MmragError` is embedded again file by file, so
only the file whose texts really fail is failed; an unreadable image fails its own file.

Page items whose vector is the mean of their page's chunk vectors (``embed.page_vector: chunks``,
:func:`rag.indexing.plan_texts`) are not embedded: each is filled at the end of the flush that
embedded its page's chunks (a part holds whole pages, so they come in the same :meth:`add`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ingest.parts import FilePart, whole
from ingest.records import Document, Item, PageWarning, ParsedFile
from rag.embed.base import Embedder
from rag.errors import MmragError
from rag.indexing import (
    WHOLE_TEXT,
    PageVectorRule,
    load_item_image,
    max_tokens_of,
    mean_vector,
    plan_texts,
    split_items,
    token_head_of,
)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class FileVectors:
    """One file on its way through the batcher: its items (of the parts come so far) split by how
    they are embedded and the vectors found so far (rows of shape (dim,)), or the error that failed
    it."""

    document: Document
    as_text: list[Item]
    as_image: list[Item]
    text_vecs: list[np.ndarray | None] = field(default_factory=list)
    image_vecs: list[np.ndarray | None] = field(default_factory=list)
    text_embedded_as: list[str] = field(default_factory=list)
    """What each text point records as ``embedded_as`` (parallel to ``as_text``)."""
    error: MmragError | None = None
    left: int = 0
    """Vectors still missing."""
    complete: bool = True
    """Whether the file's last part has come."""
    warnings: list[PageWarning] = field(default_factory=list)
    items: int = 0
    """Items of the parts come so far (embedded or not)."""
    dropped: bool = False
    """Discarded (parsing failed or started over): never handed back."""

    @property
    def done(self) -> bool:
        return self.error is not None or (self.complete and self.left == 0)


@dataclass(eq=False)
class _Job:
    file: FileVectors
    index: int  # into file.as_text or file.as_image
    text: str = ""
    members: list[int] = field(default_factory=list)  # a mean's: indexes into file.as_text


class CrossFileBatcher:
    """Holds parsed files' items and embeds them across files (see the module doc)."""

    def __init__(self, embedder: Embedder, batch_size: int,
                 on_batch: Callable[[], None] | None = None,
                 page_vector: PageVectorRule = WHOLE_TEXT) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.embedder = embedder
        self.batch_size = batch_size
        self.page_vector = page_vector
        self._window = max_tokens_of(embedder)
        self._head = token_head_of(embedder)
        self._files: list[FileVectors] = []  # held, in arrival order
        self._by_path: dict[str, FileVectors] = {}  # files held, by path
        self._failed: set[str] = set()  # failed before their last part: later parts are ignored
        self._texts: list[_Job] = []
        self._images: list[_Job] = []
        self._means: list[_Job] = []  # page vectors made from their page's chunk vectors
        self._on_batch = on_batch
        self.seconds = 0.0
        """Time spent inside the embedder's calls."""
        self.text_batches = 0
        self.image_batches = 0

    @property
    def pending(self) -> int:
        """Texts and images held, not yet embedded."""
        return len(self._texts) + len(self._images) + len(self._means)

    def add(self, parsed: ParsedFile | FilePart) -> list[FileVectors]:
        """Hold the items of ``parsed`` (a whole file or its next part) for the next flush; returns
        the files now done (it at once, when it is complete and has nothing to embed)."""
        part = whole(parsed) if isinstance(parsed, ParsedFile) else parsed
        path = part.document.path
        if path in self._failed:
            if part.index != 0:
                return []  # the rest of a file already handed back as failed
            self._failed.discard(path)
        fv = self._by_path.get(path)
        if fv is not None and part.index == 0:  # parsing started over: what is held is stale
            self.drop(path)
            fv = None
        if fv is None:
            fv = FileVectors(part.document, [], [], complete=False)
            self._files.append(fv)
            self._by_path[path] = fv
        as_text, as_image = split_items(part.items, self.embedder)
        t0, i0 = len(fv.as_text), len(fv.as_image)
        fv.as_text += as_text
        fv.as_image += as_image
        fv.text_vecs += [None] * len(as_text)
        fv.image_vecs += [None] * len(as_image)
        fv.left += len(as_text) + len(as_image)
        fv.items += len(part.items)
        fv.warnings += part.warnings
        fv.document = part.document
        fv.complete = part.last
        plan = plan_texts(as_text, self._window, self.page_vector, self._head)
        fv.text_embedded_as += plan.embedded_as
        self._texts += [_Job(fv, t0 + i, text) for i, text in enumerate(plan.texts) if text is not None]
        self._means += [_Job(fv, t0 + i, members=[t0 + j for j in own]) for i, own in plan.members.items()]
        self._images += [_Job(fv, i0 + i) for i in range(len(as_image))]
        return self._take_done()

    def drop(self, path: str) -> FileVectors | None:
        """Discard what is held of the file at ``path`` (its parsing failed or starts over); its
        texts still queued are skipped. Returns it, or None when none is held."""
        fv = self._by_path.pop(path, None)
        if fv is None:
            return None
        fv.dropped = True
        self._files = [f for f in self._files if f is not fv]
        self._texts = [j for j in self._texts if j.file is not fv]
        self._images = [j for j in self._images if j.file is not fv]
        self._means = [j for j in self._means if j.file is not fv]
        return fv

    def flush(self) -> list[FileVectors]:
        """Embed everything held; returns the files held (all of them now done), in arrival order."""
        texts, self._texts = sorted(self._texts, key=lambda j: len(j.text)), []
        for start in range(0, len(texts), self.batch_size):
            self._embed_texts(texts[start:start + self.batch_size])
        means, self._means = self._means, []
        self._fill_means(means)
        images, self._images = self._images, []
        for start in range(0, len(images), self.batch_size):
            self._embed_images(images[start:start + self.batch_size])
        return self._take_done()

    @staticmethod
    def _fill_means(jobs: list[_Job]) -> None:
        """Each job's vector: the mean of its members' (embedded in this flush; a file whose
        texts failed has its error and is skipped)."""
        for j in jobs:
            if j.file.error is not None:
                continue
            vecs = [j.file.text_vecs[m] for m in j.members]
            if any(v is None for v in vecs):  # cannot happen: a part holds its pages' chunks
                j.file.error = MmragError(f"{j.file.document.path}: page vector of item {j.index} "
                                          "before its chunks' vectors")
                continue
            j.file.text_vecs[j.index] = mean_vector([v for v in vecs if v is not None])
            j.file.left -= 1

    def _take_done(self) -> list[FileVectors]:
        """Hand back the files that are done, keeping arrival order among those still held."""
        done = [f for f in self._files if f.done]
        self._files = [f for f in self._files if not f.done]
        for f in done:
            self._by_path.pop(f.document.path, None)
            if not f.complete:
                self._failed.add(f.document.path)
        return done

    def _call(self, fn: Callable[[list[Any]], np.ndarray], inputs: list[Any]) -> np.ndarray:
        expect = len(inputs)
        t = time.perf_counter()
        try:
            vecs = fn(inputs)  # (expect, dim)
        finally:
            self.seconds += time.perf_counter() - t
        if vecs.shape[0] != expect:
            raise MmragError(f"embedder returned {vecs.shape[0]} rows for {expect} inputs")
        return vecs

    def _embed_texts(self, batch: list[_Job]) -> None:
        batch = [j for j in batch if j.file.error is None]
        if not batch:
            return
        try:
            vecs = self._call(self.embedder.embed_texts, [j.text for j in batch])
        except MmragError as exc:
            log.warning("a batch of %d texts of %d files failed (%s); embedding them file by file",
                        len(batch), len({id(j.file) for j in batch}), exc)
            self._per_file(batch)
        else:
            self._fill(batch, vecs, image=False)
        self.text_batches += 1
        if self._on_batch:
            self._on_batch()

    def _per_file(self, batch: list[_Job]) -> None:
        """Embed a failed batch's texts again, one file's at a time: fail only those that fail."""
        by_file: dict[int, list[_Job]] = {}
        for j in batch:
            by_file.setdefault(id(j.file), []).append(j)
        for jobs in by_file.values():
            try:
                vecs = self._call(self.embedder.embed_texts, [j.text for j in jobs])
            except MmragError as exc:
                jobs[0].file.error = exc
            else:
                self._fill(jobs, vecs, image=False)

    def _embed_images(self, batch: list[_Job]) -> None:
        loaded: list[tuple[_Job, Image.Image]] = []
        for j in batch:
            if j.file.error is not None:
                continue
            try:  # loaded only now, a batch at a time: renders stay on disk until their turn
                loaded.append((j, load_item_image(j.file.as_image[j.index])))
            except MmragError as exc:
                j.file.error = exc
        loaded = [(j, im) for j, im in loaded if j.file.error is None]
        if not loaded:
            return
        try:
            vecs = self._call(self.embedder.embed_images, [im for _, im in loaded])
        except MmragError as exc:
            log.warning("a batch of %d images failed (%s); embedding them file by file", len(loaded), exc)
            by_file: dict[int, list[tuple[_Job, Image.Image]]] = {}
            for pair in loaded:
                by_file.setdefault(id(pair[0].file), []).append(pair)
            for pairs in by_file.values():
                try:
                    part = self._call(self.embedder.embed_images, [im for _, im in pairs])
                except MmragError as exc2:
                    pairs[0][0].file.error = exc2
                else:
                    self._fill([j for j, _ in pairs], part, image=True)
        else:
            self._fill([j for j, _ in loaded], vecs, image=True)
        self.image_batches += 1
        if self._on_batch:
            self._on_batch()

    @staticmethod
    def _fill(jobs: list[_Job], vecs: np.ndarray, *, image: bool) -> None:
        for j, vec in zip(jobs, vecs, strict=True):
            (j.file.image_vecs if image else j.file.text_vecs)[j.index] = vec
            j.file.left -= 1
