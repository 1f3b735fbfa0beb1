# hotbench: every target sets up .venv itself, so a newcomer needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hotbench-installed

.PHONY: setup demo test test-all lint bench clean

setup: $(STAMP)

# torchattacks goes in last and with --no-deps: its metadata pins requests~=2.25.1 (a release with a known
# security hole) and torchvision, neither of which its code imports. See README, "Install".
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps torchattacks==3.5.1
	touch $(STAMP)

demo: setup
	$(BIN)/hotbench run quick

test: setup
	$(BIN)/pytest -q

test-all: setup
	$(BIN)/pytest -q -m ""

# style (ruff: lint and format, configured in pyproject.toml) and the layer contracts (import-linter)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) hotbench-runs .pytest_cache
