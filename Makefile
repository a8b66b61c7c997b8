# The two commands a newcomer needs: `make run` and `make test`. Both install into .venv first.
# `make help` lists every target. Configuration: the environment, then .env (healthagent/env.py).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.dev-installed
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

# make serve: HOST, PORT and WEB_CONCURRENCY come from the command line, the environment or .env
# (healthagent/gunicorn_conf.py has the defaults: 127.0.0.1, 8000, and 2 workers — 1 where the cache
# falls back to in-process fakeredis, which one process only may use).
# make run: options for `manage.py chat`, e.g. make run ARGS="--trace --user 2".
ARGS ?=

.PHONY: help install install-dev run serve stop test chaos fuzz lint messages migrate contract compat bench bench-quick bench-cluster clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 22

install: $(STAMP) ## install the runtime requirements into .venv

# Runtime only (requirements.txt): what the image installs too. Tests, browser and lint tools are
# requirements-dev.txt, installed by the targets that need them.
$(STAMP): requirements.txt
	@echo "==> installing requirements into $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) -r requirements.txt
	@touch $(STAMP)

install-dev: $(DEV_STAMP) ## install the runtime and the test/lint requirements into .venv

$(DEV_STAMP): requirements-dev.txt $(STAMP)
	@echo "==> installing test and lint requirements into $(VENV)"
	@$(PIP) -r requirements-dev.txt
	@touch $(DEV_STAMP)

migrate: install ## apply database migrations
	@LOG_LEVEL=$${LOG_LEVEL:-WARNING} $(BIN)/python manage.py migrate --no-input -v 0

run: migrate ## chat with the bot in this terminal (ARGS="--trace" passes options)
	@$(BIN)/python manage.py chat $(ARGS)

# What production runs: collected static files (the admin styled with DJANGO_DEBUG=false) served by
# gunicorn with the project's config. HEALTHAGENT_DEV_DEFAULTS: a checkout with nothing configured
# serves in debug mode, as `make run` does; a configured one (.env) serves as configured.
serve: migrate ## collectstatic, then gunicorn on HOST:PORT with WEB_CONCURRENCY workers
	@HEALTHAGENT_DEV_DEFAULTS=1 $(BIN)/python manage.py collectstatic --no-input -v 0
	HEALTHAGENT_DEV_DEFAULTS=1 $(strip $(if $(HOST),HOST=$(HOST)) $(if $(PORT),PORT=$(PORT)) $(if $(WEB_CONCURRENCY),WEB_CONCURRENCY=$(WEB_CONCURRENCY))) \
		$(BIN)/gunicorn healthagent.wsgi --config python:healthagent.gunicorn_conf

stop: ## stop the embedded valkey-server(s) that run / serve / test started (their cache is lost)
	@$(BIN)/python -m caching.servers.embedded stop --dir .run
	@$(BIN)/python -m caching.servers.embedded stop --dir .run/test

# The suite empties its cache database: on the embedded default it uses a server of its own
# (.run/test), never the one `make run` / `make serve` keep their cache in. TEST_REDIS_URL, when set,
# is the Redis the suite uses (and empties) instead of REDIS_URL; either way the suite refuses a
# database holding keys it did not write (tests/redis_guard.py). No .env is read.
TEST_ENV := $(if $(TEST_REDIS_URL),REDIS_URL="$(TEST_REDIS_URL)") HEALTHAGENT_ENV_FILE= DJANGO_DEBUG=false \
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-test-only-secret-key-not-for-production-0123456789abcdef} \
	TELEGRAM_WEBHOOK_SECRET=$${TELEGRAM_WEBHOOK_SECRET:-test-secret_123} \
	EMBEDDED_REDIS_DIR=$${EMBEDDED_REDIS_DIR:-.run/test}

# The suite's embedded server (.run/test) is stopped when the suite ends, unless it was running before.
TEST_SERVER_DIR = $${EMBEDDED_REDIS_DIR:-.run/test}
EMBEDDED := $(BIN)/python -m caching.servers.embedded

test: install-dev ## run the test suite (embedded servers; REDIS_URL/DATABASE_URL for real ones)
	@if $(EMBEDDED) status --dir $(TEST_SERVER_DIR) >/dev/null 2>&1; then was_running=1; else was_running=; fi; \
	echo '$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)'; \
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	if test -z "$$was_running"; then $(EMBEDDED) stop --dir $(TEST_SERVER_DIR) >/dev/null 2>&1; fi; \
	exit $$status

chaos: install-dev ## the fleet fault harness (tests/fleet/) with more rounds (FLEET_ROUNDS, default 100)
	$(TEST_ENV) FLEET_ROUNDS=$${FLEET_ROUNDS:-100} $(BIN)/pytest tests/fleet $(PYTEST_ARGS)

# ruff (rules in pyproject.toml; never `ruff format`: a mass reformat conflicts with every branch),
# the import contracts (import-linter: other apps use caching.api only, caching's folders import
# downward, no cycles anywhere) and mypy with django-stubs.
lint: install-dev ## ruff check, the import contracts and mypy
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	HEALTHAGENT_ENV_FILE= DJANGO_SECRET_KEY=lint-only-secret-key-not-for-production-0123456789abcdef TELEGRAM_WEBHOOK_SECRET=lint-only $(BIN)/mypy

# The bot's replies in German and Spanish (locale/): the .po files are the sources, the compiled .mo
# files are committed beside them, so `make run` and the image need no gettext tools. After changing a
# reply string: `make messages`, translate what it marks new in locale/*/LC_MESSAGES/django.po, run it
# again to compile (needs xgettext/msgfmt: Debian's gettext). tests/conversations/test_languages.py
# fails when a string is missing from the catalogs or a .mo is older than its .po.
MESSAGES_IGNORE := --ignore='.venv/*' --ignore='tests/*' --ignore='bench/*' --ignore='tools/*' --ignore='templates/*' --ignore='staticfiles/*'
messages: install ## update locale/*.po from the code's reply strings and compile them (.mo)
	HEALTHAGENT_ENV_FILE= $(BIN)/python manage.py makemessages -l de -l es $(MESSAGES_IGNORE) --no-obsolete --add-location=file
	HEALTHAGENT_ENV_FILE= $(BIN)/python manage.py compilemessages $(MESSAGES_IGNORE)

# The webhook fuzz test (tests/conversations/test_fuzz_webhook.py) with fresh random examples: 5000 by
# default (`make test` runs a fixed, smaller set); the statistics say how many ran and what they hit.
fuzz: install-dev ## the webhook fuzz test with 5000 fresh examples (FUZZ_EXAMPLES)
	$(TEST_ENV) FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} FUZZ_RANDOM=true \
	$(BIN)/pytest tests/conversations/test_fuzz_webhook.py --hypothesis-show-statistics $(PYTEST_ARGS)

# Django's own cache test suite (its sdist, fetched by pip into ~/.cache, never committed) against
# CACHES["default"]: on the embedded Redis (the test suite's own, .run/test: it is flushed), and on
# REDIS_URL too when set (that database is flushed).
# Like `make test`, it stops the embedded server when it ends, unless that was running before.
contract: install-dev ## Django's own cache test suite against the backend
	@if $(EMBEDDED) status --dir $(TEST_SERVER_DIR) >/dev/null 2>&1; then was_running=1; else was_running=; fi; \
	HEALTHAGENT_ENV_FILE= DJANGO_DEBUG=false DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-contract-only-secret-key-not-for-production-0123456789} \
	TELEGRAM_WEBHOOK_SECRET=$${TELEGRAM_WEBHOOK_SECRET:-contract-secret} \
	EMBEDDED_REDIS_DIR=$${EMBEDDED_REDIS_DIR:-.run/test} \
	$(BIN)/python -m tools.conformance.contract $(CONTRACT_ARGS); status=$$?; \
	if test -z "$$was_running"; then $(EMBEDDED) stop --dir $(TEST_SERVER_DIR) >/dev/null 2>&1; fi; \
	exit $$status

# django-redis's own test suite (its sdist, fetched by pip into ~/.cache, never committed) against our
# backend with the service's CACHES, on a redis-server the runner starts on a free port. It prints
# passed / failed and the intended deviations (README); its pytest plugins are installed separately.
COMPAT_STAMP := $(VENV)/.compat-installed

$(COMPAT_STAMP): tools/conformance/compat/requirements.txt $(STAMP)
	@echo "==> installing django-redis test suite requirements into $(VENV)"
	@$(PIP) -r tools/conformance/compat/requirements.txt
	@touch $(COMPAT_STAMP)

compat: $(COMPAT_STAMP) ## django-redis's own test suite against the backend
	HEALTHAGENT_ENV_FILE= DJANGO_DEBUG=false DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-compat-only-secret-key-not-for-production-0123456789ab} \
	TELEGRAM_WEBHOOK_SECRET=$${TELEGRAM_WEBHOOK_SECRET:-compat-secret} \
	$(BIN)/python -m tools.conformance.compat $(COMPAT_ARGS)

# Benchmarks (BENCHMARKS.md). They need PostgreSQL and Redis answering on loopback (BENCH_DATABASE_URL,
# BENCH_REDIS_URL: see bench/run.py), start everything else themselves, and install their own extra
# packages (bench/requirements.txt: matplotlib for the chart), so `make test` and `make run` stay lean.
# Both start gunicorn exactly as `serve` does (healthagent/gunicorn_conf.py) and report what its workers ran.
# A full run compares itself with the previous one (bench/reproduce.py): run it twice before publishing.
# bench-quick is a smoke test of a few minutes; its results go to bench/results/quick/, not into git.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): bench/requirements.txt $(DEV_STAMP)
	@echo "==> installing benchmark requirements into $(VENV)"
	@$(PIP) -r bench/requirements.txt
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## benchmarks (BENCHMARKS.md; needs PostgreSQL and Redis)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: $(BENCH_STAMP) ## a benchmark smoke test of a few minutes
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

# A Redis Cluster beside a single Redis (both started by the benchmark from redis-server; about 4 minutes):
# its section of BENCHMARKS.md, which `make bench` keeps (bench/cluster.py).
bench-cluster: $(BENCH_STAMP) ## the Cluster beside a single Redis, into BENCHMARKS.md
	$(BIN)/python -m bench.cluster --write $(BENCH_ARGS)

# The embedded cache goes with the database it caches: a cache that outlived db.sqlite3 would
# describe profiles the new database does not have.
clean: ## stop the embedded cache; remove .venv, the SQLite file, collected static files and .run
	@if test -x $(BIN)/python; then $(MAKE) --no-print-directory stop; fi
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .run
