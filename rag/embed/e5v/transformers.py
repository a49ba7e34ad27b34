"""E5-V in process on transformers: text and images in one space (the recipe: :mod:`.recipe`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from rag.backend_settings import E5VEmbedConfig
from rag.embed.e5v.recipe import DEFAULT_MODEL, E5VSpace, fit_image, image_prompt, plan_batches, text_prompt
from rag.errors import ConfigError, EmbedError, MissingPartError

if TYPE_CHECKING:
    import torch
    from transformers import BatchFeature, LlavaNextForConditionalGeneration, LlavaNextProcessor

logger = logging.getLogger(__name__)


def _missing_weights(model: str, exc: BaseException) -> MissingPartError:
    logger.debug("loading %s failed: %r", model, exc)
    path = Path(model).expanduser()
    if path.is_dir():
        return MissingPartError(
            f"{path} does not hold a complete LLaVA-NeXT checkpoint (config.json, weights, tokenizer and "
            "processor files): copy the whole model folder there or point embed.model at one that has them.")
    if model.startswith((".", "/", "~")) or path.exists():
        return MissingPartError(f"no model folder at {path}: set embed.model to the folder that holds the "
                                "E5-V weights, or to the Hub id royokong/e5-v.")
    return MissingPartError(
        f"the E5-V weights {model!r} are not on this machine and the Hugging Face Hub cannot be reached: "
        f"download them where there is network (`hf download {model}`) and copy the folder here, then "
        "set embed.model to that folder (or HF_HOME to the cache that holds it).")


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("embed.device is 'cuda' but torch sees no GPU; set embed.device: cpu or auto")
    return device


def _resolve_dtype(dtype: str, device: str) -> torch.dtype:
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    resolved: torch.dtype = getattr(torch, dtype)
    return resolved


class E5VEmbedder(E5VSpace):
    """E5-V on transformers. Build with :meth:`from_config` (or :meth:`load`), once, at start-up.

    Inputs are batched under a token budget (``batch_tokens``, padded length times batch size),
    longest first to cut padding, and returned in input order; texts and images are never mixed in
    one batch (an image costs hundreds to thousands of tokens). Padding is on the left, so the last
    position is always the prompt's last token.
    """

    def __init__(
        self,
        model: LlavaNextForConditionalGeneration,
        processor: LlavaNextProcessor,
        *,
        model_name: str = DEFAULT_MODEL,
        batch_tokens: int = 4096,
        max_batch: int = 32,
        image_side: int = 672,
    ) -> None:
        if batch_tokens < 1:
            raise ValueError(f"batch_tokens must be >= 1, got {batch_tokens}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if image_side < 14:
            raise ValueError(f"image_side must be >= 14, got {image_side}")
        self._model = model.eval()
        self._processor = processor
        self._processor.tokenizer.padding_side = "left"
        self._model_name = model_name
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.image_side = image_side
        text_config: Any = model.config.text_config
        self._dim = int(text_config.hidden_size)

    @classmethod
    def from_config(cls, cfg: E5VEmbedConfig) -> E5VEmbedder:
        """Registry factory (backend ``e5v``)."""
        return cls.load(cfg.model or DEFAULT_MODEL, device=cfg.device, dtype=cfg.dtype,
                        quantization=cfg.quantization, batch_tokens=cfg.batch_tokens,
                        max_batch=cfg.max_batch, image_side=cfg.image_side)

    @classmethod
    def load(
        cls,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "auto",
        dtype: str = "auto",
        quantization: str = "none",
        batch_tokens: int = 4096,
        max_batch: int = 32,
        image_side: int = 672,
    ) -> E5VEmbedder:
        """Load weights and processor from a Hub id or a local folder.

        Raises :class:`MissingPartError` when torch/transformers, bitsandbytes (for 4/8-bit) or the
        weights are not there."""
        try:
            import torch  # noqa: F401
            from transformers import LlavaNextForConditionalGeneration, LlavaNextProcessor
        except ImportError as exc:
            raise MissingPartError(f"the E5-V embedder needs torch and transformers ({exc.name} is missing): "
                                   "pip install 'mmrag[models]'") from None
        resolved_device = _resolve_device(device)
        torch_dtype = _resolve_dtype(dtype, resolved_device)
        kwargs: dict[str, Any] = {"dtype": torch_dtype}
        if quantization != "none":
            kwargs.update(_quantization_kwargs(quantization, resolved_device, torch_dtype))
        started = time.perf_counter()
        try:  # the processor comes first: a bad Hub id or path fails here (ValueError, OSError)
            processor = LlavaNextProcessor.from_pretrained(model)
        except (OSError, ValueError) as exc:
            raise _missing_weights(model, exc) from None
        try:
            llava = LlavaNextForConditionalGeneration.from_pretrained(model, **kwargs)
        except OSError as exc:  # no weight files
            raise _missing_weights(model, exc) from None
        if "device_map" not in kwargs:
            llava = llava.to(resolved_device)  # type: ignore[arg-type]
        logger.info("loaded E5-V %s on %s (%s, quantization %s) in %.1f s", model, resolved_device,
                    torch_dtype, quantization, time.perf_counter() - started)
        return cls(llava, processor, model_name=model, batch_tokens=batch_tokens, max_batch=max_batch,
                   image_side=image_side)

    # -- Embedder protocol (id, dim, embeds_images, embed_queries: E5VSpace) -----------------------

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Passages under E5-V's text prompt. Shape (n, dim), float32, unit rows."""
        prompts = [text_prompt(t) for t in texts]
        tokenizer = self._processor.tokenizer
        costs = [len(ids) for ids in tokenizer(prompts)["input_ids"]] if prompts else []
        return self._run(costs, lambda idx: self._processor(text=[prompts[i] for i in idx],
                                                            return_tensors="pt", padding=True))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images under E5-V's image prompt, longest side fitted to ``image_side``. Shape (n, dim)."""
        fitted = [fit_image(im, self.image_side) for im in images]
        prompt = image_prompt()
        costs = self._image_costs(prompt, fitted)
        return self._run(costs, lambda idx: self._processor(text=[prompt] * len(idx),
                                                            images=[fitted[i] for i in idx],
                                                            return_tensors="pt", padding=True))

    # -- internals --------------------------------------------------------------------------------

    def _image_costs(self, prompt: str, images: Sequence[Image.Image]) -> list[int]:
        """Tokens of each image's prompt once its ``<image>`` is expanded to the image's features."""
        if not images:
            return []
        text_tokens = len(self._processor.tokenizer(prompt)["input_ids"]) - 1
        sizes = [[im.height, im.width] for im in images]
        try:
            features = list(self._processor._get_num_multimodal_tokens(image_sizes=sizes).num_image_tokens)
        except (AttributeError, TypeError):  # private transformers API: fall back to the processor
            features = [len(self._processor(text=[prompt], images=[im])["input_ids"][0]) - text_tokens
                        for im in images]
        return [text_tokens + int(f) for f in features]

    def _run(self, costs: list[int], build: Callable[[list[int]], BatchFeature]) -> np.ndarray:
        out = np.zeros((len(costs), self.dim), dtype=np.float32)  # (n, dim)
        for batch in plan_batches(costs, budget=self.batch_tokens, max_batch=self.max_batch):
            inputs: BatchFeature = build(batch)
            out[batch] = self._forward(inputs)
        return out

    def _forward(self, inputs: BatchFeature) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        device = self._model.device
        tensors = {k: v.to(device) for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        if "pixel_values" in tensors:
            tensors["pixel_values"] = tensors["pixel_values"].to(self._model.dtype)  # (b, patches, 3, h, w)
        mask = tensors["attention_mask"]  # (batch, seq), left padded
        # Positions count real tokens only, so a padded row sees what it would see alone.
        position_ids = (mask.long().cumsum(-1) - 1).clamp(min=0)  # (batch, seq)
        try:
            with torch.inference_mode():
                # The base model's last hidden state IS hidden_states[-1] of the reference recipe
                # (after the final norm), without the LM head's logits over the vocabulary.
                out = self._model.model(**tensors, position_ids=position_ids)
                hidden = out.last_hidden_state  # (batch, seq, dim)
                last = hidden[:, -1, :]  # (batch, dim)
                vecs = F.normalize(last.float(), dim=-1)  # (batch, dim)
        except RuntimeError as exc:
            raise EmbedError(f"E5-V forward pass failed on a batch of {mask.shape[0]} "
                             f"x {mask.shape[1]} tokens: {exc}") from exc
        return vecs.cpu().numpy()


def _quantization_kwargs(quantization: str, device: str, compute_dtype: torch.dtype) -> dict[str, Any]:
    if device != "cuda":
        raise ConfigError(f"embed.quantization is {quantization!r} but the device is {device!r}: "
                          "bitsandbytes quantization needs a GPU; set embed.quantization: none")
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise MissingPartError(f"embed.quantization {quantization!r} needs bitsandbytes: "
                               "pip install 'mmrag[gpu]'") from None
    if quantization == "4bit":
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=compute_dtype,
                                    bnb_4bit_quant_type="nf4")
    elif quantization == "8bit":
        config = BitsAndBytesConfig(load_in_8bit=True)
    else:
        raise ConfigError(f"embed.quantization must be none, 4bit or 8bit, got {quantization!r}")
    return {"quantization_config": config, "device_map": {"": 0}}
