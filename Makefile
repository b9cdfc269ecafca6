# Peel: `make run` to try it, `make test` to check it. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
ASSETS := src/peel/web/static/vendor/peel.css
export PEEL_DATA_DIR ?= var

.PHONY: install run test lint typecheck assets bench clean

install: $(STAMP) $(ASSETS)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Peel needs Python 3.11 or newer")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

$(ASSETS): node_modules/.package-lock.json scripts/build_assets.py src/peel/web/scss/peel.scss
	$(BIN)/python scripts/build_assets.py

assets: $(ASSETS)

run: install
	$(BIN)/peel db upgrade
	$(BIN)/peel demo load
	PEEL_ANPR_DEMO_FEED_PER_SECOND=$${PEEL_ANPR_DEMO_FEED_PER_SECOND:-10} $(BIN)/peel serve

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest -n 2 --dist loadfile

# Every capability's benchmark at its full size, each printing figures beside a baseline
# measured in the same run (needs Debian's wrk for the HTTP latency one).
bench: install
	$(BIN)/python benchmarks/http_latency.py --connections 50 --seconds 10
	$(BIN)/python benchmarks/reporting.py
	$(BIN)/python benchmarks/crime_import.py
	$(BIN)/python benchmarks/knox.py
	$(BIN)/python benchmarks/backtest.py
	$(BIN)/python benchmarks/evidence.py
	$(BIN)/python benchmarks/anpr.py
	$(BIN)/python benchmarks/fusion.py

clean:
	rm -rf $(VENV) node_modules src/peel/web/static/vendor .pytest_cache .mypy_cache .ruff_cache
