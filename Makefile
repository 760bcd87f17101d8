# XinQiao developer and CI entry points. The work is done by scripts/*.sh; see README.md.
#
#   make demo     set up, seed the demo hospitals, serve on http://127.0.0.1:8000
#   make test     set up, run the suite on SQLite and on a throwaway PostgreSQL server

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON := .venv/bin/python

# Knobs (override on the command line: `make test PYTEST_ARGS='-k reveal'`).
PORT ?= 8000
SANDBOX_PORT ?= 8701
DEMO_SEED ?= 20261123
DEMO_PATIENTS ?=
XINQIAO_DEMO_PASSWORD ?= xinqiao-demo-2026
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
BENCH_ARGS ?=

export PYTEST_WORKERS PYTEST_ARGS
SERVE_ENV = PORT='$(PORT)' SANDBOX_PORT='$(SANDBOX_PORT)' DEMO_SEED='$(DEMO_SEED)' DEMO_PATIENTS='$(DEMO_PATIENTS)' \
	XINQIAO_DEMO_PASSWORD='$(XINQIAO_DEMO_PASSWORD)'

.PHONY: help setup demo run test test-sqlite test-postgres bench lint format messages pg-start pg-stop \
	clean clean-db distclean

help:
	@echo "make demo       set up, seed the demo hospitals, serve on http://127.0.0.1:$(PORT) (+ worker, scheduler, sandboxes)"
	@echo "make test       set up, run the tests on SQLite, then on a throwaway PostgreSQL server"
	@echo
	@echo "make setup      install everything: Debian packages, .venv, node_modules, compiled translations"
	@echo "make run        migrate and serve (server, worker, scheduler, sandboxes), no demo data"
	@echo "make lint       ruff check, ruff format --check, makemigrations --check, .env.example complete"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make bench      run bench/run.py \$$BENCH_ARGS (e.g. BENCH_ARGS='--db both --quick')"
	@echo "make messages   update locale/zh_Hans/LC_MESSAGES/django.po from the source (makemessages)"
	@echo "make pg-start   start a throwaway PostgreSQL server (prints its DATABASE_URL); make pg-stop"
	@echo "make clean      remove caches and generated files (keeps .venv, node_modules and var/)"
	@echo "make clean-db   delete the local SQLite database (the next make demo seeds a fresh one)"
	@echo "make distclean  clean + remove .venv and node_modules"

setup:
	@bash scripts/setup.sh

demo: setup
	@$(SERVE_ENV) MAKE_TARGET=demo bash scripts/serve.sh --demo

run: setup
	@$(SERVE_ENV) MAKE_TARGET=run bash scripts/serve.sh

test: setup
	@bash scripts/test.sh

# One database only, for quick local loops.
test-sqlite: setup
	@env -u DATABASE_URL -u DATABASE_URL_FILE XINQIAO_ENV=test $(PYTHON) -m pytest $(PYTEST_ARGS)

test-postgres: setup
	@state="$$PWD/var/pg-test.$$$$.env"; trap 'bash scripts/pg-test.sh stop "$$state"' EXIT; \
	url="$$(bash scripts/pg-test.sh start "$$state")"; \
	DATABASE_URL="$$url" XINQIAO_ENV=test $(PYTHON) -m pytest -m "not browser" $(PYTEST_ARGS)

bench: setup
	@bash scripts/bench.sh $(BENCH_ARGS)

lint: setup
	@bash scripts/lint.sh

format: setup
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

messages: setup
	$(PYTHON) manage.py makemessages --locale zh_Hans --ignore=.venv --ignore=node_modules --ignore=var \
		--ignore=.git --ignore=bench --no-obsolete
	@bash scripts/setup.sh >/dev/null

pg-start: setup
	@bash scripts/pg-test.sh start

pg-stop:
	@bash scripts/pg-test.sh stop

clean:
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -path ./.git -prune -o \
		-type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .hypothesis test-results var/static
	find locale xinqiao -name '*.mo' -path '*/LC_MESSAGES/*' -delete 2>/dev/null || true
	@for state in var/pg-test*.env var/pg-bench*.env; do \
		[[ -f "$$state" ]] && bash scripts/pg-test.sh stop "$$state"; \
	done; true

clean-db:
	rm -f var/xinqiao.sqlite3 var/xinqiao.sqlite3-wal var/xinqiao.sqlite3-shm

distclean: clean
	rm -rf .venv node_modules
