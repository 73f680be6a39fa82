# ztbkit — two commands on a fresh machine with Python 3.11+, make and Debian's chromium:
#   make demo   set up .venv with the runtime dependencies only, build the demo artifacts, render every report
#   make test   add the dev tools to .venv, then ruff, mypy and pytest (the browser tests need /usr/bin/chromium)
#   make lab    JupyterLab from .venv in notebooks/ (your copies of the report notebooks), demo artifacts built
#   make setup-browser   apt-get install chromium (the one system package the tests need)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps: what the demo, the reports and the scheduler need (`pip install -e .`), and on top of it
# the dev tools `make test` needs (.[dev]: playwright, moto, mypy, tensorboard, jupyterlab...), which
# more than doubled a first `make demo`.
RUNTIME := $(VENV)/.ztbkit-runtime
STAMP  := $(VENV)/.ztbkit-installed
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

CHROMIUM ?= /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
LAB_PORT ?= 8888
# The real bot files the tests read (tests/conftest.py): ../shared unless ZTB_SHARED_DIR says otherwise.
ZTB_SHARED_DIR ?= ../shared

.PHONY: setup setup-runtime setup-browser check-browser check-fixtures demo-data demo lab test lint bench mutation messages clean

setup-runtime: $(RUNTIME)

$(RUNTIME): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ztbkit needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name ztbkit --display-name "Python (ztbkit)" >/dev/null
	@touch $(RUNTIME)

setup: $(STAMP)

$(STAMP): $(RUNTIME)
	$(PIP) -e '.[dev]'
	@touch $(STAMP)

setup-browser:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium faketime

# Before anything is installed: one line saying what to install, instead of a failure minutes later.
check-browser:
	@test -x $(CHROMIUM) || { echo "make test needs Chromium at $(CHROMIUM) for the browser tests: run 'make setup-browser' (sudo apt-get install chromium faketime)" >&2; exit 2; }

check-fixtures:
	@test -d $(ZTB_SHARED_DIR)/fixtures/zaif-trade-bot || { echo "make test needs the real bot fixtures at $(ZTB_SHARED_DIR)/fixtures/zaif-trade-bot: put the shared/ folder beside this checkout or set ZTB_SHARED_DIR" >&2; exit 2; }

demo-data: setup-runtime
	@test -d demo/artifacts || $(BIN)/ztb demo --out-dir demo

# JupyterLab from the project venv (the one-environment rule: ipywidgets and JupyterLab side by
# side), the "Python (ztbkit)" kernel registered by setup, the demo artifacts the notebooks default to.
# `ztb lab` opens the workspace notebooks/ (git-ignored): copies made or refreshed, a user's edits kept.
lab: setup-runtime demo-data
	@test -x $(BIN)/jupyter-lab || $(PIP) -e '.[lab]'
	$(BIN)/ztb lab --dir notebooks --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) $(LAB_ARGS)

demo: setup-runtime
	$(BIN)/ztb demo --out-dir demo
	$(BIN)/ztb nightly --artifacts-dir demo/artifacts --out-dir outputs --date 2025-10-31
	@echo "reports are in outputs/2025-10-31/ (open dashboard.html or compare.html in a browser); every night: outputs/index.html"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# Two workers (pytest-xdist). The timing-sensitive tests (races, kill -9, kernel starts, faketime
# runners, Chromium) are one unit of work, run by one worker one after another as they were alone;
# the rest is shared out (tests/conftest.py: SERIAL). PYTEST_WORKERS=0: everything in this process.
PYTEST_WORKERS ?= 2
test: check-browser check-fixtures lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

# The Japanese catalogue: extract the messages from src/ztbkit, merge them into
# src/ztbkit/locale/ja/LC_MESSAGES/ztbkit.po (new ones empty) and compile ztbkit.mo beside it (committed).
# Exit 1 while an entry is untranslated; tests/test_locale.py fails on the same.
messages: setup
	$(BIN)/python -m ztbkit.cli.messages

bench: setup
	$(BIN)/python benchmarks/bench_load.py

# Mutation score of the modules whose promises users rely on ([tool.mutmut] in pyproject.toml).
# Slow, so not part of `make test`. By default only the promise-bearing functions of artifacts
# (the lookup order) and tensorboard (record framing) are mutated, with the whole of the other
# modules: every function of all seven is several hours on 2 shared cores (`make mutation MUTANTS=`).
# Narrow it with mutmut's names, e.g. make mutation MUTANTS='ztbkit.core.fsio.*'; list survivors with
# `.venv/bin/mutmut results`. The tests run from mutants/ (a copy), so ZTB_SHARED_DIR is passed.
MUTANTS ?= 'ztbkit.core.fsio.*' 'ztbkit.core.jsonread.*' 'ztbkit.money.tariffs.*' 'ztbkit.notify.delivery.*' \
	'ztbkit.notify.webhook.*' 'ztbkit.schedule.runner.*' 'ztbkit.data.lookup.x_scopes_of__*' \
	'ztbkit.data.lookup.x_candidates__*' 'ztbkit.data.lookup.x_lookup_number__*' 'ztbkit.data.lookup.x_lookup_count__*' \
	'ztbkit.data.session.x_finish_session__*' 'ztbkit.data.tb_events.x_masked_crc__*' 'ztbkit.data.tb_events.x__header_ok__*' \
	'ztbkit.data.tb_events.x__resync__*' 'ztbkit.data.tb_events.x__scan_range__*' 'ztbkit.data.tb_events.x__scan_buffer__*'
mutation: setup
	rm -rf mutants
	ZTB_SHARED_DIR=$${ZTB_SHARED_DIR:-$(abspath ..)/shared} $(BIN)/mutmut run $(MUTANTS)
	$(BIN)/python tests/mutation_score.py $(MUTANTS)

clean:
	rm -rf $(VENV) outputs demo benchmarks/data test-artifacts mutants .mypy_cache .ruff_cache .pytest_cache
