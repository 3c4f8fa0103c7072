# The two commands a user needs: `make demo` (whole job on the lab) and `make test` (everything CI runs).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
LAB := lab/bin/lab
INVENTORY ?= inventories/lab
export DOCKER_HOST ?= unix:///run/edgelab/docker.sock
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv system-deps lab-up lab-down lab-status demo site teardown test lint unit lab-test molecule bench ee model runtime-image clean

help:
	@echo "make demo | make test | make lab-up | make lab-down | make teardown | make bench | make lint"

system-deps:
	@bash scripts/system-deps.sh

venv: $(VENV)/.installed .collections/ansible_collections/edgeml/wavelength

$(VENV)/.installed: requirements.txt requirements-dev.txt runtime/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# The repo root is the collection: expose it to Ansible by FQCN without building a tarball.
.collections/ansible_collections/edgeml/wavelength:
	mkdir -p .collections/ansible_collections/edgeml
	ln -sfn ../../.. $@

lab-up: system-deps venv
	$(LAB) up

lab-down:
	$(LAB) down

lab-status:
	$(LAB) status

# SITE_ARGS: extra ansible-playbook arguments, e.g. the two-container demo in README.md.
site: venv
	$(BIN)/ansible-playbook -i $(INVENTORY) site.yml $(SITE_ARGS)

teardown: venv
	$(BIN)/ansible-playbook -i $(INVENTORY) teardown.yml

demo: lab-up site
	@$(PY) scripts/show_endpoints.py

lint: venv
	$(BIN)/yamllint -s .
	$(BIN)/ruff check .
	ANSIBLE_HOME=$(CURDIR)/.cache/ansible-home $(BIN)/ansible-lint  # not ~/.ansible: an installed copy there would shadow this clone
	$(PY) scripts/role_readmes.py --check

# Role tests that bring their own AWS endpoint (in-process) and a private Kubernetes API: no lab, so they run in the
# parallel pool with the unit tests instead of one after the other on the lab.
OFFLINE_ROLE_TESTS := tests/roles/test_deploy_offline.py tests/roles/test_deploy_endpoint_check.py

# Tests that need no lab (the AWS endpoint they use runs in-process on a free loopback port).
UNIT_WORKERS ?= auto
unit: venv
	$(BIN)/pytest -q -n $(UNIT_WORKERS) tests/unit tests/model tests/awx $(OFFLINE_ROLE_TESTS)

# Tests on the running lab; tests/lab goes last because its lifecycle test restarts the lab.
lab-test: lab-up
	$(BIN)/pytest -q tests/runtime
	$(BIN)/pytest -q --durations=25 tests/roles tests/e2e $(addprefix --ignore=,$(OFFLINE_ROLE_TESTS))
	$(BIN)/pytest -q tests/lab

# Molecule brings the lab up itself and takes it down after teardown.
molecule: system-deps venv
	$(BIN)/molecule test -s default

# The unit tests need no lab and the lab tests mostly wait on it: they run side by side, the unit tests on one core
# (their output goes to .cache/unit.log and is shown when lab-test ends). Then Molecule, which restarts the lab.
test: system-deps venv lint
	@mkdir -p .cache
	@$(MAKE) --no-print-directory unit UNIT_WORKERS=1 > .cache/unit.log 2>&1 & unit=$$!; \
	$(MAKE) --no-print-directory lab-test; lab=$$?; \
	wait $$unit; unit=$$?; echo "--- make unit (beside lab-test): exit $$unit"; cat .cache/unit.log; \
	test $$lab -eq 0 -a $$unit -eq 0
	@$(MAKE) --no-print-directory molecule

bench: lab-up
	$(PY) bench/runtime_bench.py
	$(PY) bench/lab_startup.py
	$(PY) bench/converge_bench.py
	$(PY) bench/address_failover_bench.py

# Rebuild the demo model from its recipe (torch in .venv-train; ~10-30 min on 2 cores). The artifact is committed.
model:
	model/build.sh

runtime-image:
	runtime/image/build.sh

# Execution environment for AWX/AAP (needs a container engine with access to the base image registry).
ee: venv
	$(BIN)/ansible-galaxy collection build --force --output-path dist .
	$(BIN)/ansible-builder build -f awx/execution-environment.yml -t edgeml-wavelength-ee:0.1.0

clean: lab-down
	rm -rf .lab .collections
