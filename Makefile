# Two commands on a fresh machine: `make start` runs the whole stack, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: start test setup lint screenshots clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

start: setup
	@scripts/start.sh

test: setup
	@scripts/test.sh

# Refresh the README's pictures (tests write theirs to the ignored test-results/screenshots/).
screenshots: setup
	@scripts/screenshots.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf var
