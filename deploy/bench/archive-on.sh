#!/usr/bin/env bash
# Messages/s with Rhein's default modules (the archive on, SQLite), the server pinned to core
# 0 and the generator to core 1, with the messages scenario of deploy/bench/compare.sh (20
# pairs, 64 in flight each, 8 s): one JSON line per run. Rhein alone for now; the comparison
# with Prosody's and ejabberd's archives is issue 26's.
#
#   bash deploy/bench/archive-on.sh [RUNS] [RHEIN] [RHEIN_BENCH]
#   (default: 3 runs of target/release/rhein and target/release/rhein-bench; build them with
#   cargo build --release -p rhein -p rhein-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-3}; bin=${2:-$root/target/release/rhein}; gen=${3:-$root/target/release/rhein-bench}
for run in $(seq 1 "$runs"); do
    work=$(mktemp -d /tmp/rhein-ab.XXXXXX)
    port=5722
    cat > "$work/rhein.toml" <<TOML
[server]
data_dir = "$work"
log_level = "warn"
[[hosts]]
domain = "localhost"
[[listeners]]
kind = "c2s"
address = "127.0.0.1:$port"
allow_plaintext = true
[limits]
max_sessions_per_account = 20000
max_connections_per_address = 100000
bytes_per_second = 1000000000
TOML
    for i in $(seq 0 99); do echo bench | "$bin" user add "bench$i" --password-stdin --config "$work/rhein.toml" >/dev/null; done
    taskset -c 0 "$bin" serve --config "$work/rhein.toml" 2>"$work/log" &
    pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    taskset -c 1 "$gen" --addr "127.0.0.1:$port" --accounts 100 --password bench --sources 127.0.0.1,127.0.0.2,127.0.0.3 \
        messages --pairs 20 --window 64 --duration 8 | tail -n 1
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$work"
done
