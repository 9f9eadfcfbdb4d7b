# edgekit developer commands. `make demo` and `make test` are the README's first two commands.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= runs/digits

.PHONY: setup sysdeps demo test test-all lint typecheck bench clean

# Python environment: torch 2.14.1 / torchvision 0.29.1 come from this machine's wheel cache via pip.
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps 'facenet-pytorch>=2.5'  # MTCNN nets; its metadata pins torch<2.3
	touch $@

# System programs the tests start for real: an OpenSSH server (device connector tests), adb.
sysdeps:
	@bash scripts/install-sysdeps.sh

# The main job: train a CNN on scikit-learn's digits, prune, QAT, export ONNX + TFLite int8, verify, profile.
demo: setup
	$(BIN)/edgekit run examples/digits.yaml --out $(OUT)

# The default test run (CI runs exactly this via .ci/run). Slow tests: `make test-all`.
test: setup sysdeps
	$(BIN)/python -m pytest -m "not slow and not arm" -n 2 --dist loadfile -q

test-all: setup sysdeps
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	PYTHON=$(abspath $(BIN))/python bash scripts/typecheck.sh

bench: setup
	$(BIN)/python benchmarks/runtime_overhead.py
	$(BIN)/python benchmarks/coverage.py
	$(BIN)/python benchmarks/quantization.py
	$(BIN)/python benchmarks/pruning.py

clean:
	rm -rf build dist *.egg-info runs benchmarks/results
