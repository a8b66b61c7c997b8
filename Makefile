# The two commands a newcomer needs: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Local development defaults for run/serve; a real deployment sets these in its environment.
# Without a USDA key, lookups use the offline sample data set, so `make run` needs no network.
DEV_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-true} \
	NUTRITION_PROVIDER=$${NUTRITION_PROVIDER:-$(if $(USDA_API_KEY),usda,sample)}

.PHONY: install run serve stop test chaos migrate contract compat bench bench-quick clean

install: $(STAMP)

$(STAMP): requirements.txt
	@echo "==> installing requirements into $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

migrate: install
	@$(DEV_ENV) LOG_LEVEL=$${LOG_LEVEL:-WARNING} $(BIN)/python manage.py migrate --no-input -v 0

run: migrate
	@$(DEV_ENV) $(BIN)/python manage.py chat

# Every worker shares the embedded valkey-server (caching/embedded.py). Where it cannot run, the cache
# falls back to in-process fakeredis, which one process only may use: then one worker.
WORKERS ?= $(shell $(BIN)/python -m caching.embedded available 2>/dev/null && echo 2 || echo 1)

serve: migrate
	$(DEV_ENV) $(BIN)/gunicorn healthagent.wsgi --bind 0.0.0.0:8000 --workers $(WORKERS) --access-logfile -

# Stops the embedded valkey-server(s) that make run / serve / test started (their cache is lost).
stop:
	@$(BIN)/python -m caching.embedded stop --dir .run
	@$(BIN)/python -m caching.embedded stop --dir .run/test

# The suite empties its cache database: on the embedded default it uses a server of its own
# (.run/test), never the one `make run` / `make serve` keep their cache in.
TEST_ENV := $(if $(TEST_REDIS_URL),REDIS_URL="$(TEST_REDIS_URL)") DJANGO_DEBUG=false DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-test-only-secret-key} \
	TELEGRAM_WEBHOOK_SECRET=$${TELEGRAM_WEBHOOK_SECRET:-test-secret_123} \
	EMBEDDED_REDIS_DIR=$${EMBEDDED_REDIS_DIR:-.run/test}

# TEST_REDIS_URL, when set, is the Redis the suite uses (and empties) instead of REDIS_URL. Either way the
# suite refuses a database holding keys it did not write (tests/redis_guard.py).
test: install
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

# The fleet fault harness (tests/fleet/) with more rounds than `make test` runs.
chaos: install
	$(TEST_ENV) FLEET_ROUNDS=$${FLEET_ROUNDS:-100} $(BIN)/pytest tests/fleet $(PYTEST_ARGS)

# Django's own cache test suite (its sdist, fetched by pip into ~/.cache, never committed) against
# CACHES["default"]: on the embedded Redis (the test suite's own, .run/test: it is flushed), and on
# REDIS_URL too when set (that database is flushed).
contract: install
	DJANGO_DEBUG=false DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-contract-only-secret-key} \
	TELEGRAM_WEBHOOK_SECRET=$${TELEGRAM_WEBHOOK_SECRET:-contract-secret} \
	EMBEDDED_REDIS_DIR=$${EMBEDDED_REDIS_DIR:-.run/test} \
	$(BIN)/python -m caching.contract $(CONTRACT_ARGS)

# django-redis's own test suite (its sdist, fetched by pip into ~/.cache, never committed) against our
# backend with the service's CACHES, on a redis-server the runner starts on a free port. It prints
# passed / failed and the intended deviations (README); its pytest plugins are installed separately.
COMPAT_STAMP := $(VENV)/.compat-installed

$(COMPAT_STAMP): caching/compat/requirements.txt $(STAMP)
	@echo "==> installing django-redis test suite requirements into $(VENV)"
	@$(BIN)/pip install --quiet --disable-pip-version-check -r caching/compat/requirements.txt
	@touch $(COMPAT_STAMP)

compat: $(COMPAT_STAMP)
	DJANGO_DEBUG=false DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-compat-only-secret-key} \
	TELEGRAM_WEBHOOK_SECRET=$${TELEGRAM_WEBHOOK_SECRET:-compat-secret} \
	$(BIN)/python -m caching.compat $(COMPAT_ARGS)

# Benchmarks (BENCHMARKS.md). They need PostgreSQL and Redis answering on loopback (BENCH_DATABASE_URL,
# BENCH_REDIS_URL: see bench/run.py), start everything else themselves, and install their own extra
# packages (bench/requirements.txt: matplotlib for the chart), so `make test` and `make run` stay lean.
# bench-quick is a smoke test of under a minute; its results go to bench/results/quick/, not into git.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	@echo "==> installing benchmark requirements into $(VENV)"
	@$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

# The embedded cache goes with the database it caches: a cache that outlived db.sqlite3 would
# describe profiles the new database does not have.
clean:
	@if test -x $(BIN)/python; then $(MAKE) --no-print-directory stop; fi
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .run
