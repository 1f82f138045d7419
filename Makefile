# kopfka: `make run` starts a local 3-broker cluster, `make test` runs every check.
# Each target installs what it needs first (scripts/install-deps.sh is quick when nothing is missing).

VENV    := .venv
BIN     := $(VENV)/bin
# `python -m pytest` puts the repository root on sys.path, so tests can import `tests.integration.…`.
PYTEST  ?= $(BIN)/python -m pytest -p no:cacheprovider -q -ra
BROKERS ?= 3
BENCH_ARGS ?=

.PHONY: install run test lint unit integration kafka-tools bench tools clean

install:
	scripts/install-deps.sh

run: install
	$(BIN)/kopfka local --brokers $(BROKERS) --data ./data

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	$(PYTEST) tests

unit: install
	$(PYTEST) tests/unit

integration: install
	$(PYTEST) -m integration tests/integration

kafka-tools: install
	$(PYTEST) -m kafka_tools tests/kafka_tools

bench: install
	$(BIN)/python bench/compare.py $(BENCH_ARGS)

# Kubernetes tools (kube-apiserver, etcd, helm, kind) for the k8s/e2e tests, when that script exists.
tools:
	@if [ -x scripts/build-tools.sh ]; then scripts/build-tools.sh; \
	elif [ -e scripts/build-tools.sh ]; then bash scripts/build-tools.sh; fi

clean:
	rm -rf ./data .pytest_cache .ruff_cache
