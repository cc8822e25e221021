# Two commands on a fresh machine: `make demo` and `make test`. Everything is installed here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test bench clean sandbox

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

demo: $(STAMP)
	$(BIN)/opsbot demo

test: $(DEVSTAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(DEVSTAMP)
	$(BIN)/python bench/debug_vs_kubectl.py
	$(BIN)/python bench/ack_latency.py

sandbox: $(STAMP)
	$(BIN)/opsbot sandbox

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
