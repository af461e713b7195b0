# Two entry points (see README Quickstart): `make train` and `make test`.
# Tests run in 2 xdist workers with one OpenMP thread each: more threads than cores make
# OpenMP barriers stall and slow everything many times over.
# Both create or reuse .venv; torch is pinned and installed first so pip never pulls a CUDA build.
PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed-$(TORCH_VERSION)

.PHONY: setup train test test-all lint format bench results clean

$(STAMP): pyproject.toml
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install -q --upgrade pip
	$(VENV_PYTHON) -m pip install -q torch==$(TORCH_VERSION)
	$(VENV_PYTHON) -m pip install -q -e '.[dev]'
	touch $@

setup: $(STAMP)

train: $(STAMP)
	WANDB_MODE=$${WANDB_MODE:-offline} $(VENV_PYTHON) train.py $(ARGS)

test: $(STAMP) lint
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(VENV_PYTHON) -m pytest -n 2

# ruff: the linter and the formatter's check (configured in pyproject.toml); `make format` applies them
LINTED := src tests bench scripts train.py eval.py

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

format: $(STAMP)
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

test-all: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(VENV_PYTHON) -m pytest -n 2 -m "slow or not slow"

bench: $(STAMP)
	$(VENV_PYTHON) bench/bench.py $(ARGS)

# collect finished runs' records (logs/**/record.json) into results/records/ and regenerate the
# tables in docs/results.md and README.md
results: $(STAMP)
	$(VENV_PYTHON) -m gaan.results --write $(ARGS)

clean:
	rm -rf $(VENV) logs .pytest_cache .hypothesis
