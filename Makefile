# The course's tasks. `make book` and `make test` are the two set-up commands
# of README.md: each creates .venv and installs requirements.txt when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book release notebooks test test-fast lint bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## notebooks: pair every source/*/*.md with its .ipynb (jupytext)
notebooks: $(STAMP)
	$(BIN)/python scripts/sync_notebooks.py

## release: the student notebooks in release/, by nbgrader
release: notebooks
	$(BIN)/python scripts/make_release.py

## book: the student release and the web book (student and instructor editions)
book: release
	$(BIN)/python scripts/build_book.py

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## test-fast: the tests that need no nbgrader run, book build or browser (< 1 min)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

## lint: ruff on the code (CI runs it)
lint: $(STAMP)
	$(BIN)/ruff check mi_lib tests scripts benchmarks nbgrader_config.py

## autograde: grade submitted/ in parallel on Dask, skipping what is graded (INSTRUCTORS.md)
##   make autograde [ASSIGNMENT=02_dv_bound] [WORKERS=2 | SCHEDULER=tcp://host:8786]
##   [AUTOGRADE_FLAGS="--force --student alice"]; the gradebook: MI_GRADEBOOK_URL
.PHONY: autograde
autograde: $(STAMP)
	$(BIN)/python scripts/autograde_parallel.py \
	  $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) \
	  $(if $(WORKERS),--workers $(WORKERS)) \
	  $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(AUTOGRADE_FLAGS)

## bench: the benchmark scripts (they print their figures)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_estimators.py
	$(BIN)/python benchmarks/bench_targets.py
	$(BIN)/python benchmarks/bench_high_mi.py
	$(BIN)/python benchmarks/bench_coverage.py
	$(BIN)/python benchmarks/bench_autograde.py
	$(BIN)/python benchmarks/bench_book.py

clean:
	rm -rf _build
