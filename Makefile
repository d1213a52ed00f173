# kubemedic developer entry points. `make demo` runs the main job on a rehearsal lab,
# `make test` runs every check CI runs. Both set everything up first (idempotent).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
LAB ?= lab
NODES ?= 3

.PHONY: setup demo demo-down lint unit test kubernetes clean

$(BIN)/kubemedic: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,speed]'
	touch $@

collections/.installed: requirements.yml $(BIN)/kubemedic
	PYTHON=$(BIN)/python scripts/install-collections
	touch $@

setup: $(BIN)/kubemedic collections/.installed
	scripts/setup-host

# The main job (scripts/demo): a 3-node lab with an offline bundle built here (no internet),
# bootstrap twice (the 2nd changes nothing), two injected faults, doctor names each repair,
# recover runs it, doctor is clean, the incident report is written and its path printed.
demo: setup
	scripts/demo --name $(LAB) --nodes $(NODES)

demo-down:
	kubemedic lab down --name $(LAB)

lint: setup
	scripts/lint

unit: setup
	pytest -q tests/unit

# Everything: lint, unit tests, lab integration tests and molecule scenarios (run by pytest).
# scripts/build-kubernetes first (~15-30 min cold on 2 cores, 0.3 s when cached): `lab up
# --kubernetes` and the real-cluster tests bootstrap real Kubernetes 1.20.2 from its result.
test: setup
	scripts/lint
	scripts/build-kubernetes
	pytest -v -p no:cacheprovider -n 3 --dist loadfile --durations=40 tests
	@echo "== the lab tests again with the linear strategy (the run above used Mitogen when installed)"
	@# except the real-cluster module (marker kubernetes): once is what CI's 75 minutes allow
	KUBEMEDIC_MITOGEN=0 pytest -v -p no:cacheprovider -n 3 --dist loadfile -m "lab and not kubernetes" tests

# Real Kubernetes 1.20.2 (kubeadm, kubelet, kubectl .debs + control-plane/etcd/pause image archive)
# built from Debian's source package, cached by content in the kubemedic cache dir: ~14 min cold
# on 2 cores, seconds when cached (docs/lab.md "Real Kubernetes"). `make test` runs it too.
kubernetes:
	scripts/build-kubernetes

clean:
	rm -rf $(VENV) collections .pytest_cache .ruff_cache .cache
