# Two commands matter: `make demo` and `make test`. Both build their own .venv.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

# DDS stays on this machine: discovery on loopback only, a domain of our own.
# Set here (and in test/conftest.py), never inside the node: robots need real discovery.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_DOMAIN_ID ?= 57
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp

.PHONY: venv test lint typecheck demo bench compare train-default clean

venv: $(STAMP)

# torch is pinned on its own line so pip takes the CPU build that lies on disk.
$(STAMP): setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[ros,train,bags,fleet,dev]'
	touch $@

lint: $(STAMP)
	$(PY) -m ruff check asymfusion_ros test launch

typecheck: $(STAMP)
	$(PY) -m mypy asymfusion_ros

test: lint typecheck
	$(PY) -m pytest

demo: $(STAMP)
	$(VENV)/bin/asymfusion demo --seconds 20 --out demo_out

bench: $(STAMP)
	$(VENV)/bin/asymfusion bench --model default --compare torch,onnxruntime

compare: $(STAMP)
	$(VENV)/bin/asymfusion compare --config config/train/compare.yaml --out runs/compare

train-default: $(STAMP)
	$(VENV)/bin/asymfusion train --config config/train/default.yaml --out runs/default

clean:
	rm -rf build install log demo_out .pytest_cache .mypy_cache .ruff_cache
