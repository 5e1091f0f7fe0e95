#!/usr/bin/env bash
# Side-by-side c2s and MUC benchmark: meet-rs xmpp-server vs Debian's
# Prosody, on loopback, same machine, same scenarios, plain TCP (no TLS).
#
#   tests/bench/run.sh                 # build, run everything (~4.5 minutes), print markdown tables
#   SCENARIOS=muc tests/bench/run.sh   # only the MUC scenarios (~2 minutes)
#
# Environment:
#   SCENARIOS="c2s muc"  which groups: c2s (logins, messages), muc (MUC fan-out,
#                      join into a 200-occupant room, 10,000 room create/leave cycles)
#   DURATION=10        seconds per c2s scenario
#   MUC_DURATION=5     seconds per MUC fan-out and join scenario
#   CHURN_CYCLES=10000 room create/leave cycles of the churn scenario
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
GROUPS_SELECTED="${SCENARIOS:-c2s muc}"
MUC_DURATION="${MUC_DURATION:-5}"
CHURN_CYCLES="${CHURN_CYCLES:-10000}"
LOG_LEVEL="${LOG_LEVEL:-info}"
USERS=32            # u0..u31: enough for 16 concurrent logins and 16 pairs
PASSWORD=p
ANON=anon.bench
PLAIN=plain.bench
MUC=conference.bench

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

# The Jitsi guide's MUC settings. meet-rs has no occupant limit, no MUC rate
# limit, and keeps 20 history messages per room (as Prosody does).
[[component]]
host = "$MUC"
type = "muc"
storage = "memory"
muc_room_locking = false
muc_room_default_public_jids = true
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

-- The Jitsi guide's MUC settings. muc_room_default_public_jids is a stock
-- 0.12 option (mod_muc.lua: whois = "anyone"). Stock 0.12 has no occupant
-- limit and no MUC rate limit (mod_muc_limits / muc_max_occupants are
-- community modules, not installed); max_history_messages defaults to
-- unlimited, so rooms keep their default 20 history messages, as meet-rs
-- does; muc_room_cache_size (100 live rooms) is not reached: the scenarios
-- have at most one room at a time; tombstones only concern persistent rooms.
-- XEP-0421 occupant-id (muc_occupant_id) stays on, as shipped.
Component "$MUC" "muc"
    storage = "memory"
    muc_room_locking = false
    muc_room_default_public_jids = true
EOF

[[ " $GROUPS_SELECTED " == *" c2s "* ]] || USERS=0
((USERS == 0)) || log "registering $USERS users on $PLAIN for each server"
for ((i = 0; i < USERS; i++)); do
    if [[ " $SERVERS " == *" ours "* ]]; then
        "$SERVER_BIN" --config "$TMP/ours/xmpp-server.toml" register "u$i" "$PLAIN" "$PASSWORD" >/dev/null
    fi
    if [[ " $SERVERS " == *" prosody "* ]]; then
        prosodyctl --config "$TMP/prosody/prosody.cfg.lua" register "u$i" "$PLAIN" "$PASSWORD" >/dev/null
    fi
done

# ------------------------------------------------------------ scenarios ---
# group|name|xmpp-load arguments (address and duration added per server;
# @PID@ becomes the server's pid, @METRICS@ meet-rs's HTTP address)
ALL_SCENARIOS=(
    "c2s|logins anonymous, 1 at a time|logins --domain $ANON --mech anonymous --concurrency 1"
    "c2s|logins anonymous, 16 in parallel|logins --domain $ANON --mech anonymous --concurrency 16"
    "c2s|logins PLAIN, 1 at a time|logins --domain $PLAIN --mech plain --concurrency 1"
    "c2s|logins PLAIN, 16 in parallel|logins --domain $PLAIN --mech plain --concurrency 16"
    "c2s|messages, 1 pair|messages --domain $ANON --pairs 1 --size 100"
    "c2s|messages, 16 pairs|messages --domain $ANON --pairs 16 --size 100"
)
# MUC fan-out: 4 of the occupants send, each with at most 8 stanzas not yet
# delivered to every occupant.
for kind in message presence; do
    for n in 10 50 200; do
        label="groupchat"
        [[ $kind == presence ]] && label="presence"
        ALL_SCENARIOS+=("muc|MUC fan-out, $label, $n occupants|muc-fanout --domain $ANON --muc $MUC --occupants $n --senders 4 --window 8 --kind $kind --size 100")
    done
done
ALL_SCENARIOS+=(
    "muc|MUC join, 200th occupant (199 present)|muc-join --domain $ANON --muc $MUC --occupants 200"
    "muc|MUC room create/leave, $CHURN_CYCLES cycles|muc-churn --domain $ANON --muc $MUC --cycles $CHURN_CYCLES --checkpoint 1000 --time-limit 150 --server-pid @PID@ @METRICS@"
)
SCENARIOS=()
for entry in "${ALL_SCENARIOS[@]}"; do
    [[ " $GROUPS_SELECTED " == *" ${entry%%|*} "* ]] && SCENARIOS+=("$entry")
done
((${#SCENARIOS[@]})) || { log "no scenarios selected (SCENARIOS=\"$GROUPS_SELECTED\"; use c2s and/or muc)"; exit 1; }

HZ="$(getconf CLK_TCK)"
# utime+stime of a process, in clock ticks (all threads).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# Busy ticks of the whole machine (everything but idle and iowait).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# A gauge from meet-rs's /metrics, or "-".
metric() {
    curl -s --max-time 2 "http://127.0.0.1:$((OURS_PORT + 200))/metrics" |
        awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print "-" }'
}

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
# leftovers must not decide the next one's figures. The servers take turns
# scenario by scenario, so a change in the machine's background load (or in
# the VM's CPU speed) during the run hits both sides of a row alike.
declare -A RATE LAT CPU RSS OTHER LINE
: >"$TMP/results.txt"
for idx in "${!SCENARIOS[@]}"; do
    for server in $SERVERS; do
        IFS='|' read -r group name args <<<"${SCENARIOS[$idx]}"
        dur=$DURATION
        [[ $group == muc ]] && dur=$MUC_DURATION
        start_server "$server"
        args=${args//@PID@/$SERVER_PID}
        if [[ $server == ours ]]; then
            args=${args//@METRICS@/--metrics 127.0.0.1:$((OURS_PORT + 200))}
        else
            args=${args//@METRICS@/}
        fi
        c0=$(cpu_ticks "$SERVER_PID")
        m0=$(machine_ticks)
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        out=$(timeout $((dur + 180)) "$LOAD_BIN" $args --addr "127.0.0.1:$PORT" \
            --user-prefix u --password "$PASSWORD" --duration "$dur" \
            2>>"$TMP/$server.load.log") || true
        t1=$(date +%s.%N)
        m1=$(machine_ticks)
        c1=$(cpu_ticks "$SERVER_PID")
        hwm=$(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status")
        extra=""
        if [[ $group == muc && $server == ours ]]; then
            # Every client has gone: the MUC must hold no room any more
            # (disconnects are processed asynchronously: wait up to 3 s).
            rooms="-"
            for _ in $(seq 1 30); do
                rooms=$(metric xmpp_muc_rooms)
                [[ $rooms == 0 ]] && break
                sleep 0.1
            done
            extra=" rooms_after_exit=$rooms occupants_after_exit=$(metric xmpp_muc_occupants)"
        fi
        stop_server
        line=$(grep '^RESULT' <<<"$out" || true)
        cpu=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
            'BEGIN { printf "%.0f%%", (b - a) / hz / (t1 - t0) * 100 }')
        # CPU used by neither the server nor xmpp-load (other jobs on the
        # machine): the figures are only comparable when this stays small.
        other=$(awk -v a="$m0" -v b="$m1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
            -v srv="${cpu%\%}" -v cli="$(field "$line" client_cpu_pct)" \
            'BEGIN { o = (b - a) / hz / (t1 - t0) * 100 - srv - cli; if (o < 0) o = 0; printf "%.0f%%", o }')
        echo "$server $line server_cpu=$cpu server_hwm_mib=$hwm other_cpu=$other$extra" >>"$TMP/results.txt"
        log "$server: $name: ${line#RESULT } server_cpu=$cpu server_hwm_mib=$hwm other_cpu=$other$extra"
        LINE[$server,$idx]="$line"
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
per=()
[[ " $GROUPS_SELECTED " == *" c2s "* ]] && per+=("$DURATION s per c2s scenario")
[[ " $GROUPS_SELECTED " == *" muc "* ]] && per+=("$MUC_DURATION s per MUC fan-out and join scenario")
echo "each scenario against a freshly started server ($(IFS=';'; echo "${per[*]}" | sed 's/;/, /g'))."
table() {
    local want=$1 hdr sep row group name
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
        IFS='|' read -r group name _ <<<"${SCENARIOS[$idx]}"
        [[ $group == "$want" ]] || continue
        row="| $name |"
        for server in $SERVERS; do row+=" ${RATE[$server,$idx]} |"; done
        for server in $SERVERS; do row+=" ${LAT[$server,$idx]} |"; done
        for server in $SERVERS; do row+=" ${CPU[$server,$idx]} |"; done
        for server in $SERVERS; do row+=" ${RSS[$server,$idx]} |"; done
        for server in $SERVERS; do row+=" ${OTHER[$server,$idx]} |"; done
        echo "$row"
    done
}
# A KiB field of a RESULT line in MiB, or "-".
mib() {
    local v
    v=$(field "$1" "$2")
    if [[ $v =~ ^[0-9]+$ ]]; then awk -v k="$v" 'BEGIN { printf "%.1f MiB", k / 1024 }'; else echo "-"; fi
}
if [[ " $GROUPS_SELECTED " == *" c2s "* ]]; then
    table c2s
    echo
    echo "Rates are logins/s or messages delivered/s."
fi
if [[ " $GROUPS_SELECTED " == *" muc "* ]]; then
    table muc
    echo
    echo "Fan-out rows: deliveries/s (stanzas x occupants, as read by the clients) and"
    echo "send-to-receipt latency. Join row: join/leave cycles/s and the time from the"
    echo "join presence to the self-presence (status 110). Create/leave row: cycles/s"
    echo "and the time of one join + leave."
    churn_idx=""
    for idx in "${!SCENARIOS[@]}"; do
        [[ ${SCENARIOS[$idx]} == *"|muc-churn "* ]] && churn_idx=$idx
    done
    if [[ -n $churn_idx ]]; then
        half=$((CHURN_CYCLES / 2))
        echo
        echo "| Server VmRSS over $CHURN_CYCLES room create/leave cycles | before | after $half | after $CHURN_CYCLES | 1 s later | xmpp_muc_rooms at the end |"
        echo "|---|---:|---:|---:|---:|---:|"
        for server in $SERVERS; do
            l=${LINE[$server,$churn_idx]:-}
            rooms=$(field "$l" muc_rooms)
            [[ $server == prosody ]] && rooms="n/a"
            echo "| $(title "$server") | $(mib "$l" rss_before_kib) | $(mib "$l" rss_half_kib) | $(mib "$l" rss_end_kib) | $(mib "$l" rss_settled_kib) | ${rooms:--} |"
        done
    fi
fi
echo
echo "CPU is server CPU time over wall time (100% = one core); RSS is the server's"
echo "VmHWM at the end of the scenario; other CPU is what the rest of the machine used"
echo "meanwhile (neither the server nor xmpp-load): rows where it is large are not"
echo "comparable."
echo "Raw results:"
echo
echo '```'
cat "$TMP/results.txt"
echo '```'
