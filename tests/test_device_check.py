"""The prepared GPU run (``scripts/device_check.sh``) and the page images it carries instead of
PyMuPDF (``scripts/bench_embed.py --save-pages`` / ``--pages-dir``)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench_embed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_embed", ROOT / "scripts" / "bench_embed.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_saved_pages_read_back_as_the_rendered_pages(tmp_path: Path) -> None:
    bench = _bench_embed()
    written = bench.save_pages(tmp_path / "pages", 2)
    assert [p.name for p in written] == ["page-001.png", "page-002.png"]
    loaded = bench.load_pages(tmp_path / "pages", 2)
    for made, read in zip(bench.make_pages(2), loaded, strict=True):
        assert np.array_equal(np.asarray(made), np.asarray(read))  # PNG is lossless


def test_too_few_saved_pages_is_an_error_naming_the_folder(tmp_path: Path) -> None:
    bench = _bench_embed()
    bench.save_pages(tmp_path, 1)
    with pytest.raises(SystemExit, match=f"{tmp_path} holds 1 page images, --pages asks for 3"):
        bench.load_pages(tmp_path, 3)


def test_device_check_refuses_to_run_off_the_device_and_without_a_mode() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    run = subprocess.run(["bash", str(ROOT / "scripts" / "device_check.sh"), "run"], env=env,
                         capture_output=True, text=True, check=False)
    assert run.returncode != 0 and "$OUT is unset" in run.stderr
    bare = subprocess.run(["bash", str(ROOT / "scripts" / "device_check.sh")], capture_output=True, text=True,
                          check=False)
    assert bare.returncode == 2 and "usage" in bare.stderr


@pytest.mark.slow
def test_the_e5v_sized_benchmark_runs_its_gpu_code_path_on_a_cpu(tiny_llava_dir: Path) -> None:
    """The device run's own code (E5-V's config, processor, random build, FLOP floor) on a shrunk text
    model, so a transformers change breaks here and not in the few minutes of a lent GPU."""
    from rag.backend_settings import E5VEmbedConfig

    bench = _bench_embed()
    row = bench.bench_e5v_sized(tiny_llava_dir, E5VEmbedConfig(), bench.make_chunks(2), [], 1, 989.0,
                                device="cpu", dtype_name="float32", num_hidden_layers=1, hidden_size=256,
                                intermediate_size=512, num_attention_heads=4, num_key_value_heads=4)
    assert row.chunks_per_s and row.chunks_per_s > 0
    assert row.floor_chunks_per_s and row.floor_chunks_per_s > row.chunks_per_s
    assert row.tokens_per_chunk and row.tokens_per_chunk > 100  # ~150 words in the E5-V prompt
