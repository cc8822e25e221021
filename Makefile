# Two commands on a fresh machine: `make demo` and `make test`. Everything is installed here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
# the benchmark times opsbot as shipped: `pip install .`, runtime dependencies only
BENCHVENV := .venv-bench

.PHONY: demo test bench clean sandbox tools

# A real Prometheus and a real Alertmanager for the tests (Debian's packages), installed when absent.
# apt-get only, and only for what is missing: a machine that has them is not touched.
TOOLS := /usr/bin/prometheus /usr/bin/promtool /usr/bin/prometheus-alertmanager
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(TOOLS) &:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null

tools: $(TOOLS)

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

test: $(DEVSTAMP) $(TOOLS)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(DEVSTAMP)
	test -x $(BENCHVENV)/bin/python || $(PYTHON) -m venv $(BENCHVENV)
	$(BENCHVENV)/bin/pip install --quiet .
	$(BENCHVENV)/bin/pip install --quiet --no-deps --force-reinstall .
	$(BIN)/python bench/debug_vs_kubectl.py --opsbot $(BENCHVENV)/bin/opsbot
	$(BIN)/python bench/scale.py --no-slack --pods 30 --lines 200 --repeat 5 --opsbot $(BENCHVENV)/bin/opsbot
	$(BIN)/python bench/ack_latency.py

sandbox: $(STAMP)
	$(BIN)/opsbot sandbox

clean:
	rm -rf $(VENV) $(BENCHVENV) .mypy_cache .pytest_cache .ruff_cache
