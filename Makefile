# mojahub — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit install bench demo ttk clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the hub on its embedded SQLite default (FSPIOP :3000, operator :3001).
run: $(STAMP)
	$(BIN)/mojahub serve

## Everything CI runs: ruff, mypy --strict, import contracts, the whole pytest suite (2 processes).
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## Benchmarks (printing numbers; see docs/performance.md).
bench: $(STAMP)
	$(BIN)/python -m bench

demo: $(STAMP)
	$(BIN)/mojahub demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache mojahub.db mojahub.db-*
