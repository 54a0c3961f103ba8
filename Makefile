# The two commands of the README: `make run` and `make test`. Both create .venv on first
# use (torch==2.13.0 first: a bare `torch` would resolve to a multi-GB CUDA build) and
# reuse it afterwards; it is refreshed when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench golden generated clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[cpu,dev]'
	touch $(STAMP)

run: $(STAMP)
	@for f in examples/*.bmg; do \
		echo "== $$f"; \
		$(BIN)/bmnas check $$f || exit 1; \
		$(BIN)/bmnas fmt --check $$f || exit 1; \
		$(BIN)/bmnas info $$f || exit 1; \
	done

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/bmnas fmt --write examples/*.bmg

bench: $(STAMP)
	$(BIN)/python benchmarks/frontend.py

golden: $(STAMP)
	BMNAS_REGEN_GOLDEN=1 $(BIN)/python -m pytest tests/test_golden.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis

generated: $(STAMP)
	@for f in examples/*.bmg; do \
		$(BIN)/bmnas compile $$f -o generated/$$(basename $${f%.bmg}).py || exit 1; \
	done
