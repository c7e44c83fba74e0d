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

.PHONY: venv test lint typecheck demo bench compare train-default clean test-jazzy test-py310

venv: $(STAMP)

# torch is pinned on its own line so pip takes the CPU build that lies on disk.
$(STAMP): setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[ros,train,bags,fleet,dev]'
	touch $@

# The LTS checks: a second and third venv that test the package on another Python (and ROS)
# without torch. PyPI's torch 2.13.0 for Python 3.10 and 3.12 is a CUDA build of several GB (only
# the Python 3.11 CPU file lies on disk), so these venvs take no torch: the ROS and replay tests run
# on the tiny ONNX bundle that the main venv exports, as a robot runs ONNX Runtime without torch.
JAZZY_VENV ?= .venv-jazzy
PY310_VENV ?= .venv-py310
# Each takes the numpy of its distro's Ubuntu (24.04: 1.26.4, 22.04: 1.21.5), which a robot's
# apt-installed ROS is built against; the main venv tests numpy 2.
JAZZY_PINS := numpy==1.26.4
PY310_PINS := numpy==1.21.5
TINY_ONNX := build/tiny_model/tiny_asymfusion.onnx
# Every module with a test marked `ros`, and the ROS-side tests beside them: message builders,
# sync, frames and replay on real bags.
ROS_TESTS = $(shell grep -l 'pytest.mark.ros' test/test_*.py)
JAZZY_TESTS := test/test_messages.py test/test_sync.py test/test_frames.py test/test_replay.py
# Test modules that import torch or h5py (the `train` extra), directly or through the package's
# torch-only parts, cannot be collected without them.
TRAIN_TESTS = $(shell grep -lE '^(import|from) (torch|h5py)\b|^from asymfusion_ros\.(fusion|training|inference\.torch_backend)' test/test_*.py)

# pythonX.Y: the one on PATH, else pyenv's newest X.Y (the CI machine's image has 3.10 and 3.12
# there; found by path, so pyenv need not be on PATH).
PYENV_VERSIONS := $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions
find_python = $(firstword $(foreach p,$(shell command -v python$(1)) $(lastword $(sort $(wildcard $(PYENV_VERSIONS)/$(1).*/bin/python$(1)))),$(shell $(p) -c 'print("$(p)")' 2>/dev/null)))
PYTHON312 ?= $(call find_python,3.12)
PYTHON310 ?= $(call find_python,3.10)

comma := ,
# $(1) venv, $(2) Python version, $(3) its interpreter, $(4) extras, $(5) pins: a venv with no torch.
define torchless_venv
	test -n '$(3)' || { echo 'no python$(2) found for $(1): install one (pyenv install $(2), or apt)' >&2; exit 1; }
	test -x $(1)/bin/python || $(3) -m venv $(1)
	$(1)/bin/python -m pip install -q --upgrade pip
	$(1)/bin/python -m pip install -q $(5) -e '.[$(4)]'
	! $(1)/bin/python -c 'import torch' 2>/dev/null || { echo '$(1) pulled in torch' >&2; exit 1; }
	touch $(1)/.installed
endef

$(JAZZY_VENV)/.installed: setup.py Makefile
	$(call torchless_venv,$(JAZZY_VENV),3.12,$(PYTHON312),ros-jazzy$(comma)bags$(comma)dev,$(JAZZY_PINS))

$(PY310_VENV)/.installed: setup.py Makefile
	$(call torchless_venv,$(PY310_VENV),3.10,$(PYTHON310),bags$(comma)dev,$(PY310_PINS))

$(TINY_ONNX): $(STAMP) test/tiny_model.py $(wildcard asymfusion_ros/*.py asymfusion_ros/*/*.py)
	$(PY) test/tiny_model.py $@

# ROS_TESTS and JAZZY_TESTS on ROS 2 Jazzy (Python 3.12, ros-jazzy-* wheels). Humble's messages
# check every field on assignment; Jazzy's do so only with ROS_PYTHON_CHECK_FIELDS=1.
test-jazzy: $(JAZZY_VENV)/.installed $(TINY_ONNX)
	ASYMFUSION_TEST_ONNX=$(abspath $(TINY_ONNX)) ROS_PYTHON_CHECK_FIELDS=1 $(JAZZY_VENV)/bin/python -m pytest $(sort $(ROS_TESTS) $(JAZZY_TESTS))

# On Python 3.10 (Humble's): every module compiles, and the non-ROS tests pass (no rclpy there).
test-py310: $(PY310_VENV)/.installed $(TINY_ONNX)
	$(PY310_VENV)/bin/python -m compileall -q asymfusion_ros launch test
	ASYMFUSION_TEST_ONNX=$(abspath $(TINY_ONNX)) $(PY310_VENV)/bin/python -m pytest -m 'not ros' \
		$(addprefix --ignore=,$(TRAIN_TESTS))

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
