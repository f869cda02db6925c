# The two commands: `make demo` and `make test`. Everything else is a helper for those.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: demo test venv lint bench clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==0.13.8
	$(VENV)/bin/uv pip sync -q --compile-bytecode --python $(PY) requirements.lock
	@rm -f $(VENV)/.installed-* && touch $@

## Run the app on SQLite with a real Celery worker on the filesystem broker, demo arena loaded.
demo: venv
	DEBUG=1 ARENA_ALLOW_PRIVATE_ENDPOINTS=1 $(PY) manage.py demo

## The static checks first (stopping at the first failure), then provision PostgreSQL, Redis and Chromium
## as needed and run the whole suite.
test: lint
	bash scripts/test.sh

## ruff check, ruff format --check, mypy (django-stubs; baseline in pyproject.toml), import contracts.
lint: venv
	bash scripts/lint.sh

## Benchmarks print their figures; they are not part of `make test`.
bench: venv
	bash scripts/bench.sh

## Regenerate the lock file after editing pyproject.toml.
lock:
	$(VENV)/bin/uv pip compile -q pyproject.toml --extra dev -o requirements.lock

clean:
	rm -rf var staticfiles .pytest_cache
