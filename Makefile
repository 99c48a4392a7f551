# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3

.PHONY: install install-test run test test-fast test-functional-pg bench lint

install:
	$(PYTHON) -m pip install -q -e .

install-test:
	$(PYTHON) -m pip install -q -e '.[test,db]'

# A working cloud in one process that boots a server named "demo" and keeps serving.
# With QEMU/libvirt (installed by scripts/ensure-libvirt.sh as root) the demo server is a
# real VM (the tiny guest); where no hypervisor can run, the fake driver, said so.
run: install
	-PYTHON=$(PYTHON) bash scripts/ensure-libvirt.sh
	novalith up --demo --driver auto

# Every test: unit, functional (whole stack in process), integration, end-to-end.
test: install-test
	bash scripts/ensure-services.sh
	bash scripts/ensure-tools.sh
	PYTHON=$(PYTHON) bash scripts/ensure-libvirt.sh
	PYTHON=$(PYTHON) bash scripts/ensure-docker.sh
	$(PYTHON) -m pytest -q -p no:cacheprovider
	$(MAKE) test-functional-pg

# The functional suite once more, on PostgreSQL: each test cloud gets a fresh database
# (copied from a template migrated once), dropped afterwards.
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
test-functional-pg:
	NOVALITH_TEST_DB_URL=$(PG_TEST_URL) $(PYTHON) -m pytest -q -p no:cacheprovider tests/functional

test-fast: install-test
	bash scripts/ensure-tools.sh
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/unit tests/functional

bench: install
	$(PYTHON) bench/boot_fake.py --servers 1000
	$(PYTHON) bench/scheduler_select.py
	bash scripts/ensure-tools.sh
	$(PYTHON) bench/instance_disk.py

lint:
	$(PYTHON) -m ruff check src tests bench
