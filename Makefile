# Every target works from a fresh clone: the first one builds .venv/ and fetches MNIST into data/.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# `make PY=/path/to/python ...` uses that interpreter as it is: nothing is installed into it, it is
# only checked (check-py); otherwise make builds .venv/ and installs dlproj there once.
STAMP  := $(if $(filter command line,$(origin PY)),check-py,$(VENV)/.installed-stamp)
MNIST  := data/MNIST/raw/t10k-labels-idx1-ubyte
ARGS   ?=

.PHONY: help install check-py data cluster cluster-stop test test-fast coverage lint run bench report-table results-doc reproduce reproduce-quick clean

help:
	@echo "make run            the default experiment (Section 1 MLP on MNIST); ARGS='section=3 ...'"
	@echo "make test           the whole test suite (builds .venv and fetches MNIST on first use)"
	@echo "make cluster        install (root, apt-get) and start the single-node SLURM cluster the SLURM tests use"
	@echo "make coverage       the test suite with line and branch coverage of dlproj/"
	@echo "make lint           ruff"
	@echo "make bench          NumPy vs PyTorch training steps at 1 thread and all cores, GFLOP/s"
	@echo "make report-table   every run under outputs/ as one results table"
	@echo "make results-doc    docs/results.md (the README's results) from the runs under outputs/"
	@echo "make reproduce      every experiment of the study (conf/study/course.yaml), then the report;"
	@echo "                    a rerun runs only what is missing, failed or interrupted"
	@echo "make reproduce-quick  the same on small limits (conf/study/quick.yaml, outputs/quick/)"

EXTRAS := test,launchers,search,trackers
# The launchers, search and trackers extras too: their tests (joblib, submitit_local, SLURM, Optuna,
# TensorBoard, MLflow) run in `make test`.
$(VENV)/.installed-stamp: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	touch $@

check-py:
	@$(PY) -c "import numpy, hydra, omegaconf, pandas, matplotlib" 2>/dev/null || { echo \
	"make: PY=$(PY) lacks dlproj's dependencies; install them into that interpreter yourself" \
	"(pip install -e '.[$(EXTRAS)]') or leave PY out to use $(VENV)/, which make builds"; \
	exit 2; }

install: $(STAMP)

$(MNIST): | $(STAMP)
	$(PY) -m dlproj.data

data: $(STAMP) $(MNIST)

# A single-node SLURM cluster for the SLURM tests (root: installs Debian's slurm and munge when
# missing, starts the daemons); the tests find it at $(CLUSTER)/slurm.conf and skip without it.
CLUSTER ?= /tmp/dlproj-slurm
cluster:
	bash scripts/slurm/install.sh
	bash scripts/slurm/start_cluster.sh $(CLUSTER)

cluster-stop:
	bash scripts/slurm/stop_cluster.sh $(CLUSTER)

# Both cores (pytest-xdist; each test file stays on one worker so that its fixtures are built
# once), the 15 slowest tests listed at the end.
PYTEST := $(PY) -m pytest -q -n auto --dist loadfile --durations=15

test: data
	$(PYTEST)

# Line and branch coverage of dlproj/ (pytest-cov), per module.
coverage: data
	$(PYTEST) --cov --cov-branch --cov-report=term

test-fast: data
	$(PYTEST) -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check dlproj tests hydra_plugins scripts

run: data
	$(PY) -m dlproj $(ARGS)

bench: data
	$(PY) -m dlproj.bench $(ARGS)

report-table: $(STAMP)
	$(PY) -m dlproj.report $(ARGS)

# docs/results.md (the README's results) from the runs under outputs/: after `make reproduce`.
results-doc: $(STAMP)
	$(PY) -m dlproj.reproduce.results_doc $(ARGS)

# The whole study at full budget (conf/study/course.yaml) into outputs/, then the report. Jobs run
# side by side on all cores; a rerun skips every (setting, seed) already completed (ARGS=--force).
reproduce: data
	$(PY) -m dlproj.reproduce --study course $(ARGS)

# The same steps on small limits (conf/study/quick.yaml) into outputs/quick/, in minutes.
reproduce-quick: data
	$(PY) -m dlproj.reproduce --study quick $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
