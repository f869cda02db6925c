#!/usr/bin/env bash
# `make lint` (and so `make test` and CI): the static checks, quickest first, stopping at the first failure.
#   bash scripts/lint.sh                 every step
#   bash scripts/lint.sh mypy imports    only the named steps (ruff-check, ruff-format, mypy, imports)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

step() {
    local name=$1 hint=$2
    shift 2
    "$@" && return 0
    echo >&2
    echo "make lint: step '$name' failed ($*)." >&2
    echo "  $hint" >&2
    exit 1
}

run() {
    case $1 in
    ruff-check)
        step ruff-check "Fix what is listed above; many fix themselves with: $BIN/ruff check --fix ." \
            "$BIN/ruff" check . ;;
    ruff-format)
        step ruff-format "Reformat with: $BIN/ruff format ." "$BIN/ruff" format --check . ;;
    mypy)
        # The django-stubs plugin imports arena.settings, which wants a SECRET_KEY when DEBUG is off;
        # type checking needs none, so a placeholder stands in unless one is set.
        step mypy "Fix the type errors above. The per-module baseline in pyproject.toml ([[tool.mypy.overrides]] \
under 'baseline: only shrinks') may lose entries, never gain them." \
            env SECRET_KEY="${SECRET_KEY:-typecheck-only-not-a-secret}" "$BIN/mypy" ;;
    imports)
        step imports "An import crosses a boundary the contracts in [tool.importlinter] (pyproject.toml) forbid: \
move the code, or depend the other way round." "$BIN/lint-imports" --no-cache --no-logo ;;
    *)
        echo "scripts/lint.sh: unknown step '$1' (steps: ruff-check ruff-format mypy imports)" >&2
        exit 2 ;;
    esac
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(ruff-check ruff-format mypy imports)
for s in "${steps[@]}"; do run "$s"; done
