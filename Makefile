# Order Desk: `make run` brings up the whole stack, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export DJANGO_DEBUG ?= 1
# Worker processes `make run` starts on the task queue (`make run WORKERS=3`).
WORKERS ?= 1
# More `manage.py devstack` flags for `make run` (e.g. DEVSTACK_ARGS=--no-simulator).
DEVSTACK_ARGS ?=

.PHONY: run test lint install worker migrate seed clean serve scale-demo chaos chaos-smoke bench bench-smoke

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install  ## Temporal dev server + workers + web + provider simulator, supervised, on embedded defaults (SQLite under var/)
	$(PY) manage.py devstack --workers $(WORKERS) $(DEVSTACK_ARGS)

test: install lint  ## the house rules, then the whole suite (PostgreSQL when DATABASE_URL is set, SQLite otherwise)
	$(PY) -m pytest $(PYTEST_ARGS)

serve: install  ## production web server: collectstatic + gunicorn with uvicorn workers (ASGI, config/gunicorn.conf.py); see docs/deployment.md
	$(PY) manage.py collectstatic --noinput -v 0
	HOST=$${HOST:-127.0.0.1} PORT=$${PORT:-8000} $(VENV)/bin/gunicorn --config config/gunicorn.conf.py

chaos: install  ## fault injection over 120 orders (PostgreSQL via DATABASE_URL restarts the local cluster); prints the counts
	$(PY) -m tools.chaos.run --orders 120

chaos-smoke: install  ## the same faults over 30 orders, as CI runs it
	$(PY) -m tools.chaos.run --orders 30

bench: install  ## throughput, latency, polling and 100k-row list figures in one table (own Temporal, workers, web, DB); see docs/benchmarks.md
	$(PY) -m tools.bench

bench-smoke: install  ## the same table at tiny sizes, as CI runs it: fails on errors, never on timings
	$(PY) -m tools.bench --smoke

scale-demo: install  ## three runworker processes share 60 orders, one is SIGKILLed mid-fulfilment; prints the figures
	SCALE_OUT_ORDERS=$${SCALE_OUT_ORDERS:-60} SCALE_OUT_INTERVAL=$${SCALE_OUT_INTERVAL:-0.5} \
	  $(PY) -m pytest tests/integration/test_scale_out.py -q -s -p no:cacheprovider -o log_cli=false --show-capture=no

worker: install  ## one more worker against the running stack
	$(PY) manage.py runworker

lint: install  ## the house rules: ruff (ruff.toml), the import contracts (.importlinter), mypy over the Django-free core (mypy.ini); `make test` runs them first
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

migrate: install
	$(PY) manage.py migrate

seed: install
	$(PY) manage.py seed_demo

clean:
	rm -rf var/ .pytest_cache
