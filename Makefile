# `make run`, `make demo` and `make test` set up .venv/ with the pinned dependencies when needed, then do their job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run demo test bench bench-analyst train train-ner clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/newsflow run

# The Wikinews sample (samples/wikinews/, CC BY 2.5) in a warehouse of its own, then the page on
# http://127.0.0.1:8000 (Ctrl-C stops it). The two files are named, not the folder, so that the
# folder's README is not read as an input. The load runs again only when a file changes; the
# marker is written after a run that succeeded (tests/test_readme.py runs this same line).
DEMO_LOADED := demo-warehouse/.loaded

demo: $(DEMO_LOADED)
	$(BIN)/newsflow web --warehouse demo-warehouse

$(DEMO_LOADED): samples/wikinews/wikinews_2019.csv samples/wikinews/wikinews_2020.csv | $(STAMP)
	$(BIN)/newsflow run samples/wikinews/wikinews_2019.csv samples/wikinews/wikinews_2020.csv --warehouse demo-warehouse
	touch $(DEMO_LOADED)

# The whole suite in PYTEST_WORKERS processes (pytest-xdist; 2 = this machine's and CI's cores), then
# the ten slowest tests. Each module runs whole in one worker (loadfile: a module's fixtures are built
# once); tests/conftest.py puts the modules holding `slow` tests first: a new
# slow test (real processes, servers, a browser) only needs `@pytest.mark.slow` (see pyproject.toml).
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

test: $(STAMP) browser
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=10 $(PYTEST_ARGS)

# Headless Chromium for the browser test (tests/test_web_browser.py): Debian's package, driven by
# Playwright, which never downloads a browser of its own. The package list is refreshed only when
# the install fails without it.
browser:
	@test -x /usr/bin/chromium || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }

# The learned event coder: fit on benchmarks/data/labels/ (fixed seeds), report the held-out test
# split, write lexicons/event_coder.json.gz.
train: $(STAMP)
	$(BIN)/python training/train_coder.py --curve

# newsflow's NER component: the package's ner fine-tuned on WikiGold's train split (fixed seeds,
# one thread; dev F1 per epoch), written to lexicons/ner_component. Then `make train`, since the
# event coder's features read the entity spans.
train-ner: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python training/train_ner.py

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

# What an analyst waits for, against loading the spaCy model in a fresh process: a one-article
# run, the same run unchanged, and GET / on the demo warehouse (loaded first when needed).
bench-analyst: $(DEMO_LOADED)
	$(BIN)/python benchmarks/analyst.py

clean:
	rm -rf $(VENV) demo-warehouse sample-warehouse warehouse/catalog.sqlite* warehouse/search.sqlite* warehouse/data warehouse/docs warehouse/staging
