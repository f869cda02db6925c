#!/usr/bin/env bash
# `make test`: provision the real services the suite needs, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
trap services_stop EXIT
services_start

export CELERY_BROKER_URL="$REDIS_URL"
export SECRET_KEY="${SECRET_KEY:-test-only-secret-key-not-for-production}"
export DEBUG=0
export ALLOWED_HOSTS="*"
export SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0
export ARENA_VAR_DIR="$ARENA_TMP/var"
# Static files of this run only: two runs side by side (worktrees, CI beside a developer) must not collect
# into the same directory at once.
export STATIC_ROOT="$ARENA_TMP/static"
# The loopback OpenAI stub is a private address; SSRF tests turn this off with the settings fixture.
export ARENA_ALLOW_PRIVATE_ENDPOINTS=1
export ARENA_ENDPOINT_KEY_NAMES="ARENA_TEST_JUDGE_KEY,ARENA_TEST_MISSING_KEY"
echo "DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL"
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/pytest "$@"
