# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app:create_app

.PHONY: run test install install-dev system-deps translations migrate seed serve lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed translations
install-dev: $(VENV)/.installed-dev translations

translations: $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -d app/translations

migrate: install
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask demo seed --if-empty

# Embedded default: SQLite in instance/, blobs on local disk, no Redis needed.
run: export DEMO_CLOCK ?= 1
run: seed
	@echo "Serving on http://127.0.0.1:5000 (Ctrl-C to stop)"
	$(BIN)/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:5000 'app:create_app()'

# age, Chromium, CJK fonts, nginx: installed with apt when missing (as root), else the exact command.
system-deps:
	bash scripts/test-system-deps.sh

test: install-dev system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy

# Scale curves at the sizes of issue 21 within BENCH_BUDGET seconds (default 1800); BENCH_SCALE=quick for small
# sizes while developing. Report, tables and one PNG per curve: bench/results/latest.md.
bench: install-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
