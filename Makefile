# The two commands of the README: `make run` and `make test`. Each sets up .venv from a
# fresh clone and then runs. Without an NVIDIA GPU, torch is the CPU build: from the
# PyTorch CPU index when it answers within TORCH_TIMEOUT seconds, else a `+cpu` build
# from pip's own indexes (a mirror, a local wheel); only when neither has one, pip's
# default build (CPU on macOS and ARM, CUDA on Linux x86-64), with a warning.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
TORCH   := torch==2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_TIMEOUT   ?= 15

.PHONY: run test lint typecheck bench gpu-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
ifneq ($(HAS_GPU),1)
	@# No NVIDIA GPU: the CPU build of torch, so pip does not pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q --timeout $(TORCH_TIMEOUT) --retries 0 \
	  --index-url $(TORCH_CPU_INDEX) '$(TORCH)' \
	|| $(BIN)/python -m pip install -q '$(TORCH)+cpu' \
	|| { echo "warning: no CPU build of $(TORCH) reachable: the default index's build" \
	       "(on Linux x86-64 the CUDA one, several GB)"; \
	     $(BIN)/python -m pip install -q '$(TORCH)'; }
endif
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/autoresearch-tui $(ARGS)

test: $(STAMP)
	@# The TUI's end-to-end test drives the real program in tmux.
	@command -v tmux >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq tmux) \
	  || echo "tmux is not installed: the tmux end-to-end test will be skipped"
	@# Each experiment runs in a bubblewrap sandbox where it can (search/sandbox.py).
	@command -v bwrap >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq bubblewrap) \
	  || echo "bwrap is not installed: the sandbox's tests will be skipped"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	@# The suite's workspaces run `python train.py`: the venv's python, as if activated.
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

# mypy reads the code where it is installed: autoresearch_tui/<folder> links to each folder.
typecheck: $(STAMP)
	@mkdir -p build/typecheck/autoresearch_tui
	@for d in app search agents trainer briefs; do ln -sfn ../../../$$d build/typecheck/autoresearch_tui/$$d; done
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/autoresearch-tui bench overhead

gpu-check: $(STAMP)
	$(BIN)/python -m autoresearch_tui.trainer.gpu_check

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache
