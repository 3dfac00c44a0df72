# otel-llm developer commands. Every target bootstraps what it needs and is safe to re-run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := dev,presidio,ner,report,otlp,demo,openfeature

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the package with every extra

# openai 2.x is built on httpx (3.x on httpx2): it gets its own environment, driven by the test suite.
VENV_OPENAI2 := .venv-openai2
STAMP_OPENAI2 := $(VENV_OPENAI2)/.installed
$(STAMP_OPENAI2): pyproject.toml
	@test -x $(VENV_OPENAI2)/bin/python || $(PYTHON) -m venv $(VENV_OPENAI2)
	$(VENV_OPENAI2)/bin/python -m pip install -q --upgrade pip
	$(VENV_OPENAI2)/bin/python -m pip install -q -e . 'openai>=2,<3' 'pytest>=8.3' 'pytest-timeout>=2.3'
	@touch $(STAMP_OPENAI2)

venv-openai2: $(STAMP_OPENAI2) ## Create .venv-openai2 (openai 2.x on httpx) for the compatibility tests

demo: $(STAMP) ## Run the main job: a shadow test end to end on loopback servers
	$(VENV)/bin/otel-llm demo

collector: ## Build collector/bin/otelcol-llm from the Go module proxy
	collector/build.sh

prometheus: ## Install Prometheus and promtool (Debian package) if missing
	scripts/install-prometheus.sh

test: $(STAMP) $(STAMP_OPENAI2) collector prometheus ## Run the whole test suite (installs everything it needs)
	scripts/run-tests.sh

lint: $(STAMP) ## ruff (lint + format check) and mypy --strict
	$(VENV)/bin/ruff check otel_llm tests benchmarks examples dashboards
	$(VENV)/bin/ruff format --check otel_llm tests benchmarks examples dashboards
	$(VENV)/bin/mypy

format: $(STAMP) ## Apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix otel_llm tests benchmarks examples dashboards
	$(VENV)/bin/ruff format otel_llm tests benchmarks examples dashboards

bench: $(STAMP) ## Run benchmarks against peers; writes benchmarks/results/*.json and *.md
	$(PY) -m benchmarks

dashboards: $(STAMP) ## Regenerate dashboards/generated/*.json and dashboards/alerts.yaml from code
	$(PY) -m dashboards.generate

dashboards-png: $(STAMP) collector prometheus ## Render dashboard previews from live test traffic to dashboards/previews/
	OTEL_LLM_DASHBOARD_PREVIEWS=$(CURDIR)/dashboards/previews $(PY) -m pytest -q -p no:cacheprovider tests/integration/test_dashboards.py -k render_previews

clean: ## Remove build outputs (keeps .venv)
	rm -rf collector/bin otel-llm-demo .pytest_cache .mypy_cache .ruff_cache

.PHONY: help venv venv-openai2 demo collector prometheus test lint format bench clean dashboards dashboards-png
