# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := tf,aws,gpu,openvino,k8s,dev

.PHONY: run test setup samples bench clean unit functional snapshots

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/workbench

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

functional: $(STAMP)
	$(PY) -m pytest -q tests/functional

snapshots: $(STAMP)
	$(PY) -m pytest -q tests/snapshots

samples: $(STAMP)
	$(PY) -m workbench samples build

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
