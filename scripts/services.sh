# Sourced by test.sh and bench.sh: make sure PostgreSQL, Redis and Chromium are available and export
# DATABASE_URL and REDIS_URL. Uses what is set, else the servers on the default loopback ports, else starts
# throwaway servers on free loopback ports (installing the Debian packages when absent). Throwaway servers are
# stopped by `services_stop`, which the caller traps on EXIT.

ARENA_TMP=$(mktemp -d /tmp/arena-services.XXXXXX)
chmod 755 "$ARENA_TMP"
THROWAWAY_PG=""
THROWAWAY_REDIS=""

apt_install() {
    if [ "$(id -u)" != 0 ]; then echo "need root to apt-get install $*; install them and rerun" >&2; return 1; fi
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null && APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_throwaway_postgres() {
    [ -n "$(pg_bindir)" ] || apt_install postgresql
    local bin port data
    bin=$(pg_bindir); port=$(free_port); data="$ARENA_TMP/pg"
    mkdir -p "$data"
    local run=()
    if [ "$(id -u)" = 0 ]; then chown postgres "$data"; run=(runuser -u postgres --); fi
    "${run[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
    "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/log" -w -o "-p $port -k $data -h 127.0.0.1 -F" start >/dev/null
    THROWAWAY_PG="$data"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "started a throwaway PostgreSQL on 127.0.0.1:$port"
}

start_throwaway_redis() {
    command -v redis-server >/dev/null || apt_install redis-server
    local port; port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --pidfile "$ARENA_TMP/redis.pid" --logfile "$ARENA_TMP/redis.log" --dir "$ARENA_TMP"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    THROWAWAY_REDIS="$ARENA_TMP/redis.pid"
    export REDIS_URL="redis://127.0.0.1:$port/0"
    echo "started a throwaway Redis on 127.0.0.1:$port"
}

services_start() {
    if [ -z "${DATABASE_URL:-}" ]; then
        if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
            export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
        else
            start_throwaway_postgres
        fi
    fi
    if [ -z "${REDIS_URL:-}" ]; then
        if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
            export REDIS_URL="redis://127.0.0.1:6379/14"
        else
            start_throwaway_redis
        fi
    fi
    command -v chromium >/dev/null || apt_install chromium
    command -v docker-compose >/dev/null || apt_install docker-compose || echo "docker-compose unavailable: the compose test will skip"
}

services_stop() {
    if [ -n "$THROWAWAY_REDIS" ] && [ -f "$THROWAWAY_REDIS" ]; then kill "$(cat "$THROWAWAY_REDIS")" 2>/dev/null || true; fi
    if [ -n "$THROWAWAY_PG" ]; then
        local run=(); [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
        "${run[@]}" "$(pg_bindir)/pg_ctl" -D "$THROWAWAY_PG" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$ARENA_TMP"
}
