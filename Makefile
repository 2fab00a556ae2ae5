# The documented commands: make run, make test, make test-slow, make test-docker, make bench, make lint.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export LIGHTSERV_MODE ?= DEV
export DB_HOST ?= 127.0.0.1
export DB_PORT ?= 3306
export REDIS_URL ?= redis://127.0.0.1:6379/0
export DJ_SCHEMA_PREFIX ?= lightserv_dev_
export MAIL_SERVER ?= 127.0.0.1
export MAIL_PORT ?= 8025
export PORT ?= 5000

.PHONY: run test test-slow test-docker soak bench lint check-services clean-venv

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PIP) install -q --disable-pip-version-check -r requirements-test.txt
	touch $@

check-services: $(VENV)/.installed
	@$(PY) scripts/check_services.py

## make run: everything in the foreground under one supervisor; Ctrl-C stops all of it.
run: $(VENV)/.installed check-services
	@mkdir -p var/mail var/data var/log
	$(VENV)/bin/flask --app run:app init-db
	@if [ "$$LIGHTSERV_MODE" = DEV ]; then $(VENV)/bin/flask --app run:app seed-demo; fi
	@echo
	@echo "lightserv is starting at http://127.0.0.1:$(PORT)/login  (Ctrl-C stops everything)"
	@echo "Emails are kept in var/mail/ (local SMTP on port $(MAIL_PORT))."
	@echo
	@bash scripts/install-proxy.sh && $(PY) scripts/viewer_dev_env.py
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/honcho -e .env,var/viewer.env -f Procfile.dev start

## make test: the whole suite against real components (provisioned when missing).
test: $(VENV)/.installed-test
	@LIGHTSERV_MODE=TEST $(PY) scripts/check_services.py
	bash scripts/provision-test.sh
	$(VENV)/bin/ruff check lightserv lib schemas tests benchmarks viewer-launcher cloudvolume neuroglancer neuroglancer-registration
	$(VENV)/bin/mypy --strict lib/cluster lib/synth lib/precomputed lib/rawdata lib/proxy lib/pipeline
	$(VENV)/bin/lint-imports
	LIGHTSERV_MODE=TEST $(PY) -m pytest

## make test-slow: the load test (20 users, 5 minutes) and the fault tests (services stopped and restarted).
test-slow: $(VENV)/.installed-test
	@LIGHTSERV_MODE=TEST $(PY) scripts/check_services.py
	bash scripts/provision-test.sh
	LIGHTSERV_MODE=TEST $(PY) -m pytest tests/slow

## make soak (not in CI): 20 users for SOAK_MINUTES (30) with Redis restarted once and a worker killed once.
soak: $(VENV)/.installed-test
	@LIGHTSERV_MODE=TEST $(PY) scripts/check_services.py
	bash scripts/provision-test.sh
	LIGHTSERV_MODE=TEST $(PY) -m pytest tests/slow/test_soak.py -m soak

## make test-docker: the Docker tier (engine started, images built on a local base image, real containers).
test-docker: $(VENV)/.installed-test
	@LIGHTSERV_MODE=TEST $(PY) scripts/check_services.py
	bash scripts/provision-test.sh
	bash scripts/provision-docker.sh
	LIGHTSERV_MODE=TEST $(PY) -m pytest tests/docker

## make bench: the measurements behind docs/performance.md (results in benchmarks/results/).
bench: $(VENV)/.installed-test
	@LIGHTSERV_MODE=TEST $(PY) scripts/check_services.py
	LIGHTSERV_MODE=TEST $(PY) benchmarks/bench_poller.py
	LIGHTSERV_MODE=TEST $(PY) benchmarks/bench_conversion.py
	LIGHTSERV_MODE=TEST $(PY) benchmarks/bench_lists.py
	bash scripts/install-proxy.sh && LIGHTSERV_MODE=TEST $(PY) benchmarks/bench_viewer.py
	LIGHTSERV_MODE=TEST $(PY) -m pytest tests/slow/test_load.py -k twenty_users \
		&& cp test-artifacts/load/summary.json benchmarks/results/load.json

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check lightserv lib schemas tests benchmarks viewer-launcher cloudvolume neuroglancer neuroglancer-registration
	$(VENV)/bin/mypy --strict lib/cluster lib/synth lib/precomputed lib/rawdata lib/proxy lib/pipeline
	$(VENV)/bin/lint-imports
