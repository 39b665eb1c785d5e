# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (the suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DIR ?= outputs/demo

.PHONY: demo test slow faults lint typecheck install clean browser bench

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

# The browser tests drive Debian's Chromium; install it where we may (root with apt), else they skip.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: browser tests will be skipped"; }

# The one test command (what .ci/run calls): lint, format check and type check first, then the suite.
test: $(STAMP) browser lint typecheck
	$(BIN)/python -m pytest -q -m "not slow and not faults" tests

slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

# The whole fault suite: its fast cases (also in `make test`) and the slow ones marked `faults`.
faults: $(STAMP)
	$(BIN)/python -m pytest -q tests/faults

bench: $(STAMP)
	$(BIN)/affectlab bench --quick

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/examples
	$(BIN)/ruff format --check src tests benchmarks docs/examples

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) outputs .pytest_cache
