# pumptrack: two commands set everything up on a fresh machine.
#   make run   – the application (web, worker, beat) on SQLite and an embedded broker
#   make test  – the whole suite (SQLite; PostgreSQL when DATABASE_URL is set)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run web test test-faults test-browser lint format audit clean

$(VENV)/.installed: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	touch $@

install: $(VENV)/.installed

var:
	mkdir -p var

run: install var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty --url http://$(HOST):$(PORT)/
	PUMPTRACK_HOST=$(HOST) PUMPTRACK_PORT=$(PORT) $(BIN)/honcho start -f Procfile

test: install var
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DJANGO_SETTINGS_MODULE=pumptrack.settings.test $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

test-faults: install
	PUMPTRACK_FAULTS_FULL=1 $(BIN)/pytest -m faults -p no:randomly $(PYTEST_ARGS)

# The Playwright tests alone (Debian's chromium: apt-get install -y chromium).
test-browser: install
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Separate from `test` so an outage of the advisory service never fails the suite.
audit: install
	$(BIN)/pip-audit --strict --requirement requirements.lock --disable-pip --no-deps

# Re-resolve the lock files after editing pyproject.toml: the dev lock (everything), then
# the runtime lock for the production image (main dependencies only, pinned to the same
# versions as the dev lock; tests/security/test_production_image.py checks both).
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --quiet -c requirements.lock -o requirements.runtime.lock

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
