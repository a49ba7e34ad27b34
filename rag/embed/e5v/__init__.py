"""E5-V (``royokong/e5-v``): :mod:`.recipe` (prompts, image fitting, the space id; no torch) and
:mod:`.transformers` (the in-process runner, backend ``e5v``). The vLLM pooling runner is
:mod:`rag.embed.vllm_pool` (backend ``vllm``)."""

from rag.embed.e5v.recipe import DEFAULT_MODEL, fit_image, image_prompt, plan_batches, space_id, text_prompt
from rag.embed.e5v.transformers import E5VEmbedder

__all__ = ["DEFAULT_MODEL", "E5VEmbedder", "fit_image", "image_prompt", "plan_batches", "space_id", "text_prompt"]
