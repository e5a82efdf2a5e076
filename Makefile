# Two commands set up everything on a fresh machine:
#   make course   run every notebook in order, write executed notebooks + HTML to build/
#   make test     unit tests of helpers/ and every notebook end to end (quick mode)
SHELL  := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup course slides timings test test-without-tools cpu-checks lab bench bench-twice lint clean weights serve serve-ray

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml web/package-lock.json slides/package-lock.json
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	$(PY) -m helpers.data
	@bash scripts/system_packages.sh
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix web --no-audit --no-fund --loglevel=error && \
	  npm ci --prefix slides --no-audit --no-fund --loglevel=error; \
	  else echo "optional: npm missing (installs the web page's packages for notebooks 15 and 16); get it:" \
	    "apt-get install npm | brew install node | winget install OpenJS.NodeJS.LTS; then npm ci --prefix web; npm ci --prefix slides" >&2; fi
	@touch $(STAMP)

course: setup
	$(PY) scripts/run_course.py

# One reveal.js deck per executed notebook (run `make course` first), offline: build/slides/
slides: setup
	$(PY) scripts/slides.py build

# Fold the last runs' measured times (make course, make test) into docs/timings.json, the
# notebooks' "Run time" lines and the instructor's guide (docs/instructor.md)
timings: setup
	$(PY) scripts/timings.py update

# Two workers (pytest-xdist), one file at a time each, longest notebooks first (conftest.py): the cores are
# shared, so quick-mode timings printed by `make test` check the code, they measure nothing
# (`make course` runs one notebook at a time). TEST_WORKERS=1 runs everything in one process.
TEST_WORKERS ?= 2
test: setup
	@COURSE_QUICK=1 $(PY) -m pytest $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The same tests on a machine without the optional tools (Chromium, chromedriver, hey, graphviz,
# npm): their notebook sections skip with one line each, and everything else still passes.
test-without-tools: setup
	$(PY) scripts/without_tools.py chromium chromedriver hey dot npm -- $(MAKE) test

# The CPU-dependent findings (ORT's INT8 kernel, OpenVINO's default precision, INT8 logits)
# here, then on an emulated AVX2-only CPU (QEMU user mode: apt-get install qemu-user); about
# 10 minutes. Decisions and correctness only: emulated timings mean nothing.
cpu-checks: setup
	$(PY) scripts/cpu_checks.py prepare
	$(PY) scripts/cpu_checks.py check --label "this CPU"
	@command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 not found: apt-get install qemu-user (Debian/Ubuntu; x86-64 hosts)"; exit 1; }
	qemu-x86_64 -cpu Haswell $(PY) scripts/cpu_checks.py check --label "emulated Haswell (AVX2 only)" 2>&1 | grep -v "^qemu-x86_64: warning"

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

# The same app on Ray Serve (local Ray, no dashboard; notebook 17): REPLICAS x 1 ORT thread,
# requests batched up to BATCH per session.run; Ctrl-C stops Ray
serve-ray: setup
	$(PY) -m helpers.serve --engine ray --course-model --port $(or $(PORT),8001) \
	  --replicas $(or $(REPLICAS),1) --max-batch-size $(or $(BATCH),8)

lint: setup
	$(PY) -m ruff check helpers tests scripts solutions notebooks

clean:
	rm -rf build artifacts reports data/digits
	find data/images -type f ! -name CREDITS.md -delete
