# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (the suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DIR ?= outputs/demo

.PHONY: demo test slow faults lint typecheck install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test,serve]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/affectlab demo --out $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not faults" tests

slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

faults: $(STAMP)
	$(BIN)/python -m pytest -q -m faults tests

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) outputs .pytest_cache
