# ZEKE RFT — `make run` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast lint format install install-train migrate demo worker bench clean

$(STAMP): requirements.txt requirements-nlp.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --require-hashes -r requirements-nlp.txt
	touch $(STAMP)

install: $(STAMP)

# The open-weights training backend (optional): torch alone first, so the rest never pulls another torch.
$(VENV)/.installed-train: requirements-train.txt $(STAMP)
	$(BIN)/pip install --disable-pip-version-check -q "$$(grep '^torch==' requirements-train.txt)"
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-train.txt
	touch $@

install-train: $(VENV)/.installed-train

migrate: install
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

run: demo
	$(BIN)/python manage.py collectstatic --noinput -v 0
	@echo "Serving ZEKE RFT at http://$(HOST):$(PORT)/ (SQLite under var/, Celery eager)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Scheduled jobs without a server: worker + beat on the filesystem:// broker under var/.
worker: migrate
	mkdir -p var/broker/processed
	CELERY_BROKER_URL=filesystem:// CELERY_TASK_ALWAYS_EAGER=false $(BIN)/celery -A zeke_rft worker -B -l info

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf var .pytest_cache
