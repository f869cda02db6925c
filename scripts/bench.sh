#!/usr/bin/env bash
# `make bench`: provision the services the benchmarks need (as `make test` does), then run every
# bench/bench_*.py in turn. Each prints its figures with PASS/MISS against its targets; at the end every
# PASS/MISS line is repeated as a summary, with the targets no benchmark measures yet. A benchmark that
# crashes makes the script fail at the end, after the others have run; a MISS does not.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
trap services_stop EXIT
services_start

export CELERY_BROKER_URL="$REDIS_URL"
export SECRET_KEY="${SECRET_KEY:-bench-only-secret-key-not-for-production}"
export DEBUG=0
export ARENA_VAR_DIR="$ARENA_TMP/var"
# With DEBUG off, pages name their static files through the manifest; in-process benches render pages, so the
# run collects static files into its own directory first (a fresh checkout has none).
export STATIC_ROOT="$ARENA_TMP/static"
.venv/bin/python manage.py collectstatic --noinput -v0
echo "DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL ($(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg))"

# Issue 13's targets that no benchmark measures yet: printed as MISS so the summary is complete.
NOT_MEASURED=()

failed=()
summary=()
for bench in bench/bench_*.py; do
    echo
    echo "== $bench"
    output="$ARENA_TMP/$(basename "$bench").out"
    .venv/bin/python "$bench" 2>&1 | tee "$output"
    [ "${PIPESTATUS[0]}" -eq 0 ] || failed+=("$bench")
    while IFS= read -r line; do
        summary+=("$(basename "$bench"): $(echo "$line" | tr -s ' ')")
    done < <(grep -E '\b(PASS|MISS)\b' "$output")
done

echo
echo "== summary (load average now $(cut -d' ' -f1 /proc/loadavg); figures measured on a busy machine are pessimistic)"
for line in "${summary[@]}"; do echo "  $line"; done
for target in "${NOT_MEASURED[@]}"; do echo "  MISS $target"; done
if [ ${#failed[@]} -gt 0 ]; then
    echo "crashed: ${failed[*]}" >&2
    exit 1
fi
