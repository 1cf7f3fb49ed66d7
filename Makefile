# vts — every step of the project is a target here. Each works alone from a
# fresh clone: targets depend on what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.setup-done
PROFILE ?= default
export PYTHONHASHSEED := 0

.PHONY: setup data features train figures screenshots seeds regularizers test test-browser bench lab clean help

help:
	@echo "make setup     create .venv and install vts (CPU torch pinned by constraints.txt)"
	@echo "make data      index and validate the audio corpus -> data/catalog.csv"
	@echo "make features  spectral frames for every transform (cached in features/)"
	@echo "make train     train the vanilla space and every regularised kind -> models/ (PROFILE=$(PROFILE))"
	@echo "make figures   run all notebooks -> figures/ (PROFILE=$(PROFILE))"
	@echo "make screenshots  the explorer on the showcase space and the page, in headless Chromium -> docs/img/"
	@echo "make seeds     the NSGT-ERB spaces for 3 seeds, evaluated on every study -> build/seeds/"
	@echo "make regularizers  every regulariser kind and weight tried on NSGT-ERB -> build/regularizers/"
	@echo "make test      the test suite (includes every notebook on the smoke profile)"
	@echo "make bench     benchmarks -> benchmarks/results/*.json"
	@echo "make lab       JupyterLab on this repository"
	@echo "make clean     remove generated files (keeps .venv and data/)"

# The stamp depends on the files that define the environment, so editing them
# re-runs the install; otherwise `make setup` is a fast no-op.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	# nsgt 0.19 ships an sdist whose setup.py imports numpy: numpy first, then no build isolation.
	$(PIP) install --quiet -c constraints.txt numpy
	$(PIP) install --quiet -c constraints.txt --no-build-isolation "nsgt>=0.19"
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

data: setup
	$(BIN)/vts data

features: data
	$(BIN)/vts features

train: features
	$(BIN)/vts train --profile $(PROFILE)

figures: train
	$(BIN)/vts figures --profile $(PROFILE)

test: setup
	$(BIN)/python -m pytest -q

# End-to-end tests in a real browser: Debian's headless Chromium driven by
# Playwright (its bundled driver, never its browser download): the explorer in
# JupyterLab, then the companion page.
test-browser: setup
	bash tools/install-browser.sh $(BIN)/python
	$(BIN)/python -m pytest -q -m browser tests/test_browser.py tests/test_page.py

# The README's screenshots of the explorer and the page (Debian's Chromium, as test-browser),
# from what `make figures` built (the tool says so if it is missing).
screenshots: setup
	bash tools/install-browser.sh $(BIN)/python
	$(BIN)/python tools/readme_screenshots.py

seeds: features
	$(BIN)/python tools/seed_study.py --profile $(PROFILE)

regularizers: features
	$(BIN)/python tools/regularizer_study.py --profile $(PROFILE)

bench: features
	$(BIN)/python benchmarks/run.py

lab: setup
	$(BIN)/jupyter lab --notebook-dir=.

clean:
	rm -rf build/ models/ features/ figures/ .pytest_cache
