# The two commands of the README: `make run` and `make test`. Both create .venv on first
# use (torch==2.13.0 first: a bare `torch` would resolve to a multi-GB CUDA build) and
# reuse it afterwards; it is refreshed when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run examples tables test lint format bench golden generated clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[cpu,dev]'
	touch $(STAMP)

# The whole pipeline on the embedded data (README, "What `make run` prints"): prepare mfeat, search, check,
# compile, train, export with the trained weights, then `bmnas report` runs ONNX Runtime
# on the test split (its accuracy must equal PyTorch's), times eager vs ORT, prints the
# summary table and writes build/mfeat.report/ (report.md, summary.json and the pictures
# it draws: the architecture, the search curves, the training curves; docs/report.md).
RUN := build/mfeat
run: $(STAMP)
	@mkdir -p build
	$(BIN)/bmnas data mfeat
	$(BIN)/bmnas search --data mfeat -o $(RUN).bmg --run-dir $(RUN).search --overwrite
	$(BIN)/bmnas check $(RUN).bmg
	$(BIN)/bmnas compile $(RUN).bmg -o $(RUN).py
	$(BIN)/bmnas train $(RUN).bmg --data mfeat -o $(RUN).train --overwrite
	$(BIN)/bmnas export $(RUN).bmg --weights $(RUN).train/weights.safetensors -o $(RUN).onnx
	$(BIN)/bmnas report --search-run $(RUN).search --train-run $(RUN).train \
		--onnx $(RUN).onnx -o $(RUN).report

# Every example through the front end, the code generator and the ONNX exporter (checked
# against PyTorch in ONNX Runtime), and one ONNX Runtime inference on random inputs.
examples: $(STAMP)
	@mkdir -p build
	@for f in examples/*.bmg; do \
		name=$$(basename $${f%.bmg}); \
		echo "== $$f"; \
		$(BIN)/bmnas check $$f || exit 1; \
		$(BIN)/bmnas fmt --check $$f || exit 1; \
		$(BIN)/bmnas info $$f || exit 1; \
		$(BIN)/bmnas compile $$f -o build/$$name.py || exit 1; \
		$(BIN)/bmnas export $$f -o build/$$name.onnx || exit 1; \
	done
	@$(BIN)/python -c "import numpy as np; np.savez('build/aoa_inputs.npz', **{'video.layer4': np.random.randn(4, 2048, 8, 8, 8), 'skeleton.fc7': np.random.randn(4, 512)})"
	$(BIN)/bmnas infer build/aoa.onnx --inputs build/aoa_inputs.npz -o build/aoa_logits.npz

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

# Speed figures (docs/performance.md, docs/search.md); several minutes in all.
bench: $(STAMP)
	$(BIN)/python benchmarks/frontend.py
	$(BIN)/python benchmarks/inference.py --threads 1
	$(BIN)/python benchmarks/search_step.py --config ntu --batch 96 --threads 2 --space official
	$(BIN)/python benchmarks/planted_recovery.py --config small
	$(BIN)/python benchmarks/kill_resume.py --kills 20
	$(BIN)/python benchmarks/guard_overhead.py --threads 1
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/fuzz.py --seconds 120

# The ablation tables of docs/results.md, on both benchmarks: the two views of `make run`
# (fou + zer; the training epochs chosen on validation) and all six views (24 features;
# the same 20 training epochs). 5 seeds each; finished units are cached under
# benchmarks/results/, so a rerun only redoes what changed.
SIX_VIEWS := mfeat:fou,fac,kar,pix,zer,mor
# JOBS=2: two units at a time (one per core, one thread each); the same tables.
JOBS ?= 1
tables: $(STAMP)
	$(BIN)/python benchmarks/paper_tables.py --threads 1 --jobs $(JOBS)
	$(BIN)/python benchmarks/paper_tables.py --threads 1 --jobs $(JOBS) --data $(SIX_VIEWS) \
		--train-epochs 20 --out benchmarks/results/paper_tables_six \
		--json benchmarks/results/paper_tables_six.json

golden: $(STAMP)
	BMNAS_REGEN_GOLDEN=1 $(BIN)/python -m pytest tests/test_golden.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis

generated: $(STAMP)
	@for f in examples/*.bmg; do \
		$(BIN)/bmnas compile $$f -o generated/$$(basename $${f%.bmg}).py || exit 1; \
	done
