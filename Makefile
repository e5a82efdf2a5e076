# Two commands set up everything on a fresh machine:
#   make course   run every notebook in order, write executed notebooks + HTML to build/
#   make test     unit tests of helpers/ and every notebook end to end (quick mode)
SHELL  := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup course test test-without-tools lab bench bench-twice lint clean weights serve

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml web/package-lock.json
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	$(PY) -m helpers.data
	@bash scripts/system_packages.sh
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix web --no-audit --no-fund --loglevel=error; \
	  else echo "optional: npm missing (installs the web page's packages for notebooks 15 and 16); get it:" \
	    "apt-get install npm | brew install node | winget install OpenJS.NodeJS.LTS; then npm ci --prefix web" >&2; fi
	@touch $(STAMP)

course: setup
	$(PY) scripts/run_course.py

test: setup
	@COURSE_QUICK=1 $(PY) -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The same tests on a machine without the optional tools (Chromium, chromedriver, hey, graphviz,
# npm): their notebook sections skip with one line each, and everything else still passes.
test-without-tools: setup
	$(PY) scripts/without_tools.py chromium chromedriver hey dot npm -- $(MAKE) test

lab: setup
	$(VENV)/bin/jupyter lab notebooks

bench: setup
	$(PY) -m helpers.bench --grid full --report reports/bench

# Two full grids back to back on a quiet machine, then their findings and headline compared
# (exit status 1 when they disagree); notebook 05 reuses the second run (reports/bench).
bench-twice: setup
	$(PY) -m helpers.bench --grid full --report reports/bench-1
	$(PY) -m helpers.bench --grid full --report reports/bench
	set -o pipefail; $(PY) -m helpers.bench --compare reports/bench-1 reports/bench | tee reports/bench-twice.md

weights: setup
	$(PY) -m helpers.models

# The HTTP service on the course model (trained and exported on first use), page at /web/
serve: setup
	$(PY) -m helpers.serve --course-model --port $(or $(PORT),8000)

lint: setup
	$(PY) -m ruff check helpers tests scripts solutions notebooks

clean:
	rm -rf build artifacts reports data/digits
	find data/images -type f ! -name CREDITS.md -delete
