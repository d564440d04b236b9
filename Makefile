# ZEKE RFT — `make run` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast lint format install install-train migrate demo worker bench clean serve serve-worker serve-beat

# DEBUG is off unless set: the development targets turn it on for themselves (and their prerequisites).
run demo worker: export DEBUG ?= true

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

# Production (docs/deploy.md): gunicorn with workers and port from the environment (WEB_CONCURRENCY,
# HOST, PORT), static files through whitenoise; the Celery worker and beat are separate processes.
# DEBUG stays off: SECRET_KEY and ALLOWED_HOSTS must be set (deploy/zeke-rft.env lists the rest).
serve: install
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/python manage.py migrate --noinput
	PROMETHEUS_MULTIPROC_DIR="$${PROMETHEUS_MULTIPROC_DIR:-$(CURDIR)/var/prometheus}" \
	  exec $(BIN)/gunicorn -c deploy/gunicorn.conf.py zeke_rft.wsgi

serve-worker: install
	exec $(BIN)/celery -A zeke_rft worker -l info -Q "$${CELERY_WORKER_QUEUES:-celery,$${CELERY_HEAVY_QUEUE:-celery}}"

serve-beat: install
	exec $(BIN)/celery -A zeke_rft beat -l info

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
