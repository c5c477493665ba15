# biotab — every target that needs the virtual environment creates it first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup run ui data test lint bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the project with its dev tools

run: $(STAMP) ## run the default experiment (built-in breast cancer data) and print its metrics
	$(BIN)/python -m pipeline.train

ui: $(STAMP) ## open the MLflow UI on http://127.0.0.1:5000 against the project's store
	MLFLOW_DISABLE_TELEMETRY=true $(BIN)/mlflow ui --host 127.0.0.1 --port 5000 \
		--backend-store-uri sqlite:///$(CURDIR)/mlflow.db --default-artifact-root $(CURDIR)/mlartifacts

data: $(STAMP) ## download the UCI disease tables into data/raw/ and verify their checksums
	$(BIN)/python -m pipeline.datasets download

test: $(STAMP) ## run the test suite (slow tests included)
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## check style with ruff
	$(BIN)/ruff check pipeline tests bench

bench: $(STAMP) ## time training against scikit-learn (and PyTorch when installed)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/bench_training.py

clean: ## remove the environment, tracking store and run outputs
	rm -rf $(VENV) mlflow.db mlartifacts outputs multirun .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
