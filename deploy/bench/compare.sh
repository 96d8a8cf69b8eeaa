#!/usr/bin/env bash
# Side-by-side benchmark of Rhein, Prosody and ejabberd on this machine, same scenarios, same
# accounts, one server at a time, each as a private process on its own loopback port.
#
#   bash deploy/bench/compare.sh [--servers "rhein prosody ejabberd"] [--runs 3] [--out FILE]
#                                [--scenarios "idle login messages muc roster soak mix pep storm"]
#                                [--profile minimal|default] [--storage sqlite|postgres]
#                                [--flamegraphs DIR]
#
# Profiles: `minimal` (the default) runs each server with the same few modules and no message
# archive; `default` runs each as it is usually deployed: Rhein's default module list, Prosody's
# Debian default modules plus mod_mam, ejabberd's usual modules with mod_mam, every archive
# on and every server storing everything in SQLite (Rhein's own, Prosody's `storage = "sql"`,
# ejabberd's `default_db: sql` with `sql_type: sqlite`). With `--storage postgres` (default
# profile only) all three store everything in a private PostgreSQL on loopback instead, a
# database each, started and stopped by this script.
# (`idle` includes start time and RSS at start; a table column left out shows "-".)
# `mix` runs on the servers with MIX (Rhein); `pep` and `storm` on all three.
# With --flamegraphs DIR, Rhein's server is profiled (perf, 199 Hz, DWARF call graphs) in each
# scenario of its first pinned run, and DIR gets one flame graph (SVG) per scenario.
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
# Account prefixes and counts. The big roster scenario has accounts of its own: its 500-item
# roster and subscriptions must not reach the logins of later runs; MIX's 1,000 participants
# and PEP's 500 contacts are accounts of their own too (added below when wanted).
prefixes="bench:$accounts big:$accounts"
scenarios="idle login messages muc roster"
profile=minimal
storage=sqlite
flame_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --scenarios) scenarios="$2"; shift 2 ;;
        --servers) servers="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --profile) profile="$2"; shift 2 ;;
        --storage) storage="$2"; shift 2 ;;
        --flamegraphs) flame_dir=$(realpath -m "$2"); shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
case $profile in minimal | default) ;; *) echo "unknown profile $profile" >&2; exit 2 ;; esac
case $profile,$storage in *,sqlite | default,postgres) ;; *) echo "--storage postgres needs --profile default" >&2; exit 2 ;; esac
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
[[ " $scenarios " == *" mix "* ]] && prefixes="$prefixes mix:1000"
[[ " $scenarios " == *" pep "* ]] && prefixes="$prefixes pep:501"
[ -n "$flame_dir" ] && mkdir -p "$flame_dir"
# Every account the scenarios use (bench0.. for most); one password. MIX's only where it runs.
account_names() {
    for p in $prefixes; do
        [ "${p%%:*}" = mix ] && [ "${1:-}" != rhein ] && continue
        seq -f "${p%%:*}%g" 0 $((${p#*:} - 1))
    done
}

work=$(mktemp -d /tmp/rhein-bench.XXXXXX)
# Servers that drop privileges (ejabberd) must reach their files in here.
chmod 755 "$work"
server_pid=""
pg_stop=()
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    [ ${#pg_stop[@]} -gt 0 ] && "${pg_stop[@]}" >/dev/null 2>&1 || true
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
    if [ $profile = default ]; then
        # Prosody's SQL storage and ejabberd's driver for the database in use.
        local lua=lua-dbi-sqlite3 erl=erlang-p1-sqlite3
        [ $storage = postgres ] && lua=lua-dbi-postgresql erl=erlang-p1-pgsql
        case " $servers " in *" prosody "*) dpkg -s $lua >/dev/null 2>&1 || missing+=($lua) ;; esac
        case " $servers " in *" ejabberd "*) dpkg -s $erl >/dev/null 2>&1 || missing+=($erl) ;; esac
        [ $storage = postgres ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && missing+=(postgresql)
    fi
    [ -n "$flame_dir" ] && ! command -v perf >/dev/null && missing+=(linux-perf)
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
TOML
    [ $storage = postgres ] && sed -i "/^log_level/a storage = \"$(pg_url rhein)\"" "$work/rhein/rhein.toml"
    # The default profile keeps Rhein's default module list (the archive among them).
    [ $profile = minimal ] && cat >> "$work/rhein/rhein.toml" <<TOML
[modules]
enabled = ["disco", "ping", "version", "last", "im", "private", "vcard", "carbons", "muc"]
TOML
    if [ ! -f "$work/rhein/users-done" ]; then
        # shellcheck disable=SC2046 # one name per word
        echo bench | "$root/target/release/rhein" user add $(account_names rhein) --password-stdin --config "$work/rhein/rhein.toml" >/dev/null
        touch "$work/rhein/users-done"
    fi
    launched=$(date +%s%N)
    $1 "$root/target/release/rhein" serve --config "$work/rhein/rhein.toml" 2>"$work/rhein/log" &
    server_pid=$!
    wait_port $port
    started_ms=$(( ($(date +%s%N) - launched) / 1000000 ))
}

# A private PostgreSQL on loopback for --storage postgres, a database per server; as root it
# runs as the postgres user (it refuses root).
pg_port=55440
start_postgres() {
    local bin run=()
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    mkdir -p "$work/pg"
    if [ "$(id -u)" = 0 ]; then chown postgres "$work/pg"; run=(runuser -u postgres --); fi
    "${run[@]}" "$bin/initdb" -D "$work/pg/data" -A trust -U postgres >/dev/null
    "${run[@]}" "$bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
        -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
    pg_stop=("${run[@]}" "$bin/pg_ctl" -D "$work/pg/data" -m fast stop)
    for db in $servers; do psql -q -h 127.0.0.1 -p $pg_port -U postgres -c "CREATE DATABASE $db" >/dev/null; done
}
pg_url() { echo "postgres://postgres@127.0.0.1:$pg_port/$1"; }

# sqlite_wal FILE [SCHEMA]: creates a SQLite database in WAL mode (kept in the file, so the
# server that opens it later writes through the WAL, as Rhein does), with SCHEMA's tables.
# The other servers do not let their synchronous setting be chosen: they keep SQLite's FULL
# (an fsync per commit), where Rhein's NORMAL survives a crash of the process, not of the
# machine.
sqlite_wal() {
    python3 - "$@" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode=WAL")
if len(sys.argv) > 2:
    db.executescript(open(sys.argv[2]).read())
db.commit()
PY
}

# Prosody's modules and storage for the profile: the minimal set, or Debian's default
# configuration's modules with mod_mam (archiving every chat, as Rhein and ejabberd do here)
# and everything in SQLite.
prosody_modules() {
    if [ $profile = minimal ]; then
        cat <<'LUA'
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "private", "vcard_legacy", "carbons" }
modules_disabled = { "s2s", "offline" }
storage = "internal"
LUA
        return
    fi
    cat <<'LUA'
modules_enabled = { "roster", "saslauth", "tls", "disco", "blocklist", "bookmarks", "carbons", "pep",
    "private", "smacks", "vcard4", "vcard_legacy", "csi_simple", "ping", "register", "time", "uptime",
    "version", "lastactivity", "mam" }
modules_disabled = { "s2s" }
default_archive_policy = true
storage = "sql"
LUA
    if [ $storage = postgres ]; then
        echo "sql = { driver = \"PostgreSQL\", database = \"prosody\", host = \"127.0.0.1\", port = $pg_port, username = \"postgres\" }"
    else
        echo 'sql = { driver = "SQLite3", database = "prosody.sqlite" }'
    fi
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
$(prosody_modules)
c2s_ports = { $port }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}
-- STARTTLS offered, not required: the idle scenario also runs without TLS.
c2s_require_encryption = false
authentication = "internal_hashed"
log = { warn = "$work/prosody/log" }
VirtualHost "localhost"
    ssl = { certificate = "$work/cert.pem", key = "$work/key.pem" }
Component "conference.localhost" "muc"
$( [ $profile = default ] && echo '    modules_enabled = { "muc_mam" }
Component "pubsub.localhost" "pubsub"')
LUA
    [ $profile,$storage = default,sqlite ] && [ ! -f "$work/prosody/data/prosody.sqlite" ] && sqlite_wal "$work/prosody/data/prosody.sqlite"
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

# ejabberd's storage and the modules beyond the minimal set: the default profile adds what
# its example configuration enables for clients, mod_mam archiving every chat, and keeps
# everything (accounts too) in SQLite, its schema loaded first as ejabberd 23.01 needs.
ejabberd_modules() {
    if [ $profile = minimal ]; then
        printf 'auth_method: internal\nmodules:\n'
        return
    fi
    if [ $storage = postgres ]; then
        [ -f "$1/schema-done" ] || { psql -q -h 127.0.0.1 -p $pg_port -U postgres -d ejabberd -f /usr/share/ejabberd/sql/pg.sql >/dev/null; touch "$1/schema-done"; }
        printf 'sql_type: pgsql\nsql_server: "127.0.0.1"\nsql_port: %s\nsql_database: "ejabberd"\nsql_username: "postgres"\nsql_password: ""\n' $pg_port
    else
        [ -f "$1/ejabberd.db" ] || sqlite_wal "$1/ejabberd.db" /usr/share/ejabberd/sql/lite.sql
        printf 'sql_type: sqlite\nsql_database: "%s"\n' "$1/ejabberd.db"
    fi
    cat <<YML
default_db: sql
auth_method: sql
modules:
  mod_adhoc: {}
  mod_blocking: {}
  mod_caps: {}
  mod_client_state: {}
  mod_last: {}
  mod_mam:
    default: always
  mod_offline: {}
  mod_privacy: {}
  mod_pubsub:
    plugins: ["flat", "pep"]
  mod_push: {}
  mod_stream_mgmt: {}
  mod_version: {}
YML
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
auth_password_format: scram
auth_scram_hash: sha256
$(ejabberd_modules "$dir")
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
$( [ $profile = default ] && echo '      mam: true')
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

# Waits (up to 60 s) until the server is idle: less than 5% of a core over a second. What one
# scenario left queued (ejabberd's last-activity writes after thousands of logins, with an
# fsync each on SQLite) then does not count against the next.
settle() {
    local ticks; ticks=$(getconf CLK_TCK)
    cpu() { awk '{print $14 + $15}' "/proc/$server_pid/stat" 2>/dev/null || echo 0; }
    for _ in $(seq 60); do
        local before; before=$(cpu); sleep 1
        [ $(( $(cpu) - before )) -lt $(( ticks / 20 + 1 )) ] && return 0
    done
    echo "the server is still busy after 60 s" >&2
}

wants() { [[ " $scenarios " == *" $1 "* ]]; }
# Median of the numbers on stdin, one per line (blank lines ignored); "-" for none.
median() { awk 'NF' | sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print a[int((NR+1)/2)]}'; }

# profiled NAME COMMAND...: runs the command; in Rhein's first pinned run with --flamegraphs,
# the server's CPU profile meanwhile becomes NAME.svg in the flame graph directory.
profiled() {
    local name=$1; shift
    if [ -z "$flame_dir" ] || [ "$s,$regime,$run" != rhein,pinned,1 ]; then "$@"; return; fi
    perf record -q -F 199 --call-graph dwarf,16384 -p "$server_pid" -o "$work/$name.perf" >/dev/null 2>&1 &
    local perf_pid=$!
    "$@"
    kill -INT $perf_pid; wait $perf_pid || true
    perf script -i "$work/$name.perf" 2>/dev/null | python3 "$root/deploy/bench/flamegraph.py" \
        --title "Rhein, $name ($profile profile, $storage, $(date -u +%Y-%m-%d))" --output "$flame_dir/$name.svg"
    rm -f "$work/$name.perf"
}

# The load generator, on the generator's core when pinned: `bench_fleet PREFIX COUNT …` on
# accounts PREFIX0 .. PREFIX<COUNT-1>, `bench …` on the common ones.
bench_fleet() {
    local prefix=$1 count=$2; shift 2
    $gen_pin "$root/target/release/rhein-bench" --addr "127.0.0.1:$port" --prefix "$prefix" --accounts "$count" \
        --password bench --sources 127.0.0.1,127.0.0.2,127.0.0.3 "$@"
}
bench() { bench_fleet bench $accounts "$@"; }

install_packages
[ $storage = postgres ] && start_postgres
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
                    login=$(profiled $key bench $opt login --concurrency 32 --duration 8 --roster 20 --server-pid "$server_pid" | tail -n 1)
                    echo "$login"
                    record "$s" $regime $key "$login" logins_per_sec
                    record "$s" $regime ${key}_cpu "$login" server_cpu_us_per_login
                    record "$s" $regime ${key}_gen "$login" generator_cpu_us_per_login
                done
            fi
            if wants messages; then
                if wants login; then
                    # A fresh process: pinned to one core with an fsync per SQLite commit,
                    # ejabberd was still writing the logins' last activity a minute later.
                    stop_server
                    "start_$s" "$srv_pin"
                fi
                settle
                msgs=$(profiled messages bench messages --pairs 20 --window 64 --duration 8 | tail -n 1)
                echo "$msgs"
                record "$s" $regime msgs "$msgs" msgs_per_sec
                record "$s" $regime p99 "$msgs" latency_ms_p99
                record "$s" $regime unreceived "$msgs" not_received
            fi
            if [ $regime = pinned ] && wants muc; then
                # Joining 1,000 occupants is quadratic in presence: minutes for some servers,
                # so the room is measured in one regime only.
                muc=$(profiled muc bench muc --occupants 1000 --senders 4 --window 8 --duration 8 --concurrency 50 | tail -n 1)
                echo "$muc"
                record "$s" $regime muc "$muc" deliveries_per_sec
                record "$s" $regime join "$muc" last_join_ms
            fi
            if [ $regime = pinned ] && wants soak; then
                settle
                # Steady mixed traffic below saturation: every message must arrive exactly once.
                soak=$(profiled soak bench soak --pairs 20 --rate 50 --duration 30 --server-pid "$server_pid" | tail -n 1)
                echo "$soak"
                record "$s" $regime soak_lost "$soak" lost
                record "$s" $regime soak_dup "$soak" duplicates
            fi
            if [ $regime = pinned ] && wants roster; then
                big=$(profiled roster bench_fleet big $accounts roster --items 500 --online 150 --logins 30 | tail -n 1)
                echo "$big"
                record "$s" $regime roster "$big" roster_ms_p99
                record "$s" $regime presence "$big" presence_ms_p99
                record "$s" $regime versioned "$big" versioned_bytes
            fi
            if [ $regime = pinned ] && wants mix && [ $s = rhein ]; then
                mix=$(profiled mix bench_fleet mix 1000 mix --occupants 1000 --senders 4 --window 8 --duration 8 --concurrency 50 | tail -n 1)
                echo "$mix"
                record "$s" $regime mix "$mix" deliveries_per_sec
                record "$s" $regime mix_p99 "$mix" reflection_ms_p99
            fi
            if [ $regime = pinned ] && wants pep; then
                pep=$(profiled pep bench_fleet pep 501 pep --contacts 500 --window 16 --duration 8 | tail -n 1)
                echo "$pep"
                record "$s" $regime pep "$pep" deliveries_per_sec
                record "$s" $regime pep_p99 "$pep" notification_ms_p99
            fi
            if [ $regime = pinned ] && wants storm; then
                # 19,000 sessions dropped at once, back within 30 s: binding anew, then resuming
                # (XEP-0198) where the server offers it; a fresh process for each.
                for mode in bind resume; do
                    stop_server
                    "start_$s" "$srv_pin"
                    opt=""; [ $mode = resume ] && opt=--resumption
                    storm=$(profiled storm_$mode bench $opt storm --sessions 19000 --jitter 30 | tail -n 1) || storm='{"all_back_secs": "-", "back_ms_p99": "-", "failed": "-"}'
                    echo "$storm"
                    record "$s" $regime storm_$mode "$storm" all_back_secs
                    record "$s" $regime storm_${mode}_p99 "$storm" back_ms_p99
                    record "$s" $regime storm_${mode}_failed "$storm" failed
                done
            fi
            stop_server
        done
    done
done

{
    echo "# Rhein vs Prosody vs ejabberd ($(date -u +%Y-%m-%d), $(nproc) cores, medians of $runs runs, profile $profile, storage $storage)"
    echo
    if [ $profile = default ]; then
        echo "Default profile: each server as usually deployed, the message archive on and everything in SQLite"
        echo "(Rhein's default modules; Prosody's Debian default modules + mod_mam, storage = \"sql\"; ejabberd's"
        echo "usual modules + mod_mam, default_db: sql, sql_type: sqlite). Archives commit before acknowledging."
        [ $storage = postgres ] && echo "Storage: all three in one private PostgreSQL on loopback (a database each) instead of SQLite."
    else
        echo "Minimal profile: the same few modules on all three (roster, disco, ping, private, vCard, carbons, MUC),"
        echo "no message archive, each server's own default storage."
    fi
    echo
    echo "Start: launch to accepting connections, and RSS then (200 accounts, no sessions)."
    echo "Idle: RSS growth per bound session at 19,000 sessions, fresh process, without and with TLS."
    echo "Login: TLS 1.3 + SCRAM-SHA-256 + bind + roster of 20 + presence, 32 at a time; the generator keeps"
    echo "session tickets as clients do and resumes TLS sessions where the server issues tickets; \"full\":"
    echo "every handshake in full (a first connection, or after a server restart)."
    echo "Messages: 20 pairs, 100-byte chats, 64 in flight per pair; p99 is end-to-end latency at that load;"
    echo "unreceived: messages sent in the run that never arrived (the run ends by waiting for stragglers)."
    echo "Soak: 20 pairs at 50 msgs/s each with presence changes and pings for 30 s; lost and duplicated"
    echo "messages (each must arrive exactly once); pinned only."
    echo "MUC: one room, 1,000 occupants, 4 of them talking with 8 messages in flight each; deliveries/s to"
    echo "all occupants, and the time the 1,000th occupant needs to join (until the room's subject); pinned only."
    echo "Big roster: one account with 500 items, 150 contact sessions online; p99 over 30 logins of the roster"
    echo "result and of the contacts' presence after the initial presence, and the bytes of a re-fetch with the"
    echo "version just received (an unchanged roster resends nothing); pinned only."
    echo "MIX: one channel, 1,000 participants (accounts of their own, joined through their server), 4 talking"
    echo "with 8 messages in flight each; deliveries/s and p99 of a sender's reflection; servers with MIX only."
    echo "PEP: one account publishes to a node of its own (16 publishes in flight); its 500 contacts share"
    echo "presence with it and advertise +notify in their capabilities; notifications/s and their p99."
    echo "Storm: 19,000 sessions dropped at once (no closing), coming back spread over 30 s: seconds until the"
    echo "last is back, p99 of the time one takes to be back (connect, TLS, SCRAM, bind or resume) and failures;"
    echo "binding new sessions, then resuming them (XEP-0198); pinned only."
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
        columns="login:logins/s:+;login_full:logins/s full:+;login_cpu:server µs/login:-;login_full_cpu:server µs/login full:-;login_gen:generator µs/login:=;login_full_gen:generator µs/login full:=;msgs:msgs/s:+;p99:p99 ms:-;unreceived:unreceived:="
        if [ $regime = pinned ]; then
            columns="start:start ms:-;rss0:RSS at start MiB:-;idle:idle B/session:-;idle_tls:idle TLS B/session:-;$columns"
            columns="$columns;soak_lost:soak lost:=;soak_dup:soak duplicated:=;muc:MUC deliveries/s:+;join:1,000th join ms:-;roster:roster 500 p99 ms:-;presence:presence 150 p99 ms:-;versioned:versioned re-fetch B:-"
            columns="$columns;mix:MIX deliveries/s:+;mix_p99:MIX p99 ms:-;pep:PEP deliveries/s:+;pep_p99:PEP p99 ms:-"
            columns="$columns;storm_bind:storm s:-;storm_bind_p99:storm back p99 ms:-;storm_bind_failed:storm failed:="
            columns="$columns;storm_resume:storm resume s:-;storm_resume_p99:storm resume back p99 ms:-;storm_resume_failed:storm resume failed:="
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
