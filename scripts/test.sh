#!/usr/bin/env bash
# The project's single test command.
#
#   ./scripts/test.sh [extra cargo test arguments...]
#
# Uses $DATABASE_URL when it is set and reachable. Otherwise starts a throwaway
# PostgreSQL (tuned for speed: fsync off) in a temporary directory, exports
# DATABASE_URL for it, and removes it again on exit. Then runs
# `cargo test --workspace --all-targets "$@"` and exits with its status.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Hide the password of a connection URL (user:password@ and ?password=).
redact() {
    sed -E 's#^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?]*):[^/?]*@#\1:***@#; s#([?&]password=)[^&]*#\1***#' <<<"$1"
}

is_root() { [ "$(id -u)" = 0 ]; }

# The directory holding initdb and pg_ctl: pg_config --bindir, the newest
# /usr/lib/postgresql/*/bin, or PATH.
find_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1; then
        dir=$(dirname "$(command -v initdb)")
        if [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    fi
    return 1
}

# Succeeds if the server at URL $1 accepts a query (or, lacking psql, connections).
reachable() {
    local psql pg_isready
    psql=$(command -v psql || true)
    pg_isready=$(command -v pg_isready || true)
    if [ -z "$psql" ] && [ -z "$pg_isready" ] && bindir=$(find_bindir); then
        [ -x "$bindir/psql" ] && psql="$bindir/psql"
        [ -x "$bindir/pg_isready" ] && pg_isready="$bindir/pg_isready"
    fi
    if [ -n "$psql" ]; then
        PGCONNECT_TIMEOUT=3 "$psql" -X -q -A -t -c 'select 1' -d "$1" >/dev/null 2>&1
    elif [ -n "$pg_isready" ]; then
        "$pg_isready" -q -t 3 -d "$1"
    else
        log "warning: neither psql nor pg_isready found; cannot check DATABASE_URL, using it as is"
    fi
}

# PostgreSQL refuses to run as root: run its programs as an unprivileged user then.
RUN_USER=""
if is_root; then
    if id -u postgres >/dev/null 2>&1; then
        RUN_USER=postgres
    elif id -u nobody >/dev/null 2>&1; then
        RUN_USER=nobody
    fi
fi

as_pg() {
    if [ -z "$RUN_USER" ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1 || [ -x /usr/sbin/runuser ]; then
        "$(command -v runuser || echo /usr/sbin/runuser)" -u "$RUN_USER" -- "$@"
    else
        su "$RUN_USER" -s /bin/bash -c "$(printf '%q ' "$@")"
    fi
}

PG_TMP=""
PG_BINDIR=""
PG_STARTED=0

cleanup() {
    local status=$?
    if [ "$PG_STARTED" = 1 ]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 ||
            log "warning: could not stop PostgreSQL in $PG_TMP"
    fi
    if [ -n "$PG_TMP" ]; then
        rm -rf "$PG_TMP"
    fi
    exit "$status"
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
pick_port() {
    local port _
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

start_throwaway_postgres() {
    if ! PG_BINDIR=$(find_bindir); then
        if is_root && command -v apt-get >/dev/null 2>&1; then
            log "PostgreSQL not found; installing it with apt-get"
            apt-get update >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
        fi
        PG_BINDIR=$(find_bindir) ||
            die "PostgreSQL server binaries (initdb, pg_ctl) not found. Install PostgreSQL (e.g. apt-get install postgresql) or set DATABASE_URL."
    fi
    if is_root && [ -z "$RUN_USER" ]; then
        die "running as root, but there is no 'postgres' or 'nobody' user to run PostgreSQL as"
    fi

    local version
    version=$("$PG_BINDIR/postgres" --version | awk '{print $NF}')

    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if is_root; then
        PG_TMP=$(mktemp -d /tmp/seam-test-pg.XXXXXX) # /tmp is traversable by $RUN_USER
        chown "$RUN_USER:" "$PG_TMP"
    else
        PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/seam-test-pg.XXXXXX")
    fi

    if ! as_pg "$PG_BINDIR/initdb" -D "$PG_TMP/data" -U postgres --auth=trust \
        --encoding=UTF8 --no-locale >"$PG_TMP/initdb.log" 2>&1; then
        cat "$PG_TMP/initdb.log" >&2
        die "initdb failed"
    fi

    local port="" attempt
    for attempt in 1 2 3 4 5; do
        port=$(pick_port) || die "no free TCP port found"
        if as_pg "$PG_BINDIR/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_TMP -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null 2>&1; then
            PG_STARTED=1
            break
        fi
        log "starting PostgreSQL on port $port failed (attempt $attempt)"
    done
    if [ "$PG_STARTED" != 1 ]; then
        tail -n 20 "$PG_TMP/server.log" >&2 || true
        die "could not start PostgreSQL"
    fi

    local psql="$PG_BINDIR/psql"
    [ -x "$psql" ] || psql=psql
    "$psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'CREATE DATABASE seam' >/dev/null
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/seam"
    log "started throwaway PostgreSQL ${version%%.*} on port $port (data in $PG_TMP, removed on exit)"
}

if [ -n "${DATABASE_URL:-}" ]; then
    if reachable "$DATABASE_URL"; then
        log "using DATABASE_URL=$(redact "$DATABASE_URL")"
    else
        log "warning: DATABASE_URL=$(redact "$DATABASE_URL") is not reachable; starting a throwaway PostgreSQL instead"
        unset DATABASE_URL
        start_throwaway_postgres
    fi
else
    start_throwaway_postgres
fi

# `--workspace` would override `-p`/`--package`, so only add it when no package is named.
cargo_args=(test)
workspace=1
for arg in "$@"; do
    case "$arg" in
    --) break ;;
    -p | -p* | --package | --package=* | --manifest-path | --manifest-path=*) workspace=0 ;;
    esac
done
if [ "$workspace" = 1 ]; then
    cargo_args+=(--workspace)
fi
cargo_args+=(--all-targets "$@")

log "running: cargo ${cargo_args[*]}"
status=0
cargo "${cargo_args[@]}" || status=$?
# --all-targets leaves out doctests; run them too for a plain whole-suite run.
if [ "$status" = 0 ] && [ "$#" = 0 ]; then
    log "running: cargo test --workspace --doc"
    cargo test --workspace --doc || status=$?
fi
exit "$status"
