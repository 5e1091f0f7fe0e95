#!/usr/bin/env bash
# Side-by-side c2s benchmark: meet-rs xmpp-server vs Debian's Prosody, on
# loopback, same machine, same scenarios, plain TCP (no TLS).
#
#   tests/bench/run.sh            # build, run everything (~3 minutes), print a markdown table
#
# Environment:
#   DURATION=10        seconds per scenario
#   NO_BUILD=1         use the existing target/release binaries
#   OURS_PORT=25222 PROSODY_PORT=25223   loopback c2s ports
#   SERVERS="ours prosody"               which servers to run
#   KEEP=1             keep the temporary directory (configs, logs, raw results)
#   LOG_LEVEL=info     log level of both servers (their production default)
#
# See docs/performance.md for what is measured and the last results.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DURATION="${DURATION:-10}"
OURS_PORT="${OURS_PORT:-25222}"
PROSODY_PORT="${PROSODY_PORT:-25223}"
SERVERS="${SERVERS:-ours prosody}"
LOG_LEVEL="${LOG_LEVEL:-info}"
USERS=32            # u0..u31: enough for 16 concurrent logins and 16 pairs
PASSWORD=p
ANON=anon.bench
PLAIN=plain.bench

log() { printf '[bench] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- build ---
if [[ -z "${NO_BUILD:-}" ]]; then
    log "building xmpp-server and xmpp-load (release)"
    (cd "$ROOT" && cargo build --release -p xmpp-server -p xmpp-bench >&2)
fi
SERVER_BIN="$ROOT/target/release/xmpp-server"
LOAD_BIN="$ROOT/target/release/xmpp-load"
for b in "$SERVER_BIN" "$LOAD_BIN"; do
    [[ -x "$b" ]] || { log "missing $b"; exit 1; }
done

# ---------------------------------------------------------------- prosody ---
if [[ " $SERVERS " == *" prosody "* ]] && ! command -v prosody >/dev/null; then
    log "installing prosody (apt-get)"
    SUDO=""
    [[ "$(id -u)" -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prosody >&2
fi

# ---------------------------------------------------------------- set-up ---
TMP="$(mktemp -d /tmp/xmpp-bench.XXXXXX)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -z "${KEEP:-}" ]]; then rm -rf "$TMP"; else log "kept $TMP"; fi
}
trap cleanup EXIT

# meet-rs xmpp-server: same hosts and settings as the Prosody file below.
mkdir -p "$TMP/ours"
cat >"$TMP/ours/xmpp-server.toml" <<EOF
data_path = "$TMP/ours/data"
c2s_ports = [$OURS_PORT]
c2s_interfaces = ["127.0.0.1"]
component_ports = [$((OURS_PORT + 100))]
component_interfaces = ["127.0.0.1"]
http_ports = [$((OURS_PORT + 200))]
http_interfaces = ["127.0.0.1"]
# Prosody without mod_limits reads as fast as it can: do the same.
c2s_read_rate_limit = 0
# Prosody has no per-address cap on connections still logging in.
max_unauthenticated_per_ip = 10000

[[virtual_host]]
host = "$ANON"
authentication = "anonymous"
c2s_require_encryption = false
modules_enabled = ["ping"]

[[virtual_host]]
host = "$PLAIN"
authentication = "internal_plain"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
modules_enabled = ["ping"]
EOF

PROSODY_RUN_AS_ROOT=false
[[ "$(id -u)" -eq 0 ]] && PROSODY_RUN_AS_ROOT=true
mkdir -p "$TMP/prosody/data" "$TMP/prosody/certs"
cat >"$TMP/prosody/prosody.cfg.lua" <<EOF
-- Minimal Prosody 0.12 configuration for the benchmark (plain TCP only).
run_as_root = $PROSODY_RUN_AS_ROOT
pidfile = "$TMP/prosody/prosody.pid"
data_path = "$TMP/prosody/data"
certificates = "$TMP/prosody/certs"
interfaces = { "127.0.0.1" }
c2s_ports = { $PROSODY_PORT }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
-- The Debian default set minus TLS/s2s/http/storage extras; no mod_limits.
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "posix"; }
log = { $LOG_LEVEL = "$TMP/prosody/prosody.log"; }

VirtualHost "$ANON"
    authentication = "anonymous"

VirtualHost "$PLAIN"
    authentication = "internal_plain"
EOF

log "registering $USERS users on $PLAIN for each server"
for ((i = 0; i < USERS; i++)); do
    if [[ " $SERVERS " == *" ours "* ]]; then
        "$SERVER_BIN" --config "$TMP/ours/xmpp-server.toml" register "u$i" "$PLAIN" "$PASSWORD" >/dev/null
    fi
    if [[ " $SERVERS " == *" prosody "* ]]; then
        prosodyctl --config "$TMP/prosody/prosody.cfg.lua" register "u$i" "$PLAIN" "$PASSWORD" >/dev/null
    fi
done

# ------------------------------------------------------------ scenarios ---
# name|xmpp-load arguments (address added per server)
SCENARIOS=(
    "logins anonymous, 1 at a time|logins --domain $ANON --mech anonymous --concurrency 1"
    "logins anonymous, 16 in parallel|logins --domain $ANON --mech anonymous --concurrency 16"
    "logins PLAIN, 1 at a time|logins --domain $PLAIN --mech plain --concurrency 1"
    "logins PLAIN, 16 in parallel|logins --domain $PLAIN --mech plain --concurrency 16"
    "messages, 1 pair|messages --domain $ANON --pairs 1 --size 100"
    "messages, 16 pairs|messages --domain $ANON --pairs 16 --size 100"
)

HZ="$(getconf CLK_TCK)"
# utime+stime of a process, in clock ticks (all threads).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# Busy ticks of the whole machine (everything but idle and iowait).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

wait_port() {
    local port=$1
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

start_server() {
    case "$1" in
    ours)
        RUST_LOG="$LOG_LEVEL" "$SERVER_BIN" --config "$TMP/ours/xmpp-server.toml" \
            >"$TMP/ours/xmpp-server.log" 2>&1 &
        SERVER_PID=$!
        PORT=$OURS_PORT
        ;;
    prosody)
        prosody --config "$TMP/prosody/prosody.cfg.lua" -F >"$TMP/prosody/stdout.log" 2>&1 &
        SERVER_PID=$!
        PORT=$PROSODY_PORT
        ;;
    esac
    wait_port "$PORT" || { log "$1 did not open port $PORT"; exit 1; }
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# Every scenario runs against a freshly started server: Prosody gets slower
# after a few thousand logins (see docs/performance.md), and one scenario's
# leftovers must not decide the next one's figures.
declare -A RATE LAT CPU RSS OTHER
: >"$TMP/results.txt"
for server in $SERVERS; do
    for idx in "${!SCENARIOS[@]}"; do
        IFS='|' read -r name args <<<"${SCENARIOS[$idx]}"
        start_server "$server"
        c0=$(cpu_ticks "$SERVER_PID")
        m0=$(machine_ticks)
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        out=$(timeout $((DURATION + 60)) "$LOAD_BIN" $args --addr "127.0.0.1:$PORT" \
            --user-prefix u --password "$PASSWORD" --duration "$DURATION" \
            2>>"$TMP/$server.load.log") || true
        t1=$(date +%s.%N)
        m1=$(machine_ticks)
        c1=$(cpu_ticks "$SERVER_PID")
        hwm=$(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status")
        stop_server
        line=$(grep '^RESULT' <<<"$out" || true)
        cpu=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
            'BEGIN { printf "%.0f%%", (b - a) / hz / (t1 - t0) * 100 }')
        # CPU used by neither the server nor xmpp-load (other jobs on the
        # machine): the figures are only comparable when this stays small.
        other=$(awk -v a="$m0" -v b="$m1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
            -v srv="${cpu%\%}" -v cli="$(field "$line" client_cpu_pct)" \
            'BEGIN { o = (b - a) / hz / (t1 - t0) * 100 - srv - cli; if (o < 0) o = 0; printf "%.0f%%", o }')
        echo "$server $line server_cpu=$cpu server_hwm_mib=$hwm other_cpu=$other" >>"$TMP/results.txt"
        log "$server: $name: ${line#RESULT } server_cpu=$cpu server_hwm_mib=$hwm other_cpu=$other"
        if [[ -z "$line" ]]; then
            RATE[$server,$idx]="failed"
            LAT[$server,$idx]="-"
        else
            rate=$(field "$line" rate)
            problems=$(($(field "$line" errors) + $(field "$line" lost || true) + 0))
            [[ "$problems" -gt 0 ]] && rate="$rate ($problems errors)"
            RATE[$server,$idx]="$rate"
            LAT[$server,$idx]="$(field "$line" p50_ms) / $(field "$line" p99_ms)"
        fi
        CPU[$server,$idx]="$cpu"
        OTHER[$server,$idx]="$other"
        RSS[$server,$idx]="$hwm MiB"
    done
done

# ---------------------------------------------------------------- report ---
PROSODY_VERSION=$(dpkg-query -W -f='${Version}' prosody 2>/dev/null || echo "?")
title() {
    case $1 in
    ours) echo "meet-rs" ;;
    prosody) echo "Prosody" ;;
    esac
}
echo
echo "xmpp-load against meet-rs xmpp-server ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "and Prosody $PROSODY_VERSION on $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)),"
echo "${DURATION} s per scenario, each against a freshly started server."
echo
hdr="| Scenario |"
sep="|---|"
for col in "rate" "p50 / p99 ms" "server CPU" "server peak RSS" "other CPU"; do
    for server in $SERVERS; do
        hdr+=" $(title "$server") $col |"
        sep+="---:|"
    done
done
echo "$hdr"
echo "$sep"
for idx in "${!SCENARIOS[@]}"; do
    IFS='|' read -r name _ <<<"${SCENARIOS[$idx]}"
    row="| $name |"
    for server in $SERVERS; do row+=" ${RATE[$server,$idx]} |"; done
    for server in $SERVERS; do row+=" ${LAT[$server,$idx]} |"; done
    for server in $SERVERS; do row+=" ${CPU[$server,$idx]} |"; done
    for server in $SERVERS; do row+=" ${RSS[$server,$idx]} |"; done
    for server in $SERVERS; do row+=" ${OTHER[$server,$idx]} |"; done
    echo "$row"
done
echo
echo "Rates are logins/s or messages delivered/s; CPU is server CPU time over"
echo "wall time (100% = one core); RSS is the server's VmHWM at the end of the"
echo "scenario; other CPU is what the rest of the machine used meanwhile (neither"
echo "the server nor xmpp-load): rows where it is large are not comparable."
echo "Raw results:"
echo
echo '```'
cat "$TMP/results.txt"
echo '```'
