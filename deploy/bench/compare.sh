#!/usr/bin/env bash
# Side-by-side benchmark of Rhein, Prosody and ejabberd on this machine, same scenarios, same
# accounts, one server at a time, each as a private process on its own loopback port.
#
#   bash deploy/bench/compare.sh [--servers "rhein prosody ejabberd"] [--runs 3] [--out FILE]
#                                [--scenarios "idle login messages muc roster"]
#
# (`idle` includes start time and RSS at start; a table column left out shows "-".)
# Installs Prosody and ejabberd from Debian packages (without starting their system services),
# builds rhein and rhein-bench in release mode, and writes a Markdown table of medians and of
# Rhein's lead over each of the others.
# Two regimes: the server pinned to core 0 with the load generator on core 1, and unpinned.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
servers="rhein prosody ejabberd"
runs=3
out="$root/target/bench-results.md"
accounts=100
# The big roster scenario has accounts of its own: its 500-item roster and subscriptions must not
# reach the logins of later runs.
prefixes="bench big"
scenarios="idle login messages muc roster"
while [ $# -gt 0 ]; do
    case "$1" in
        --scenarios) scenarios="$2"; shift 2 ;;
        --servers) servers="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# Every account the scenarios use: bench0.. for most, big0.. for the big roster; one password.
account_names() { for p in $prefixes; do seq -f "$p%g" 0 $((accounts - 1)); done; }

work=$(mktemp -d /tmp/rhein-bench.XXXXXX)
# Servers that drop privileges (ejabberd) must reach their files in here.
chmod 755 "$work"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    pkill -f "beam.*bench@localhost" 2>/dev/null || true
    epmd -kill >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

install_packages() {
    local missing=()
    for p in prosody ejabberd; do
        case " $servers " in *" $p "*) command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p") ;; esac
    done
    [ ${#missing[@]} -eq 0 ] && return
    echo "installing ${missing[*]} (Debian packages, services not started)"
    # Keep the packages' own system services from starting on the standard ports.
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    as_root rm -f /usr/sbin/policy-rc.d
}

wait_port() {
    for _ in $(seq 1 6000); do
        (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.01
    done
    echo "nothing listens on $1" >&2
    return 1
}

cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
    chmod 644 "$work/key.pem" "$work/cert.pem"
}

# start_<server> PINNING: starts the server, sets server_pid and port.
start_rhein() {
    port=5522
    mkdir -p "$work/rhein"
    cat > "$work/rhein/rhein.toml" <<TOML
[server]
data_dir = "$work/rhein"
log_level = "warn"
[[hosts]]
domain = "localhost"
certificate = "$work/cert.pem"
key = "$work/key.pem"
[[listeners]]
kind = "c2s"
address = "127.0.0.1:$port"
# For the idle scenario without TLS (the others negotiate STARTTLS).
allow_plaintext = true
[limits]
max_sessions_per_account = 20000
max_connections_per_address = 100000
# The other servers run without inbound rate limits here.
bytes_per_second = 1000000000
[modules]
enabled = ["disco", "ping", "version", "last", "im", "private", "vcard", "carbons", "muc"]
TOML
    if [ ! -f "$work/rhein/users-done" ]; then
        for user in $(account_names); do
            echo bench | "$root/target/release/rhein" user add "$user" --password-stdin --config "$work/rhein/rhein.toml" >/dev/null
        done
        touch "$work/rhein/users-done"
    fi
    launched=$(date +%s%N)
    $1 "$root/target/release/rhein" serve --config "$work/rhein/rhein.toml" 2>"$work/rhein/log" &
    server_pid=$!
    wait_port $port
    started_ms=$(( ($(date +%s%N) - launched) / 1000000 ))
}

start_prosody() {
    port=5622
    mkdir -p "$work/prosody/data"
    cat > "$work/prosody/prosody.cfg.lua" <<LUA
run_as_root = true
daemonize = false
pidfile = "$work/prosody/prosody.pid"
data_path = "$work/prosody/data"
plugin_paths = {}
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "private", "vcard_legacy", "carbons" }
modules_disabled = { "s2s", "offline" }
c2s_ports = { $port }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}
-- STARTTLS offered, not required: the idle scenario also runs without TLS.
c2s_require_encryption = false
authentication = "internal_hashed"
storage = "internal"
log = { warn = "$work/prosody/log" }
VirtualHost "localhost"
    ssl = { certificate = "$work/cert.pem", key = "$work/key.pem" }
Component "conference.localhost" "muc"
LUA
    if [ ! -f "$work/prosody/users-done" ]; then
        for user in $(account_names); do
            prosodyctl --config "$work/prosody/prosody.cfg.lua" register "$user" localhost bench >/dev/null 2>&1
        done
        touch "$work/prosody/users-done"
    fi
    launched=$(date +%s%N)
    $1 prosody --config "$work/prosody/prosody.cfg.lua" >/dev/null 2>&1 &
    server_pid=$!
    wait_port $port
    started_ms=$(( ($(date +%s%N) - launched) / 1000000 ))
}

start_ejabberd() {
    port=5722
    local dir="$work/ejabberd"
    mkdir -p "$dir/db" "$dir/logs"
    cat "$work/key.pem" "$work/cert.pem" > "$dir/server.pem"
    cat > "$dir/ejabberd.yml" <<YML
hosts: [localhost]
loglevel: warning
certfiles: ["$dir/server.pem"]
listen:
  - port: $port
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: true
    max_stanza_size: 262144
    backlog: 4096
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_private: {}
  mod_vcard: {}
  mod_carboncopy: {}
  mod_muc:
    host: "conference.localhost"
    max_users: 25000
    default_room_options:
      max_users: 20000
YML
    # The package's own ejabberdctl.cfg would point back at /etc/ejabberd: bring our own, and
    # keep Erlang distribution on loopback.
    cat > "$dir/ejabberdctl.cfg" <<CFG
EJABBERD_CONFIG_PATH=$dir/ejabberd.yml
EJABBERD_PID_PATH=$dir/ejabberd.pid
INET_DIST_INTERFACE=127.0.0.1
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
CFG
    chown -R ejabberd "$dir"
    # As root, ejabberdctl re-executes itself through su, which drops the environment and the
    # open-files limit: switch to the ejabberd user without PAM instead.
    local ctl=(setpriv --reuid=ejabberd --regid=ejabberd --init-groups env HOME=/var/lib/ejabberd
        ERL_EPMD_ADDRESS=127.0.0.1 ejabberdctl --ctl-config "$dir/ejabberdctl.cfg"
        --config "$dir/ejabberd.yml" --spool "$dir/db" --logs "$dir/logs" --node bench@localhost)
    launched=$(date +%s%N)
    $1 "${ctl[@]}" foreground >"$dir/console.log" 2>&1 &
    wait_port $port || { tail -n 20 "$dir/console.log" "$dir/logs/"*.log >&2; return 1; }
    started_ms=$(( ($(date +%s%N) - launched) / 1000000 ))
    if [ ! -f "$dir/users-done" ]; then
        for user in $(account_names); do "${ctl[@]}" register "$user" localhost bench >/dev/null; done
        touch "$dir/users-done"
    fi
    server_pid=$(pgrep -f "beam.*bench@localhost" | head -n 1)
}

stop_server() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    pkill -f "beam.*bench@localhost" 2>/dev/null || true
    wait 2>/dev/null || true
    server_pid=""
    sleep 1
}

wants() { [[ " $scenarios " == *" $1 "* ]]; }
# Median of the numbers on stdin, one per line (blank lines ignored); "-" for none.
median() { awk 'NF' | sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }

# The load generator, on the generator's core when pinned.
bench() { $gen_pin "$root/target/release/rhein-bench" --addr "127.0.0.1:$port" --accounts $accounts --password bench --sources 127.0.0.1,127.0.0.2,127.0.0.3 "$@"; }

install_packages
cargo build --release -q -p rhein -p rhein-bench
# Every server (and the generator) may hold ~20k sockets.
ulimit -n 20000 || true
cert

declare -A result
# record SERVER REGIME KEY JSON FIELD: appends one run's figure.
record() { result[$1,$2,$3]+="$(echo "$4" | python3 -c "import json,sys; print(json.load(sys.stdin)['$5'])") "; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
for regime in pinned unpinned; do
    if [ $regime = pinned ]; then srv_pin="taskset -c 0"; gen_pin="taskset -c 1"; else srv_pin=""; gen_pin=""; fi
    for s in $servers; do
        for run in $(seq 1 "$runs"); do
            echo "== $s, $regime, run $run"
            if [ $regime = pinned ] && wants idle; then
                # Idle memory: a fresh process per measurement, 19,000 sessions (the open-files
                # limit here is 20,000 per process), without and with TLS.
                # From the server's launch to its port: creating the accounts does not count.
                "start_$s" "$srv_pin"
                result[$s,$regime,start]+="$started_ms "
                result[$s,$regime,rss0]+="$(rss_mib "$server_pid") "
                plain=$(bench --no-tls idle --sessions 19000 --server-pid "$server_pid" | tail -n 1)
                stop_server
                "start_$s" "$srv_pin"
                tls=$(bench idle --sessions 19000 --server-pid "$server_pid" | tail -n 1)
                stop_server
                echo "$plain"; echo "$tls"
                record "$s" $regime idle "$plain" bytes_per_session
                record "$s" $regime idle_tls "$tls" bytes_per_session
            fi
            "start_$s" "$srv_pin"
            if wants login; then
                for handshakes in resumed full; do
                    key=login; opt=""
                    [ $handshakes = full ] && key=login_full && opt=--full-handshakes
                    login=$(bench $opt login --concurrency 32 --duration 8 --roster 20 --server-pid "$server_pid" | tail -n 1)
                    echo "$login"
                    record "$s" $regime $key "$login" logins_per_sec
                    record "$s" $regime ${key}_cpu "$login" server_cpu_us_per_login
                    record "$s" $regime ${key}_gen "$login" generator_cpu_us_per_login
                done
            fi
            if wants messages; then
                msgs=$(bench messages --pairs 20 --window 64 --duration 8 | tail -n 1)
                echo "$msgs"
                record "$s" $regime msgs "$msgs" msgs_per_sec
                record "$s" $regime p99 "$msgs" latency_ms_p99
            fi
            if [ $regime = pinned ] && wants muc; then
                # Joining 1,000 occupants is quadratic in presence: minutes for some servers,
                # so the room is measured in one regime only.
                muc=$(bench muc --occupants 1000 --senders 4 --window 8 --duration 8 --concurrency 50 | tail -n 1)
                echo "$muc"
                record "$s" $regime muc "$muc" deliveries_per_sec
                record "$s" $regime join "$muc" last_join_ms
            fi
            if [ $regime = pinned ] && wants roster; then
                big=$(bench --prefix big roster --items 500 --online 150 --logins 30 | tail -n 1)
                echo "$big"
                record "$s" $regime roster "$big" roster_ms_p99
                record "$s" $regime presence "$big" presence_ms_p99
                record "$s" $regime versioned "$big" versioned_bytes
            fi
            stop_server
        done
    done
done

{
    echo "# Rhein vs Prosody vs ejabberd ($(date -u +%Y-%m-%d), $(nproc) cores, medians of $runs runs)"
    echo
    echo "Start: launch to accepting connections, and RSS then (200 accounts, no sessions)."
    echo "Idle: RSS growth per bound session at 19,000 sessions, fresh process, without and with TLS."
    echo "Login: TLS 1.3 + SCRAM-SHA-256 + bind + roster of 20 + presence, 32 at a time; the generator keeps"
    echo "session tickets as clients do and resumes TLS sessions where the server issues tickets; \"full\":"
    echo "every handshake in full (a first connection, or after a server restart)."
    echo "Messages: 20 pairs, 100-byte chats, 64 in flight per pair; p99 is end-to-end latency at that load."
    echo "MUC: one room, 1,000 occupants, 4 of them talking with 8 messages in flight each; deliveries/s to"
    echo "all occupants, and the time the 1,000th occupant needs to join (until the room's subject); pinned only."
    echo "Big roster: one account with 500 items, 150 contact sessions online; p99 over 30 logins of the roster"
    echo "result and of the contacts' presence after the initial presence, and the bytes of a re-fetch with the"
    echo "version just received (an unchanged roster resends nothing); pinned only."
    echo
    echo "Server µs/login: the server process's CPU time (user + system, all threads) per login during the"
    echo "login run: what a login costs it, whoever else shares the cores. Generator µs/login: the same for"
    echo "rhein-bench itself; unpinned, server and generator share two cores, so logins/s there stays under"
    echo "2 s / (server + generator µs per login)."
    echo "Ratios: how many times Rhein is ahead (its throughput over the other's; the other's cost, memory or"
    echo "latency over Rhein's)."
    echo
    for regime in pinned unpinned; do
        echo "## ${regime} (server $( [ $regime = pinned ] && echo 'on core 0, generator on core 1' || echo 'and generator unpinned'))"
        echo
        # key:label:better (+ higher, - lower, = no ratio), separated by ";".
        columns="login:logins/s:+;login_full:logins/s full:+;login_cpu:server µs/login:-;login_full_cpu:server µs/login full:-;login_gen:generator µs/login:=;login_full_gen:generator µs/login full:=;msgs:msgs/s:+;p99:p99 ms:-"
        if [ $regime = pinned ]; then
            columns="start:start ms:-;rss0:RSS at start MiB:-;idle:idle B/session:-;idle_tls:idle TLS B/session:-;$columns"
            columns="$columns;muc:MUC deliveries/s:+;join:1,000th join ms:-;roster:roster 500 p99 ms:-;presence:presence 150 p99 ms:-;versioned:versioned re-fetch B:-"
        fi
        IFS=';' read -r -a cols <<< "$columns"
        header="| server"; rule="|---"
        for c in "${cols[@]}"; do label=${c#*:}; header="$header | ${label%:*}"; rule="$rule|---"; done
        echo "$header |"; echo "$rule|"
        declare -A med=()
        for s in $servers; do
            row="| $s"
            for c in "${cols[@]}"; do
                k=${c%%:*}
                med[$s,$k]=$(echo ${result[$s,$regime,$k]:-} | tr ' ' '\n' | median)
                row="$row | ${med[$s,$k]}"
            done
            echo "$row |"
        done
        for s in $servers; do
            [ $s = rhein ] && continue
            row="| Rhein's lead over $s"
            for c in "${cols[@]}"; do
                k=${c%%:*}; better=${c##*:}
                row="$row | $(awk -v r="${med[rhein,$k]:--}" -v o="${med[$s,$k]:--}" -v b="$better" 'BEGIN {
                    if (b == "=" || r == "-" || o == "-" || r + 0 == 0 || o + 0 == 0) { print "-"; exit }
                    printf "%.1f×", (b == "+" ? r / o : o / r) }')"
            done
            echo "$row |"
        done
        echo
    done
} > "$out"
cat "$out"
