# The two commands of the README:
#   make demo   set up (virtualenv + pinned Python deps) and run the end-to-end demo (in-process L1)
#   make test   set up (also the pinned anvil and solc from npm) and run lint, types and tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)
# The runtime (watchtower) and the development package (dev/: watchtower-dev, which adds the
# devnet, propose, demo and gen-fixtures commands to the watchtower CLI).

.PHONY: demo test tools lint typecheck pytest bench fixtures conformance clean

$(STAMP): pyproject.toml dev/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		-e '.[dev]' -e ./dev
	rm -f $(VENV)/.installed-* && touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(STAMP)
	$(BIN)/watchtower demo

test: $(STAMP) node_modules/.installed tools lint typecheck pytest

# promtool (Debian's prometheus package) checks deploy/prometheus/alerts.yml. Installed when
# missing and we are root (CI); elsewhere tests/deploy skips that check with a message.
tools:
	@command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null) \
		|| echo "promtool not installed (needs root): the promtool check will be skipped"; }

lint: $(STAMP)
	$(BIN)/ruff check watchtower dev tests bench scripts
	$(BIN)/ruff format --check watchtower dev
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy watchtower dev/watchtower_dev tests/fakes  # FakeL1 must satisfy the L1Reader protocol

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_replay.py

fixtures: $(STAMP)
	$(BIN)/watchtower gen-fixtures fixtures

conformance: $(STAMP)
	$(BIN)/watchtower conformance -q ../shared/conformance/ethereum-tests

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
