# Two entry points: `make demo` runs the main job on the local stack and
# `make test` runs the tests. Both install what is missing first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install lint test demo clean

$(BIN)/slopops: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

tools/node_modules/.package-lock.json: tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund
	touch $@

install: $(BIN)/slopops tools/node_modules/.package-lock.json
	./deployments/install-system-packages.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

demo: install
	$(BIN)/slopops demo

clean:
	rm -rf .state
