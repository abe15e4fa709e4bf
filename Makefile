# mcpt — every target that needs Python first creates .venv and installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
MCPT := $(VENV)/bin/mcpt
STAMP := $(VENV)/.installed-runtime
EXPORT_STAMP := $(VENV)/.installed-export
PYTEST_ARGS ?=

.PHONY: install install-export test demo lint format bench models engines clean help

help:
	@echo "make demo    - install, then run the full pipeline on the embedded default scene"
	@echo "make test    - install, then run the test suite"
	@echo "make lint    - ruff check + format check"
	@echo "make install-export / models / engines - export tooling (torch, ultralytics), ONNX and TensorRT"
	@echo "make bench   - benchmarks under bench/ (tables into bench/results/)"

install: $(STAMP)

# TrackEval's metadata pulls the full opencv-python, which would shadow the headless cv2: it goes in
# without dependencies.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --no-warn-conflicts -e '.[dev]'
	$(PIP) install -q --no-deps 'trackeval==1.3.0'
	$(PY) -c 'from mcpt.bus.schema import PROTO, compile_schema; compile_schema(PROTO.parent)'
	touch $@

# Ultralytics' metadata asks for torchvision, opencv-python and (through them) a CUDA torch stack.
# It goes in without dependencies, then only what model building and ONNX export use; torchvision
# is there for its version string only (ultralytics reads it at import). --no-warn-conflicts: pip
# would otherwise report the requirements left out on purpose as dependency conflicts; nothing is
# broken (`make test` exercises the export).
$(EXPORT_STAMP): $(STAMP)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps ultralytics==8.4.190 ultralytics-thop==2.2.3 torchvision==0.28.0
	$(PIP) install -q --no-warn-conflicts matplotlib pillow requests psutil polars onnx onnxslim
	touch $@

install-export: $(EXPORT_STAMP)

models: install-export
	$(MCPT) export models

engines: models
	$(MCPT) engines

test: install install-export models
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: install models
	$(MCPT) demo --out demo_out

bench: install
	$(PY) bench/association.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache
