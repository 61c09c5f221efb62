# make test: install into .venv (if needed) and run the suite.
# make demo: the embedded default, the tiny PTJF chain with T5X on CPU; installs
#   the t5x extra into .venv first unless T5X already imports there.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: test demo install install-t5x

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
