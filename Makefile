# sensorfuse — the README's two commands are `make demo` and `make test`.
# Everything runs from a fresh clone: `setup` creates .venv and installs the project into it.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first, from the CPU wheel that lies on this machine's disk (no multi-GB download).
# Elsewhere: `make setup TORCH_SPEC='torch==2.6.0' PIP_TORCH_ARGS='--index-url https://download.pytorch.org/whl/cpu'`.
TORCH_SPEC ?= torch==2.13.0
PIP_TORCH_ARGS ?=
EXTRAS ?= dev,viz,geom,deploy
PYTEST_ARGS ?=
export PYTHONUNBUFFERED := 1
export MPLBACKEND := Agg

.PHONY: setup sysdeps demo test test-slow test-cuda fuzz lint typecheck bench bench-ops bench-load bench-detect bench-latency clean

$(BIN)/.stamp: pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(PIP_TORCH_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@$(MAKE) --no-print-directory sysdeps
	@touch $@

setup: $(BIN)/.stamp

# open3d-cpu needs Debian's libusb-1.0-0 to import. Best effort: sensorfuse runs without open3d (numpy fallbacks).
sysdeps:
	@if ! ldconfig -p 2>/dev/null | grep -q libusb-1.0.so.0; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1)) \
	      && echo "sysdeps: installed libusb-1.0-0 (open3d)" || echo "sysdeps: could not install libusb-1.0-0; open3d features fall back to numpy"; \
	  else echo "sysdeps: libusb-1.0-0 missing and not root; open3d features fall back to numpy"; fi; \
	fi

demo: setup
	$(BIN)/sensorfuse demo

lint: setup
	$(BIN)/ruff check sensorfuse tests tools
	$(BIN)/ruff format --check sensorfuse tests tools

typecheck: setup
	$(BIN)/mypy

test: setup lint typecheck
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m "slow" $(PYTEST_ARGS)

# The readers' fuzz harness for as long as asked (make test runs it with 40 inputs per reader).
FUZZ_EXAMPLES ?= 5000
fuzz: setup
	SENSORFUSE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz -q -p no:cacheprovider --hypothesis-show-statistics

test-cuda: setup
	$(BIN)/python -m pytest -m "cuda" $(PYTEST_ARGS)

bench: bench-ops bench-load bench-latency

bench-ops: setup
	$(BIN)/python -m sensorfuse.bench.ops --out docs/bench/ops.json

bench-load: setup
	$(BIN)/python -m sensorfuse.bench.loading --out docs/bench/loading.json

bench-latency: setup
	$(BIN)/sensorfuse bench latency --config sensorfuse/configs/synth_small.yaml --sensors all lidar camera radar --out docs/bench/latency

bench-detect: setup
	$(BIN)/python -m sensorfuse.bench.detect --out docs/bench/detect

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
