# digest-archive: every set-up step lives here, so a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo serve lint format docs test test-e2e test-wordpress screenshots bench crawl backfill clean

## setup: create .venv/ with the project and its pinned dependencies
setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# The project's bytecode once, here: else each of make test's workers compiles it again on a first run.
	$(BIN)/python -m compileall -q core crawler spiders storage cli reader fixtures tests
	touch $(STAMP)

## demo: crawl the bundled fixture archive offline into demo.db and show what was stored
demo: setup
	$(BIN)/python -m fixtures.demo --db demo.db

## serve: browse what `make demo` stored, in Datasette with the project's reader, at http://127.0.0.1:8001/demo
serve: setup
	test -f demo.db || $(MAKE) demo
	$(BIN)/digest-archive serve demo.db --port 8001

## lint: the code's own checks (ruff's lint and format rules, mypy, the import contract); fails on any finding
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## format: let ruff sort imports, fix what it can and format the code
format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## docs: regenerate what the docs take from the code (cog: command help, settings, schema, failure kinds, exit codes, import contracts)
DOCS := README.md $(wildcard docs/*.md docs/reference/*.md)
docs: setup
	$(BIN)/cog -r -I . $(DOCS)

## test: the code's checks, then the whole suite (parsers on saved pages, storage, crawls against the fixture server)
# Four workers on two cores: part of a crawl test's time is spent waiting (timeouts, slowed servers),
# which the extra workers fill (measured: 83 s with four, 91 s with three, 141 s with two). Each test goes to the next free worker, the longest first, and each worker
# forks its crawls from a process that has Scrapy imported (tests/conftest.py, tests/forkserver.py).
# Bytecode caches on even where PYTHONDONTWRITEBYTECODE is set: without them every worker compiles the
# project and rewrites the tests' asserts again, a few seconds of CPU each (docs/contributing.md).
test: setup lint
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n 4 --dist loadscope --durations=10

## test-e2e: a real browser (Debian's chromium, installed by scripts/install-browser.sh) and a real scrapyd
test-e2e: setup
	bash scripts/install-browser.sh
	$(BIN)/pytest -m e2e

## test-wordpress: crawl tests against a real WordPress (Debian's wordpress, MariaDB, PHP; scripts/install-wordpress.sh)
test-wordpress: setup
	bash scripts/install-wordpress.sh
	$(BIN)/pytest -m wordpress -n 2 --dist loadfile

## screenshots: refresh the README's screenshots (docs/screenshots) from the browser test
screenshots: setup
	bash scripts/install-browser.sh
	DIGEST_SCREENSHOTS=docs/screenshots $(BIN)/pytest -m e2e tests/e2e/test_browser.py tests/e2e/test_dead_links.py

## crawl: refresh archive.db from both real sites, nejatngo.org then iran-interlink.org (politely; cheapest index first)
crawl: setup
	$(BIN)/scrapy crawl digests

## backfill: every post of both real archives into archive.db (resumable: run it again after a stop)
backfill: setup
	$(BIN)/scrapy crawl digests -a mode=backfill

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis demo.db demo.db-wal demo.db-shm demo.db.lock demo.db.links.lock demo.captures demo.webarchive demo.wacz test-output build *.egg-info

## bench: the benchmark figures (crawl, parser, storage, refresh, memory, test bed; reparse, matching, reader pages), not part of make test, written to bench/results.md; where their time goes to bench/profiles.md
bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/profiles.py
