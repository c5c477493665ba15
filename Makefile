# biotab — every target that needs the virtual environment creates it first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
EXP      ?= lr_vs_mlp
LAUNCHER ?= joblib
PORT     ?= 5000
SWEEP    ?=

.PHONY: help setup run sweep report validate server ui data test test-fast test-cluster cluster-up cluster-down lint bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the project with its dev tools

run: $(STAMP) ## logistic regression vs MLP on the built-in breast cancer data; prints the leaderboard
	$(BIN)/python -m pipeline.train experiment=lr_vs_mlp hydra/launcher=$(LAUNCHER)

sweep: $(STAMP) ## run a sweep from conf/experiment/ (EXP=name, LAUNCHER=joblib|local_processes|slurm)
	$(BIN)/python -m pipeline.train experiment=$(EXP) hydra/launcher=$(LAUNCHER)

report: $(STAMP) ## HTML + Markdown + CSV comparison of a sweep (SWEEP=id; default: the latest)
	$(BIN)/python -m pipeline.report $(if $(SWEEP),--sweep $(SWEEP))

validate: $(STAMP) ## external validation of a run's model on another table (RUN=id DATASET=name [UPDATE=intercept|logistic] [ARGS="dataset.path=..."])
	$(BIN)/python -m pipeline.validate model_run=$(RUN) dataset=$(DATASET) $(if $(UPDATE),update=$(UPDATE)) $(ARGS)

server: $(STAMP) ## MLflow server + UI on http://127.0.0.1:$(PORT) over the project's store
	MLFLOW_DISABLE_TELEMETRY=true MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
		$(BIN)/mlflow server --host 127.0.0.1 --port $(PORT) --workers 1 \
		--backend-store-uri sqlite:///$(CURDIR)/mlflow.db --artifacts-destination $(CURDIR)/mlartifacts

ui: server ## the MLflow UI (same as `make server`)

data: $(STAMP) ## download the UCI disease tables into data/raw/ and verify their checksums
	$(BIN)/python -m pipeline.data download

test: $(STAMP) ## run the test suite (slow tests included; what CI runs)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) ## the inner loop: every test not marked slow
	$(BIN)/python -m pytest -q -m "not slow"

cluster-up: $(STAMP) ## start the test SLURM cluster and a PostgreSQL-backed MLflow server on loopback (root)
	python3 tests/cluster/services.py up

cluster-down: ## stop them and check that nothing is left running
	python3 tests/cluster/services.py down

test-cluster: $(STAMP) ## the SLURM + PostgreSQL tests (reuses a running cluster, else starts and stops one)
	BIOTAB_CLUSTER_TESTS=1 $(BIN)/python -m pytest -q -s tests/cluster

lint: $(STAMP) ## check style with ruff
	$(BIN)/ruff check pipeline tests bench

bench: $(STAMP) ## time training, lock-step folds, the GEMM floor, evaluation and sweeps against their peers; one table of ratios
	rm -f outputs/bench/results.jsonl
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE BIOTAB_BENCH_RESULTS=$(CURDIR)/outputs/bench/results.jsonl $(BIN)/python bench/bench_training.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE BIOTAB_BENCH_RESULTS=$(CURDIR)/outputs/bench/results.jsonl $(BIN)/python bench/bench_lockstep.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE BIOTAB_BENCH_RESULTS=$(CURDIR)/outputs/bench/results.jsonl $(BIN)/python bench/bench_floor.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE BIOTAB_BENCH_RESULTS=$(CURDIR)/outputs/bench/results.jsonl $(BIN)/python bench/bench_evaluation.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE BIOTAB_BENCH_RESULTS=$(CURDIR)/outputs/bench/results.jsonl $(BIN)/python bench/bench_sweep_vs_sklearn.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE BIOTAB_BENCH_RESULTS=$(CURDIR)/outputs/bench/results.jsonl $(BIN)/python bench/bench_sweep_overhead.py --repeat 3
	$(BIN)/python bench/table.py $(CURDIR)/outputs/bench/results.jsonl

clean: ## remove the environment, tracking store and run outputs
	rm -rf $(VENV) mlflow.db mlflow.db-wal mlflow.db-shm mlflow.db.lock mlartifacts outputs multirun .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
