#!/usr/bin/env bash
# The checks only a GPU can show, as one prepared run for a lent device machine (issue 14, and the
# E5-V figures docs/benchmarks.md still lacks). The device image has torch, transformers, numpy,
# pillow, tokenizers and PyYAML but not pydantic (mmrag's imports need it) nor PyMuPDF (its wheel alone
# is over the 64 MiB a run may carry), and it reaches no package index: the wheels and the page
# images, rendered here, travel with the working tree:
#
#   here, once:  scripts/device_check.sh wheels        # cp312 wheels and 16 pages into .whl/ (git-ignored, ~5 MB)
#   there:       the device tool's run with command "bash scripts/device_check.sh run",
#                carry [".whl"], timeout_s 480 (about 3 minutes of it on an H200)
#
# `run` writes everything to $OUT (device_check.log, bench_embed.txt) for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl
# Versions pinned to this project's venv, so the device runs the code's tested combination.
PKGS=(pydantic pydantic_core annotated_types typing_inspection typing_extensions)
PAGES=16

case "${1:-}" in
  wheels)
    py=.venv/bin/python
    [ -x "$py" ] || { echo "device_check: $py missing: run make setup-dev first" >&2; exit 2; }
    mkdir -p "$WHEELS"
    for name in "${PKGS[@]}"; do
      version=$("$py" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
      "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any \
        -d "$WHEELS" "$name==$version"
    done
    PYTHONPATH=$PWD "$py" scripts/bench_embed.py --pages "$PAGES" --save-pages "$WHEELS/pages"
    du -sh "$WHEELS"
    ;;
  run)
    : "${OUT:?device_check run: \$OUT is unset (this mode is for the device machine)}"
    exec > >(tee "$OUT/device_check.log") 2>&1
    export PYTHONUNBUFFERED=1
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH="/tmp/site:$PWD"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)"
    # E5-V's real architecture (8.35 B parameters, random weights) in bf16 through E5VEmbedder,
    # against its FLOP floor at the H200's dense bf16 peak.
    python3 scripts/bench_embed.py --e5v-size --texts 64 --pages "$PAGES" --pages-dir "$WHEELS/pages" \
      --repeats 3 --peak-tflops 989 --tiny-dir /tmp/tiny-llava | tee "$OUT/bench_embed.txt"
    ;;
  *)
    echo "usage: scripts/device_check.sh wheels|run" >&2
    exit 2
    ;;
esac
