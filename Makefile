# The two commands a newcomer needs: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Local development defaults for run/serve; a real deployment sets these in its environment.
# Without a USDA key, lookups use the offline sample data set, so `make run` needs no network.
DEV_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-true} \
	NUTRITION_PROVIDER=$${NUTRITION_PROVIDER:-$(if $(USDA_API_KEY),usda,sample)}

.PHONY: install run serve test migrate contract bench bench-quick clean

install: $(STAMP)

$(STAMP): requirements.txt
	@echo "==> installing requirements into $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

migrate: install
	@$(DEV_ENV) $(BIN)/python manage.py migrate --no-input -v 0

run: migrate
	@$(DEV_ENV) $(BIN)/python manage.py chat

serve: migrate
	$(DEV_ENV) $(BIN)/gunicorn healthagent.wsgi --bind 0.0.0.0:8000 --workers 2 --access-logfile -

test: install
	DJANGO_DEBUG=false DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-test-only-secret-key} \
	TELEGRAM_WEBHOOK_SECRET=$${TELEGRAM_WEBHOOK_SECRET:-test-secret_123} \
	$(BIN)/pytest $(PYTEST_ARGS)

# Django's own cache test suite (its sdist, fetched by pip into ~/.cache, never committed) against
# CACHES["default"]: on the embedded Redis, and on REDIS_URL too when set (that database is flushed).
contract: install
	DJANGO_DEBUG=false DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-contract-only-secret-key} \
	TELEGRAM_WEBHOOK_SECRET=$${TELEGRAM_WEBHOOK_SECRET:-contract-secret} \
	$(BIN)/python -m caching.contract $(CONTRACT_ARGS)

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

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
