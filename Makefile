# make test: install into .venv (if needed) and run the suite.
# make demo: the embedded default, the tiny PTJF chain with T5X on CPU; installs
#   the t5x extra into .venv first unless T5X already imports there.
# make bench: the benchmarks (the input pipeline's alone needs no T5X:
#   make bench-input). make reproduce: the tiny reproduction, two grids of about 30 min each.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: test demo bench bench-input reproduce install install-t5x

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

test: install
	$(PY) -m pytest -q tests

install-t5x: $(VENV)/.installed-t5x

$(VENV)/.installed-t5x: $(VENV)/.installed
	$(PY) -c 'import t5x' 2>/dev/null || $(PY) -m pip install --quiet -e '.[t5x]' \
	  || { echo "Could not install T5X (it comes from GitHub): see README, Set up."; exit 1; }
	touch $@

demo: install-t5x
	$(PY) -m ptjf.demo

bench-input: install
	$(PY) -m benchmarks.input_pipeline

bench: bench-input install-t5x
	$(PY) -m benchmarks.phase_switch
	$(PY) -m benchmarks.demo_breakdown

REPRODUCTION_DIR ?= /tmp/ptjf_reproduction
reproduce: install-t5x
	$(PY) -m benchmarks.reproduce_tiny --workdir=$(REPRODUCTION_DIR)/regularised
	$(PY) -m benchmarks.reproduce_tiny --workdir=$(REPRODUCTION_DIR)/unregularised \
	  --gin='DROPOUT_RATE = 0.0' --gin='LABEL_SMOOTHING = 0.0' \
	  --output=docs/reproduction_tiny_unregularised
