#!/usr/bin/env bash
# `make bench`: provision the services the benchmarks need (as `make test` does), then run every
# bench/bench_*.py in turn. Each prints its figures with PASS/MISS against its targets; a benchmark that
# crashes makes the script fail at the end, after the others have run.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
trap services_stop EXIT
services_start

export CELERY_BROKER_URL="$REDIS_URL"
export SECRET_KEY="${SECRET_KEY:-bench-only-secret-key-not-for-production}"
export DEBUG=0
export ARENA_VAR_DIR="$ARENA_TMP/var"
echo "DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL ($(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg))"

failed=()
for bench in bench/bench_*.py; do
    echo
    echo "== $bench"
    .venv/bin/python "$bench" || failed+=("$bench")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
