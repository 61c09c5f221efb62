# make test: install into .venv (if needed) and run the suite; PYTHON picks
#   the interpreter that makes .venv (make test PYTHON=python3.11).
# make test-t5x: the whole suite with the interpreter of a provisioned T5X
#   environment (T5X_PYTHON, by default the venv at ~/.cache/ptjf-t5x) against
#   this checkout's code; a test that skips for lack of T5X fails.
#   make test-needs-t5x: only the tests marked needs_t5x or needs_libtpu, the
#   ones make test skips (CI runs both targets).
# make demo: the embedded default, the tiny PTJF chain with T5X on CPU; installs
#   T5X into .venv first (make install-t5x) unless it already imports there.
#   make demo-pod: the same chain as a pod rehearsed here, 2 local hosts of 2
#   CPU devices each (python -m ptjf.demo --hosts=N for N hosts).
# make bench: the benchmarks (the input pipelines' alone need no T5X:
#   make bench-input). make bench-tpu: the XXL recipe against T5X's stock
#   umT5-XXL, compiled for a v4-256 (needs the tpu extra; 30 to 50 min on 2 cores).
# make reproduce: the paper's comparison at laptop scale (docs/reproduction.md):
#   the epoch tables, the En->{Ro,Fr} grid with its length study and the
#   five-language grid, each under 90 min on 2 cores; finished runs are skipped.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: test test-t5x test-needs-t5x demo demo-pod bench bench-input bench-tpu reproduce install install-t5x

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The summary counts the skipped tests per reason (conftest.py): without T5X,
# how to install it.
test: install
	$(PY) -m pytest -q tests

T5X_PYTHON ?= $(HOME)/.cache/ptjf-t5x/bin/python
# What test-t5x passes pytest before the tests, e.g. a -m selection.
T5X_PYTEST_ARGS ?=
test-t5x:
	@test -x '$(T5X_PYTHON)' || { echo "No T5X environment: $(T5X_PYTHON) is not an interpreter (set T5X_PYTHON; README, Set up)."; exit 1; }
	PYTHONPATH='$(CURDIR)'$${PYTHONPATH:+:$$PYTHONPATH} PTJF_REQUIRE_T5X=1 '$(T5X_PYTHON)' -m pytest -q $(T5X_PYTEST_ARGS) tests

test-needs-t5x:
	$(MAKE) test-t5x T5X_PYTEST_ARGS='-m "needs_t5x or needs_libtpu"'

install-t5x: $(VENV)/.installed-t5x

# T5X's PyPI needs through the extra, then T5X itself at its pinned commits
# without its own requirements (requirements-t5x.txt says why).
$(VENV)/.installed-t5x: $(VENV)/.installed requirements-t5x.txt
	$(PY) -c 'import t5x' 2>/dev/null || { $(PY) -m pip install --quiet -e '.[t5x]' \
	  && $(PY) -m pip install --quiet --no-deps -r requirements-t5x.txt; } \
	  || { echo "Could not install T5X (it comes from GitHub): see README, Set up."; exit 1; }
	touch $@

demo: install-t5x
	$(PY) -m ptjf.demo

demo-pod: install-t5x
	$(PY) -m ptjf.demo --hosts=2

bench-input: install
	$(PY) -m benchmarks.input_pipeline
	$(PY) -m benchmarks.mc4_json_input

bench: bench-input install-t5x
	$(PY) -m benchmarks.phase_switch
	$(PY) -m benchmarks.demo_breakdown

bench-tpu: install-t5x
	$(PY) -c 'import libtpu' 2>/dev/null || $(PY) -m pip install --quiet -e '.[tpu]'
	$(PY) -m benchmarks.stock_umt5

REPRODUCTION_DIR ?= /tmp/ptjf_reproduction
reproduce: install-t5x
	$(PY) -m benchmarks.epochs --markdown=docs/figures/reproduction_epochs.md
	$(PY) -m benchmarks.reproduce_pair --workdir=$(REPRODUCTION_DIR)/pair
	$(PY) -m benchmarks.reproduce_languages --workdir=$(REPRODUCTION_DIR)/languages
