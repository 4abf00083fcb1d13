# Lessons: `make run` serves the demo on SQLite, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Nothing may download model weights at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test lint clean

install: $(VENV)/.installed

# torch first: pinned to the CPU build, so nothing later pulls a CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The queue's worker runs beside the server (notifications, digests, deliveries) and stops
# with it.
run: install
	$(BIN)/lessons db upgrade
	$(BIN)/lessons demo load
	$(BIN)/lessons worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/lessons run

test: install
	$(BIN)/pytest

# ruff (style, imports, likely bugs) and mypy (types) over the code, as .ci/run does first.
lint: install
	$(BIN)/ruff check lessons search insights push web tests bench migrations
	$(BIN)/mypy

clean:
	rm -rf $(VENV) instance .pytest_cache
