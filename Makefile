# The project's one task runner: the README, CI (.ci/run) and hooks call these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(BIN)):$(PATH)

# Servers the tests and benchmarks use (scripts/services.sh starts them with these
# defaults). Only those targets get them: `make demo` uses the user's DATANEXUS_*_URL if
# set, else the embedded servers.
TEST_DATABASE_URL ?= postgresql://datanexus:datanexus@127.0.0.1:5432/datanexus
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/%2F
SERVERS := DATANEXUS_DATABASE_URL=$${DATANEXUS_DATABASE_URL:-$(TEST_DATABASE_URL)} \
	DATANEXUS_REDIS_URL=$${DATANEXUS_REDIS_URL:-$(TEST_REDIS_URL)} \
	DATANEXUS_AMQP_URL=$${DATANEXUS_AMQP_URL:-'$(TEST_AMQP_URL)'}

PY_SOURCES := python tests flows

.PHONY: help demo test bench lint format develop services services-stop cargo-test pytest clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

demo: develop ## set up, then run the demo: a simulated day through the example pipelines
	$(BIN)/datanexus demo

test: develop services lint cargo-test pytest ## set up, start the servers, lint, cargo test, pytest

bench: develop ## speed, as ratios to the anchors measured in the same run
	$(SERVERS) $(BIN)/python -m pytest tests/bench --benchmark-enable --benchmark-only -q --benchmark-columns=min,median,rounds

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q maturin==1.16.0

develop: $(BIN)/python ## build the extension (release) into .venv with all dependencies
	$(BIN)/maturin develop --release --extras dev --quiet

services: ## start PostgreSQL, Redis and RabbitMQ on 127.0.0.1 (installs them if missing)
	bash scripts/services.sh start

services-stop: ## stop the servers
	bash scripts/services.sh stop

lint: develop ## ruff, mypy, stubtest, cargo fmt, clippy
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest datanexus._native
	cargo fmt --all --check
	cargo clippy --all-targets --quiet -- -D warnings
	cargo clippy --all-targets --no-default-features --quiet -- -D warnings

format: ## apply ruff and rustfmt
	$(BIN)/ruff check --fix $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)
	cargo fmt --all

cargo-test: ## the native algorithms, without Python
	cargo test --no-default-features --quiet

pytest: develop
	$(SERVERS) $(BIN)/python -m pytest

clean: ## remove build outputs and the virtual environment
	rm -rf target $(VENV) python/datanexus/*.so
