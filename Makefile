# `make quickstart`: set up and run the synthetic experiment (fast preset).
# `make test`: set up and run the test suite (what CI runs).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# Where a CPU wheel of that version comes from when pip's default index would give a CUDA build
# (e.g. make setup TORCH_INDEX=<PyTorch's CPU wheel index>); empty: pip's own configuration.
TORCH_INDEX ?=

.PHONY: setup quickstart test test-slow bench clean

$(BIN)/seqgan: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The pinned CPU build first: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(BIN)/seqgan

# The authors' oracle where their file sits next to this checkout (../shared/data); otherwise
# `seqgan oracle` builds a fresh N(0,1) oracle from the seed, as the paper describes.
ORACLE_PARAMS ?= $(wildcard ../shared/data/seqgan_target_params.pkl)

quickstart: setup
	$(BIN)/seqgan oracle --preset fast $(if $(ORACLE_PARAMS),--oracle-params $(ORACLE_PARAMS)) --out runs/fast --overwrite

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/run.py --json runs/bench.json

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
