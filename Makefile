# The two commands of the README:
#   make demo   set up (virtualenv + pinned Python deps) and run the end-to-end demo (in-process L1)
#   make test   set up (also the pinned anvil and solc from npm) and run lint, types and tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)

.PHONY: demo test lint typecheck pytest bench fixtures conformance clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(STAMP)
	$(BIN)/watchtower demo

test: $(STAMP) node_modules/.installed lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check watchtower tests bench scripts
	$(BIN)/ruff format --check watchtower

typecheck: $(STAMP)
	$(BIN)/mypy watchtower

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_replay.py

fixtures: $(STAMP)
	$(BIN)/watchtower gen-fixtures fixtures

conformance: $(STAMP)
	$(BIN)/watchtower conformance -q ../shared/conformance/ethereum-tests

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
