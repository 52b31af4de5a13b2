# Two entry points that work on a fresh machine with Python >= 3.11:
#   make demo   set up .venv, install mujun, run it on the bundled sample county
#   make test   set up .venv with the dev tools, install the browser (apt), lint, type-check, test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck pytest sample clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed $@

# the yearly cycle on the sample: the notice run (maps/, exports/), the final run after the
# objection period's corrections (final/), what they changed, and the final notice package
demo: $(VENV)/.installed
	bash scripts/setup-system.sh --fonts
	$(BIN)/mujun run --overwrite
	$(BIN)/mujun run --overwrite --corrections data/parcels/corrections.csv --out final
	$(BIN)/mujun compare . final
	$(BIN)/mujun report final --overwrite

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench data/parcels
	$(BIN)/ruff format --check src tests bench data/parcels

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	bash scripts/setup-system.sh
	$(BIN)/python -m pytest --doctest-modules src tests

test: lint typecheck pytest

sample: $(VENV)/.installed
	$(BIN)/python data/parcels/make_sample.py

clean:
	rm -rf $(VENV) exports reports final maps/*.html .pytest_cache .mypy_cache .ruff_cache
