#!/usr/bin/env bash
# Makes sure this Debian machine runs what roc42 needs, idempotently:
#   - PostgreSQL 15 with the TimescaleDB extension (Apache edition, built from
#     Debian's own source package) preloaded;
#   - Mosquitto configured not to lose queued QoS 1 messages;
#   - Chromium and ChromeDriver for the browser test of the built-in pages.
# Run as root. Fast (seconds) when everything is already in place.
# Used by the README's quick start, by `.ci/run` and by the tests' harness.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config
PG_CONF=/etc/postgresql/${PG_MAJOR}/main/postgresql.conf
PG_TUNING=/etc/postgresql/${PG_MAJOR}/main/conf.d/95-roc42.conf
MOSQ_CONF=/etc/mosquitto/mosquitto.conf
MOSQ_DROPIN=/etc/mosquitto/conf.d/roc42.conf
BUILD_DIR=${ROC42_BUILD_DIR:-/var/cache/roc42-build}

log() { printf '[services] %s\n' "$*" >&2; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        log "must run as root (it installs packages and edits service configuration)"
        exit 1
    fi
}

apt_updated=0
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ $apt_updated -eq 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pg_running() { pg_isready -q -h 127.0.0.1 -p 5432; }

pg_wait() {
    # $1: seconds. A cluster that is starting, recovering or shutting down
    # refuses connections for a while; a busy machine can take many seconds.
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt $deadline ]; do pg_running && return 0; sleep 0.5; done
    return 1
}

pg_start() {
    pg_running && return 0
    log "starting PostgreSQL ${PG_MAJOR}"
    # pg_ctlcluster exits 2 when the cluster already runs (it may still be
    # starting up or recovering): then wait for it rather than fail.
    local rc=0
    pg_ctlcluster --skip-systemctl-redirect "${PG_MAJOR}" main start || rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 2 ]; then
        log "pg_ctlcluster start failed (exit $rc)"; exit 1
    fi
    pg_wait 120 && return 0
    log "PostgreSQL runs but refuses connections after 120 s; restarting it"
    pg_ctlcluster --skip-systemctl-redirect "${PG_MAJOR}" main restart || true
    pg_wait 120 && return 0
    log "PostgreSQL did not come up"; pg_lsclusters >&2 || true
    tail -n 30 "/var/log/postgresql/postgresql-${PG_MAJOR}-main.log" >&2 || true
    exit 1
}

pg_restart() {
    log "restarting PostgreSQL ${PG_MAJOR} (its configuration changed)"
    pg_ctlcluster --skip-systemctl-redirect "${PG_MAJOR}" main restart
    pg_wait 120 && return 0
    log "PostgreSQL did not come back"; exit 1
}

timescaledb_installed() {
    [ -f "$("$PG_CONFIG" --pkglibdir)/timescaledb.so" ] &&
        ls "$("$PG_CONFIG" --sharedir)/extension/timescaledb.control" >/dev/null 2>&1
}

# The Apache edition from Debian's source package: the licensed edition is not
# packaged for Debian, and Debian 13's binaries do not fit PostgreSQL 15 on 12.
build_timescaledb() {
    apt_install postgresql-server-dev-${PG_MAJOR} cmake gcc make dpkg-dev libssl-dev libkrb5-dev
    local src=/etc/apt/sources.list.d/roc42-trixie-src.sources
    if [ ! -f "$src" ]; then
        log "adding a deb-src entry for Debian 13 (source packages only)"
        cat >"$src" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt_updated=0
    fi
    if [ $apt_updated -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
    mkdir -p "$BUILD_DIR"
    cd "$BUILD_DIR"
    local dir
    dir=$(find . -maxdepth 1 -type d -name 'timescaledb-*' | head -n 1)
    if [ -z "$dir" ]; then
        log "fetching the timescaledb source package"
        chown _apt "$BUILD_DIR" 2>/dev/null || true
        apt-get source -qq --download-only timescaledb >/dev/null
        dpkg-source -x --no-check ./timescaledb_*.dsc >/dev/null
        dir=$(find . -maxdepth 1 -type d -name 'timescaledb-*' | head -n 1)
    fi
    log "building TimescaleDB (Apache edition) in $BUILD_DIR/$dir"
    cd "$dir"
    rm -rf build
    cmake -S . -B build -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
        -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$PG_CONFIG" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)" >/dev/null
    cmake --install build >/dev/null
    cd /
}

ensure_preload() {
    if grep -Eq "^[[:space:]]*shared_preload_libraries[[:space:]]*=.*timescaledb" "$PG_CONF"; then
        return 1
    fi
    log "preloading timescaledb in $PG_CONF"
    printf "\n# added by roc42 deploy/local/services.sh\nshared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n" >>"$PG_CONF"
    return 0
}

# The broker's pid: from its pid file, or (started without one) by name.
mosquitto_pid() {
    local pid=
    [ -f /run/mosquitto/mosquitto.pid ] && pid=$(cat /run/mosquitto/mosquitto.pid 2>/dev/null)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; return 0; fi
    pgrep -x -o mosquitto 2>/dev/null
}

mosquitto_running() { mosquitto_pid >/dev/null; }

# Mosquitto's default max_queued_messages (1000) silently drops QoS 1
# messages for a client that lags or is offline: set it to 0 (no cap) and
# keep the queue on disk. Listeners are left as the machine has them.
ensure_mosquitto() {
    apt_install mosquitto
    local changed=0
    mkdir -p /etc/mosquitto/conf.d
    if ! grep -Eq '^[[:space:]]*include_dir[[:space:]]+/etc/mosquitto/conf.d' "$MOSQ_CONF"; then
        printf '\n# added by roc42 deploy/local/services.sh\ninclude_dir /etc/mosquitto/conf.d\n' >>"$MOSQ_CONF"
        changed=1
    fi
    local want
    want=$'# roc42: never drop queued QoS 1 messages for a lagging or offline session.\nmax_queued_messages 0\nmax_inflight_messages 0\n'
    if ! grep -Eq '^[[:space:]]*persistence[[:space:]]+true' "$MOSQ_CONF"; then
        want+=$'persistence true\npersistence_location /var/lib/mosquitto/\n'
    fi
    if ! printf '%s' "$want" | cmp -s - "$MOSQ_DROPIN"; then
        printf '%s' "$want" >"$MOSQ_DROPIN"
        changed=1
    fi
    mkdir -p /var/lib/mosquitto /run/mosquitto
    chown mosquitto: /var/lib/mosquitto /run/mosquitto 2>/dev/null || true
    if mosquitto_running && [ $changed -eq 1 ]; then
        log "restarting Mosquitto (configuration changed)"
        local pid
        pid=$(mosquitto_pid)
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if ! mosquitto_running; then
        log "starting Mosquitto"
        mosquitto -d -c "$MOSQ_CONF"
    fi
    for _ in $(seq 1 50); do
        (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && return 0
        sleep 0.1
    done
    log "Mosquitto is not listening on 127.0.0.1:1883"; exit 1
}

# Memory and checkpoints for a write-heavy time-series load, as timescaledb-tune would
# set them on a server (the compose stack's TimescaleDB image runs it): PostgreSQL's
# defaults (128 MB of buffers, a checkpoint every 1 GB of WAL) are sized for a small
# machine, and a day of a large network's readings and their indexes does not fit in
# 128 MB. Never more than a quarter of the machine's memory.
ensure_tuning() {
    local mem_mb buffers_mb want
    mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    buffers_mb=$((mem_mb / 4))
    if [ "$buffers_mb" -gt 1024 ]; then buffers_mb=1024; fi
    if [ "$buffers_mb" -lt 128 ]; then buffers_mb=128; fi
    want=$(printf '%s\n' "# written by roc42 deploy/local/services.sh" \
        "shared_buffers = ${buffers_mb}MB" "max_wal_size = 4GB" "checkpoint_timeout = 15min" \
        "checkpoint_completion_target = 0.9")
    if printf '%s\n' "$want" | cmp -s - "$PG_TUNING"; then
        return 1
    fi
    log "tuning PostgreSQL for a write-heavy load in $PG_TUNING"
    mkdir -p "$(dirname "$PG_TUNING")"
    printf '%s\n' "$want" >"$PG_TUNING"
    return 0
}

main() {
    need_root
    apt_install postgresql-${PG_MAJOR} postgresql-client-${PG_MAJOR}
    # protoc: the build compiles ChirpStack's protobuf definitions (chirpstack_api).
    apt_install protobuf-compiler libprotobuf-dev
    # The browser test of the built-in pages drives Debian's Chromium over WebDriver.
    apt_install chromium chromium-driver
    timescaledb_installed || build_timescaledb
    pg_start
    local restart=0
    if ensure_preload; then restart=1; fi
    if ensure_tuning; then restart=1; fi
    if [ $restart -eq 1 ]; then pg_restart; fi
    ensure_mosquitto
    log "ready: PostgreSQL ${PG_MAJOR} + TimescaleDB on 127.0.0.1:5432, Mosquitto on 127.0.0.1:1883"
}

main "$@"
