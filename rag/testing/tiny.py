"""Tiny, randomly initialised checkpoints of the real architectures, built locally for tests.

:func:`build_tiny_llava` writes a LLaVA-NeXT checkpoint (the architecture of ``royokong/e5-v``)
that loads through the same code as the real model — ``LlavaNextForConditionalGeneration`` /
``LlavaNextProcessor.from_pretrained`` in transformers, and vLLM's OpenAI server — but has about
0.6 M parameters and builds in seconds. Nothing is downloaded.

Command line: ``python -m rag.testing.tiny DEST``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

BUILD_VERSION = 1
"""Bump when the checkpoint's recipe changes: the marker then no longer matches and it is rebuilt."""
MARKER = ".mmrag-tiny-complete"

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
IMAGE_SIDE = 112
PATCH = 14
GRID_PINPOINTS = [[112, 112], [112, 224], [224, 112], [224, 224]]

LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<image>\\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] | trim }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
"""Llama-3's chat format (as E5-V's tokenizer has it), plus a BOS at the start: vLLM's chat path
adds no special tokens, so the template carries the BOS that the plain-text path gets from the
tokenizer. ``<|...|>`` markers are plain text for the tiny tokenizer."""

_WORD_TEXT = (
    "the a report table figure page revenue cost quarter year chart image document invoice contract "
    "policy sales growth margin total net profit loss customer supplier product service region team "
    "summary above sentence word one in of and to for with on by from is are was were shows lists "
    "increase decrease north south east west market share price volume risk audit plan budget "
    "dog cat grass snow red blue green large small first second third new old user assistant system"
)
_WORDS = _WORD_TEXT.split()
_PROMPT_PIECES = [
    "<|start_header_id|>user<|end_header_id|>\n\n",
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n \n",
    "\nSummary above sentence in one word: ",
    "\nSummary above image in one word: ",
    "Answer the question using only the evidence below.",
]


def _corpus(seed: int, n: int = 3000) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        words = rng.choices(_WORDS, k=rng.randint(4, 14))
        line = " ".join(words).capitalize() + rng.choice([".", "?", "!", ":"])
        if i % 5 == 0:
            line += f" {rng.randint(0, 99999)} {rng.random():.2f}%"
        lines.append(line)
    lines.extend(_PROMPT_PIECES * 50)
    return lines


def _build_tokenizer(seed: int) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=640, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_corpus(seed), trainer=trainer)
    bos_id = tok.token_to_id("<s>")
    # Like Llama's tokenizers: a BOS in front of every encoded text.
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos_id)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"}, chat_template=LLAMA3_CHAT_TEMPLATE,
        padding_side="left", model_max_length=4096,
    )


def _rename_vision_tower_keys(weights: Path) -> int:
    """transformers saves the CLIP tower as ``vision_tower.embeddings.*``; vLLM wants
    ``vision_tower.vision_model.*``. transformers loads either. Returns the keys renamed."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    renamed: dict[str, object] = {}
    count = 0
    for key, value in tensors.items():
        head, sep, rest = key.partition("vision_tower.")
        if sep and not rest.startswith("vision_model."):
            key = f"{head}vision_tower.vision_model.{rest}"
            count += 1
        renamed[key] = value
    save_file(renamed, str(weights), metadata={"format": "pt"})  # type: ignore[arg-type]
    return count


def _fingerprint(seed: int) -> str:
    return json.dumps({"version": BUILD_VERSION, "seed": seed, "kind": "llava-next"}, sort_keys=True)


def is_complete(dest: Path, *, seed: int = 0) -> bool:
    """True when ``dest`` holds a finished build of this recipe and seed."""
    marker = Path(dest) / MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8") == _fingerprint(seed)


def _write_checkpoint(out: Path, seed: int) -> None:
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
    )
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    tokenizer = _build_tokenizer(seed)
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    assert isinstance(image_token_id, int)
    text_config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    vision_config = CLIPVisionConfig(
        image_size=IMAGE_SIDE, patch_size=PATCH, hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=2, projection_dim=64,
    )
    config = LlavaNextConfig(
        text_config=text_config.to_dict(), vision_config=vision_config.to_dict(),
        image_token_index=image_token_id, image_grid_pinpoints=GRID_PINPOINTS,
        vision_feature_layer=-2, vision_feature_select_strategy="default", projector_hidden_act="gelu",
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlavaNextForConditionalGeneration(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    renamed = _rename_vision_tower_keys(out / "model.safetensors")
    logger.debug("renamed %d vision tower keys", renamed)

    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": IMAGE_SIDE}, crop_size={"height": IMAGE_SIDE, "width": IMAGE_SIDE},
        image_grid_pinpoints=GRID_PINPOINTS,
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
        vision_feature_select_strategy="default", chat_template=LLAMA3_CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    processor.save_pretrained(out)  # image_processor_type "LlavaNextImageProcessor", as E5-V's


def build_tiny_llava(dest: Path, *, seed: int = 0) -> Path:
    """Build a tiny random LLaVA-NeXT checkpoint (Llama text model: hidden 128, 2 layers; CLIP
    vision: 112 px, patch 14, hidden 64, 2 layers; anyres grid up to 224 px) with a byte-level BPE
    tokenizer trained here, into ``dest``; return ``dest``.

    Deterministic for a seed. Idempotent: a finished build (marker file) is left as it is. The
    build happens in a sibling temporary folder that is renamed into place, so concurrent builders
    and interrupted builds never leave a half-written checkpoint behind.
    """
    dest = Path(dest)
    if is_complete(dest, seed=seed):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        _write_checkpoint(work, seed)
        (work / MARKER).write_text(_fingerprint(seed), encoding="utf-8")
        work.chmod(0o755)  # mkdtemp makes it private
        for path in work.iterdir():
            path.chmod(0o644)
        if dest.exists():
            if is_complete(dest, seed=seed):  # another process finished first
                return dest
            shutil.rmtree(dest)
        os.replace(work, dest)
        logger.info("built tiny LLaVA-NeXT checkpoint in %s", dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def checkpoint_digest(dest: Path) -> str:
    """SHA-256 over the files of a checkpoint (names and bytes), to compare two builds."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(dest).rglob("*") if p.is_file()):
        digest.update(path.relative_to(dest).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    """``python -m rag.testing.tiny DEST [--seed N]``: build the checkpoint, print its folder."""
    parser = argparse.ArgumentParser(prog="python -m rag.testing.tiny", description=main.__doc__)
    parser.add_argument("dest", type=Path, help="folder to build the checkpoint into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("%s", build_tiny_llava(args.dest, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
