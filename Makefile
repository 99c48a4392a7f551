# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3

.PHONY: install install-test run test test-fast bench lint

install:
	$(PYTHON) -m pip install -q -e .

install-test:
	$(PYTHON) -m pip install -q -e '.[test,db]'

# A working cloud in one process that boots a server named "demo" and keeps serving.
run: install
	novalith up --demo

# Every test: unit, functional (whole stack in process), integration, end-to-end.
test: install-test
	bash scripts/ensure-services.sh
	$(PYTHON) -m pytest -q -p no:cacheprovider

test-fast: install-test
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/unit tests/functional

bench: install
	$(PYTHON) bench/boot_fake.py --servers 1000
	$(PYTHON) bench/scheduler_select.py

lint:
	$(PYTHON) -m ruff check src tests bench
