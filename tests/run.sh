#!/usr/bin/env bash
# Runs every Rhein test: lints, unit and integration tests on SQLite and on PostgreSQL, a short
# run of each AFL++ fuzz target, interop with slixmpp, Prosody and ejabberd, the Debian
# package, xmpp.js in node, and Converse.js in headless Chromium. Installs what it needs
# (PostgreSQL, nginx, AFL++, Prosody, ejabberd, lintian and Chromium from Debian packages, cargo-afl
# from crates.io, slixmpp from PyPI, xmpp.js, Converse.js and playwright-core from npm) and
# starts a private PostgreSQL on loopback, stopped again on exit (the Prosody and ejabberd
# tests start and stop their own).
#
#   bash tests/run.sh
#
# Set RHEIN_TEST_POSTGRES_URL (a superuser URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)
# to use an existing PostgreSQL instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
step() { printf '\n==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_postgres() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$bin" ]; then
        step "installing PostgreSQL (Debian packages)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    pg_dir=$(mktemp -d /tmp/rhein-pg.XXXXXX)
    pg_port=$(free_port)
    # PostgreSQL refuses to run as root: run it as the postgres user then.
    local run=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$pg_dir"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
    "${run[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off" start >/dev/null
    pg_stop=("${run[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -m immediate stop)
    export RHEIN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
    echo "PostgreSQL on 127.0.0.1:$pg_port"
}

cleanup() {
    if [ -n "${pg_stop+x}" ]; then "${pg_stop[@]}" >/dev/null 2>&1 || true; rm -rf "$pg_dir"; fi
}
trap cleanup EXIT

install_nginx() {
    if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then return; fi
    step "installing nginx (Debian package, its service not started; the reverse-proxy test runs its own)"
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
    as_root rm -f /usr/sbin/policy-rc.d
}

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

install_nginx
step "tests on SQLite"
RHEIN_TEST_SQLITE_ONLY=1 RHEIN_TEST_POSTGRES_URL= cargo test --workspace --locked

step "integration tests on PostgreSQL"
if [ -z "${RHEIN_TEST_POSTGRES_URL:-}" ]; then start_postgres; fi
cargo test -p rhein --test it --locked

install_afl() {
    if ! command -v afl-fuzz >/dev/null; then
        step "installing AFL++ (Debian package: its tools, and the C toolchain cargo-afl builds with)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null
    fi
    if ! cargo afl --version >/dev/null 2>&1; then
        step "installing cargo-afl (crates.io; builds the AFL++ runtime and afl-fuzz it runs)"
        cargo install cargo-afl --locked --quiet
    fi
}

step "fuzzing: each AFL++ target for 20 s (a crash fails the run)"
install_afl
bash tests/fuzz.sh 20

install_prosody() {
    # lua-dbi-sqlite3: Prosody's SQL storage in SQLite, which the migration test reads too.
    if command -v prosody >/dev/null && command -v openssl >/dev/null && dpkg -s lua-dbi-sqlite3 >/dev/null 2>&1; then
        return
    fi
    step "installing Prosody (Debian packages, its service not started)"
    # Keep the package's system service from starting on the standard ports.
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prosody lua-dbi-sqlite3 openssl >/dev/null
    as_root rm -f /usr/sbin/policy-rc.d
}

install_ejabberd() {
    command -v ejabberdctl >/dev/null && return
    step "installing ejabberd (Debian package, its service not started)"
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ejabberd >/dev/null
    as_root rm -f /usr/sbin/policy-rc.d
    as_root systemctl disable ejabberd >/dev/null 2>&1 || true
}

step "interop with slixmpp (and Prosody, for federation and migration; ejabberd, for migration)"
install_prosody
install_ejabberd
export RHEIN_REQUIRE_PROSODY=1 RHEIN_REQUIRE_EJABBERD=1
venv="$root/target/interop-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
fi
cargo build -p rhein --locked
for script in tests/interop/slixmpp_*.py; do
    "$venv/bin/python" "$script" "$root/target/debug/rhein"
done
# An older slixmpp, which knows no channel binding but tls-unique, in a venv of its own.
legacy="$root/target/interop-venv-legacy"
if [ ! -x "$legacy/bin/python" ]; then
    python3 -m venv "$legacy"
    "$legacy/bin/pip" install --quiet --disable-pip-version-check -r tests/interop/legacy/requirements.txt
fi
for script in tests/interop/legacy/slixmpp_*.py; do
    "$legacy/bin/python" "$script" "$root/target/debug/rhein"
done

step "the Debian package and the systemd unit (built from the debug binary; lintian, systemd-analyze)"
bash tests/package.sh "$root/target/debug/rhein"

step "the load generator against Rhein (a few seconds per scenario)"
cargo build -p rhein-bench --locked
python3 tests/bench_smoke.py "$root/target/debug/rhein" "$root/target/debug/rhein-bench"

step "xmpp.js in node: SASL2, Bind2 and inline resumption (client test)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
node tests/browser/xmppjs.mjs "$root/target/debug/rhein"

step "Converse.js in headless Chromium (browser test)"
if ! command -v chromium >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The test's server takes port 443 of localhost, where Converse looks for host-meta.
as_root node tests/browser/converse.mjs "$root/target/debug/rhein" "$root/target/browser-artifacts"

step "an invitation in headless Chromium: landing page, registration form, webchat, room link"
as_root node tests/browser/invite.mjs "$root/target/debug/rhein" "$root/target/browser-artifacts"
echo "screenshots in target/browser-artifacts/"

step "all tests passed"
