# One set of commands, used the same way by people, the README and CI.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT_API ?= 8765
PORT_UI ?= 8501

.PHONY: setup run ingest test test-fast lint eval bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)

# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

ingest: setup
	$(BIN)/hha ingest

run: setup
	$(BIN)/hha run --api-port $(PORT_API) --ui-port $(PORT_UI)

test: setup
	bash scripts/test-setup.sh
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not browser and not server"

lint: setup
	$(BIN)/ruff check assistant ingest ui evals tests

eval: setup
	$(BIN)/hha eval

bench: setup
	$(BIN)/hha bench

clean:
	rm -rf $(VENV) data .pytest_cache
