# Habits in one place. Everything runs inside .venv, created on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help install install-runtime serve demo test lint typecheck fmt bench bench-large clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# One marker file per extras set: `make serve` needs the runtime dependencies only (650 MB of the 1 GB
# venv); `make test` adds the dev tools (pytest, mypy, Playwright) and marks the runtime set as installed too,
# so that `make serve` after `make test` does not reinstall. Editing pyproject.toml reinstalls either set.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

$(RUNTIME): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME)

install-runtime: $(RUNTIME)  ## create .venv with the service's runtime dependencies only (what `make serve` needs)

install: $(DEV)  ## create .venv and install the package with dev tools (tests, lint, typecheck)

serve: install-runtime  ## run the service (API + worker, SQLite, no broker server) with a demo dataset to label
	$(BIN)/matcher serve --port $(or $(PORT),8000)

demo: install-runtime  ## match the bundled example and score it against its truth
	@mkdir -p out
	$(BIN)/matcher match examples/people/records.csv --primary-key id \
		--output out/matches.csv --pairs-output out/pairs.csv --stats-output out/stats.json
	$(BIN)/python bench/score.py out/matches.csv examples/people

test: install  ## the full test suite (what CI runs)
	$(BIN)/python -m pytest -q tests bench/test_score.py bench/test_synth_kin.py

lint: install  ## ruff
	$(BIN)/ruff check matcher storage services workers labeling_ui server tests bench

typecheck: install  ## mypy on the core
	$(BIN)/mypy

fmt: install  ## ruff format
	$(BIN)/ruff format matcher storage services workers labeling_ui server tests bench

bench: install  ## quality and speed on the shared benchmarks (minutes), writes bench/results/
	$(BIN)/python bench/run_datasets.py

bench-large: install  ## 1M synthetic records, ours vs Splink (needs bench/setup_splink.sh; ~10 min)
	$(BIN)/python bench/run_synthetic.py --rows 1000000

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .ruff_cache .mypy_cache
