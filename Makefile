# `make run` and `make test` set up .venv/ with the pinned dependencies when needed, then do their job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test bench clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/newsflow run

test: $(STAMP) browser
	$(BIN)/python -m pytest

# Headless Chromium for the browser test (tests/test_web_browser.py): Debian's package, driven by
# Playwright, which never downloads a browser of its own. The package list is refreshed only when
# the install fails without it.
browser:
	@test -x /usr/bin/chromium || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf $(VENV) warehouse/catalog.sqlite* warehouse/search.sqlite* warehouse/data warehouse/docs warehouse/staging
