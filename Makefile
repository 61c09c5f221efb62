# make test: install into .venv (if needed) and run the suite.
# make demo: run the embedded default on the synthetic corpus.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: test demo install

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

test: install
	$(PY) -m pytest -q tests

demo: install
	$(PY) -m mixtures.show --preview ptjf_synth.en_only ptjf_synth.tau3.33
