# Two commands matter: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck check bench lock messages clean

help:
	@echo "make run    - install, migrate, seed demo data and start web + worker + beat + HCP simulator"
	@echo "make test   - install and run the whole test suite (SQLite, or DATABASE_URL/CELERY_BROKER_URL)"
	@echo "make check  - ruff and mypy"
	@echo "make bench  - run the benchmark scripts under bench/"
	@echo "make lock   - re-pin requirements*.lock from pyproject.toml"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements-dev.lock pyproject.toml
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m propusk.devserver

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench) $(wildcard deploy/*.py)
	$(BIN)/ruff format --check src tests $(wildcard bench) $(wildcard deploy/*.py)

typecheck: $(STAMP)
	$(BIN)/mypy src

check: lint typecheck

bench: $(STAMP)
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lock:
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --extra dev --no-emit-index-url --no-emit-find-links -o requirements-dev.lock pyproject.toml

# Regenerate the translation catalogue after changing user-facing strings (needs GNU gettext).
messages: $(STAMP)
	cd src/propusk && ../../$(BIN)/django-admin makemessages -l ru -l en --no-obsolete --no-location
	cd src/propusk && ../../$(BIN)/django-admin compilemessages

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
