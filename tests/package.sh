#!/usr/bin/env bash
# The Debian package and the systemd unit: builds the package from a rhein binary (the debug
# one the tests built: a release build would take longer than the whole suite may; the layout,
# metadata and scripts are what is checked, and they do not depend on the profile), then checks
#   - its control data and file list (dpkg-deb -I, -c): owners, modes, conffile;
#   - the unit, with systemd-analyze verify;
#   - the maintainer scripts: sh -n, then run against stub commands that record what they would
#     do (never the real adduser, chown or rm): the user and data directory on configure, the
#     service never enabled nor started, the data deleted on purge only;
#   - that the packaged configuration starts the packaged binary (data directory and ports
#     moved to a temporary directory), GET /health answers 200 and SIGHUP does not stop it;
#   - as root: dpkg -i, the service's command as rhein, dpkg -r, dpkg -P in an overlay of /;
#   - lintian: no errors.
# Installs lintian (and dpkg-dev with it) and systemd-analyze with apt-get when missing.
#
#   bash tests/package.sh [RHEIN_BINARY]      # default: target/debug/rhein, built if missing
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
fail() { echo "package test: $*" >&2; exit 1; }

missing=()
command -v lintian >/dev/null || missing+=(lintian)
command -v dpkg-shlibdeps >/dev/null || missing+=(dpkg-dev)
command -v systemd-analyze >/dev/null || missing+=(systemd)
[ -x /bin/kill ] || missing+=(procps)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

binary=${1:-$root/target/debug/rhein}
[ -x "$binary" ] || cargo build -p rhein --locked
[ -x "$binary" ] || fail "no rhein binary at $binary"
work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

started=$(date +%s)
deb=$(bash deploy/debian/build.sh --binary "$binary" --out "$work/out" --fast)
echo "built $(basename "$deb") in $(($(date +%s) - started)) s"

# Control data.
info=$(dpkg-deb -I "$deb")
for field in "Package: rhein" "Architecture: $(dpkg --print-architecture)" "Section: net" "Depends: libc6"; do
    grep -q "^ $field" <<<"$info" || fail "control lacks \"$field\""
done
grep -q "^ Depends:.*adduser" <<<"$info" || fail "Depends lacks adduser (postinst runs it)"

# Files: every one root's; modes as Debian wants them.
listing=$(dpkg-deb -c "$deb")
expect() { # MODE PATH
    grep -qE "^$1 root/root +[0-9]+ [0-9-]+ [0-9:]+ \./$2\$" <<<"$listing" || fail "no $1 ./$2 in the package"
}
expect -rwxr-xr-x usr/bin/rhein
expect -rw-r--r-- lib/systemd/system/rhein.service
expect -rw-r--r-- etc/rhein/rhein.toml
expect -rw-r--r-- usr/share/doc/rhein/copyright
expect -rw-r--r-- usr/share/doc/rhein/changelog.Debian.gz
expect -rw-r--r-- usr/share/doc/rhein/examples/rhein.toml
expect -rw-r--r-- usr/share/man/man1/rhein.1.gz
if grep -v " root/root " <<<"$listing" | grep -q .; then fail "files not owned by root"; fi

# Extracted: the files and control scripts themselves.
tree="$work/root"
dpkg-deb -x "$deb" "$tree"
dpkg-deb -e "$deb" "$tree/DEBIAN"
[ "$(cat "$tree/DEBIAN/conffiles")" = /etc/rhein/rhein.toml ] || fail "the configuration is not the one conffile"
cmp -s "$tree/lib/systemd/system/rhein.service" deploy/rhein.service || fail "the unit is not deploy/rhein.service"
"$tree/usr/bin/rhein" --version | grep -q '^rhein ' || fail "the packaged binary does not run"
(cd "$tree" && md5sum --quiet -c DEBIAN/md5sums) || fail "md5sums do not match"
grep -q '^ExecStart=/usr/bin/rhein serve --config /etc/rhein/rhein.toml$' "$tree/lib/systemd/system/rhein.service" ||
    fail "the unit does not run the packaged configuration"

# The unit. systemd-analyze verify checks that commands exist: the packaged binary is put where
# the unit names it only in this copy, and its man page is found through MANPATH.
mkdir "$work/unit"
sed "s|/usr/bin/rhein|$tree/usr/bin/rhein|" "$tree/lib/systemd/system/rhein.service" >"$work/unit/rhein.service"
MANPATH="$tree/usr/share/man" systemd-analyze verify "$work/unit/rhein.service" || fail "systemd-analyze verify"

# Maintainer scripts: syntax, then run with only stubs on PATH (shell builtins aside), each stub
# logging its command line. getent finds no rhein user; no path has a statoverride.
for script in postinst prerm postrm; do
    sh -n "$tree/DEBIAN/$script" || fail "$script: syntax"
    [ -x "$tree/DEBIAN/$script" ] || fail "$script is not executable"
done
stubs="$work/stubs"
mkdir "$stubs"
for cmd in adduser getent dpkg-statoverride mkdir chown chmod rm deb-systemd-helper deb-systemd-invoke systemctl; do
    status=0
    case $cmd in getent) status=2 ;; dpkg-statoverride) status=1 ;; esac
    printf '#!/bin/sh\necho "%s $*" >>"$STUB_LOG"\nexit %s\n' "$cmd" "$status" >"$stubs/$cmd"
    chmod +x "$stubs/$cmd"
done
run_script() { # LOG SCRIPT ARGS...
    local log=$1 script=$2
    shift 2
    : >"$log"
    env -i PATH="$stubs" STUB_LOG="$log" /bin/sh "$tree/DEBIAN/$script" "$@" || fail "$script $* failed"
}
run_script "$work/install.log" postinst configure
grep -q '^adduser .*--system --group --home /var/lib/rhein .*rhein$' "$work/install.log" ||
    fail "postinst does not create the rhein system user"
grep -q '^chown rhein:rhein /var/lib/rhein$' "$work/install.log" || fail "postinst does not give rhein its data directory"
grep -q '^chmod 0750 /var/lib/rhein$' "$work/install.log" || fail "postinst leaves the data directory open"
grep -q '^chown root:rhein /etc/rhein/rhein.toml$' "$work/install.log" || fail "postinst leaves the configuration to root alone"
grep -q '^deb-systemd-helper update-state rhein.service$' "$work/install.log" || fail "postinst does not register the unit"
run_script "$work/upgrade.log" postinst configure 0.0.1-1
run_script "$work/remove.log" prerm remove
run_script "$work/remove-post.log" postrm remove
run_script "$work/purge.log" postrm purge
if grep -E '(^| )(enable|start|restart)( |$)' "$work/install.log"; then fail "a first install enables or starts the service"; fi
if grep -E '(^| )(enable|start|restart)( |$)' "$work/upgrade.log"; then fail "an upgrade enables or starts the service"; fi
if grep -q '^rm ' "$work/remove-post.log"; then fail "removing (not purging) deletes files"; fi
grep -q '^rm -rf /var/lib/rhein$' "$work/purge.log" || fail "purge keeps the data"
grep -q '^deb-systemd-helper purge rhein.service$' "$work/purge.log" || fail "purge does not forget the unit"

# The packaged configuration starts the packaged binary (its paths and ports moved here).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http=$(free_port)
sed -e "s|\"/var/lib/rhein\"|\"$work/data\"|" \
    -e "s|0.0.0.0:5222|127.0.0.1:$(free_port)|" -e "s|0.0.0.0:5223|127.0.0.1:$(free_port)|" \
    -e "s|127.0.0.1:5280|127.0.0.1:$http|" -e "s|0.0.0.0:5281|127.0.0.1:$(free_port)|" \
    "$tree/etc/rhein/rhein.toml" >"$work/rhein.toml"
if grep -v '^#' "$work/rhein.toml" | grep -qE '0\.0\.0\.0|:52[0-9][0-9]"'; then fail "a listener of the packaged configuration was not moved"; fi
"$tree/usr/bin/rhein" serve --config "$work/rhein.toml" >"$work/serve.log" 2>&1 &
server_pid=$!
health=""
for _ in $(seq 100); do
    health=$(python3 - "$http" <<'EOF' || true
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2) as r:
        print(r.status, r.read().decode().strip())
except Exception:
    pass
EOF
    )
    [ "$health" = "200 ok" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; fail "the packaged configuration does not start"; }
    sleep 0.1
done
[ "$health" = "200 ok" ] || { cat "$work/serve.log" >&2; fail "/health did not answer 200 (got: $health)"; }
kill -HUP "$server_pid"
sleep 0.2
kill -0 "$server_pid" 2>/dev/null || fail "SIGHUP (systemctl reload) stopped the server"
kill "$server_pid"
wait "$server_pid" || fail "the server did not stop cleanly on SIGTERM"
server_pid=""

# Installed for real, in a throwaway copy of this system: an overlay of / in a private mount and
# network namespace, chrooted into. dpkg -i, the server run as rhein from the packaged
# configuration, dpkg -r, dpkg -P; the system itself is not touched. Needs root and overlayfs:
# elsewhere the step says so and is skipped (CI runs as root).
overlay_lifecycle() {
    local o="$work/overlay"
    mkdir -p "$o/upper" "$o/work" "$o/merged"
    cat >"$o/inside.sh" <<'INSIDE'
set -eu
check() { if ! eval "$1"; then echo "in the installed system: $2" >&2; exit 1; fi; }
dpkg -i /tmp/rhein.deb >/dev/null
check 'getent passwd rhein | grep -q ":/var/lib/rhein:"' "no rhein system user with its home"
check '[ "$(stat -c "%a %U:%G" /var/lib/rhein)" = "750 rhein:rhein" ]' "the data directory is not rhein's, 0750"
check '[ "$(stat -c "%a %U:%G" /etc/rhein/rhein.toml)" = "640 root:rhein" ]' "the configuration is not root:rhein 0640"
ip link set lo up 2>/dev/null || true
runuser -u rhein -- rhein serve --config /etc/rhein/rhein.toml >/tmp/serve.log 2>&1 &
pid=$!
ok=""
for _ in $(seq 100); do
    ok=$(python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:5280/health", timeout=2).status)' 2>/dev/null) && break
    sleep 0.1
done
check '[ "$ok" = 200 ]' "the service's configuration does not serve /health (log: $(cat /tmp/serve.log))"
check 'rhein ctl status --config /etc/rhein/rhein.toml | grep -q "^hosts *localhost"' "rhein ctl does not reach the server as root"
# runuser passes SIGTERM on to the server, then ends by it itself.
kill "$pid"; wait "$pid" 2>/dev/null || true
dpkg -i /tmp/rhein.deb >/dev/null
dpkg -r rhein >/dev/null
check '[ -f /var/lib/rhein/rhein.db ]' "removing the package deleted the data"
dpkg -P rhein >/dev/null
check '[ ! -e /var/lib/rhein ]' "purging the package kept the data"
check '[ ! -e /usr/bin/rhein ] && [ ! -e /etc/rhein ]' "purging left the package's files"
INSIDE
    cp "$deb" "$o/rhein.deb"
    unshare --mount --net --fork sh -c '
        set -e
        o=$1
        [ -n "$o" ] && [ -d "$o/merged" ]
        mount -t overlay overlay -o "lowerdir=/,upperdir=$o/upper,workdir=$o/work" "$o/merged"
        mount --bind /proc "$o/merged/proc"
        mount --bind /dev "$o/merged/dev"
        mount -t tmpfs tmpfs "$o/merged/tmp"
        cp "$o/rhein.deb" "$o/inside.sh" "$o/merged/tmp/"
        chroot "$o/merged" sh /tmp/inside.sh' sh "$o"
}
probe="$work/probe"
if [ "$(id -u)" = 0 ] && mkdir -p "$probe/l" "$probe/u" "$probe/w" "$probe/m" &&
    unshare --mount sh -c "mount -t overlay overlay -o lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w $probe/m" 2>/dev/null; then
    overlay_lifecycle || fail "install, serve, remove and purge in an overlay of the system"
    echo "installed, served, removed and purged in an overlay of this system"
else
    echo "not root or no overlayfs: the install/remove/purge run in an overlay of the system is skipped"
fi

# lintian: errors fail (warnings and notes are shown). As root it warns that it runs as root.
status=0
report=$(lintian --fail-on error "$deb" 2>&1) || status=$?
grep -v 'running with root privileges' <<<"$report" || true
[ "$status" = 0 ] || fail "lintian reports errors"

echo "package test passed in $(($(date +%s) - started)) s"
