# Two entry points: `make demo` runs the main job on the local stack and
# `make test` runs the tests. Both install what is missing first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# Prefect keeps its profile and database here during the tests, not in ~/.prefect.
TEST_PREFECT_HOME := $(CURDIR)/.state/test-prefect

.PHONY: install lint test demo clean

$(BIN)/slopops: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# npm ci installs exactly what tools/package-lock.json lists.
tools/node_modules/.package-lock.json: tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund
	touch $@

install: $(BIN)/slopops tools/node_modules/.package-lock.json
	./deployments/install-system-packages.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pytest exits non-zero when a test fails and when no test ran (code 5).
test: lint
	mkdir -p $(TEST_PREFECT_HOME)
	PREFECT_HOME=$(TEST_PREFECT_HOME) PREFECT_SERVER_ANALYTICS_ENABLED=false \
		$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

demo: install
	$(BIN)/slopops demo

clean:
	rm -rf .state
