#!/usr/bin/env bash
# Builds Rhein's Debian package, target/debian/rhein_VERSION-1_ARCH.deb, with dpkg-deb from a
# staged tree: no debhelper, no cargo-deb (which would take minutes to build itself). The
# package's metadata is in this directory: control, maintainer scripts, copyright, the
# packaged configuration (rhein.toml) and the man page; the unit is deploy/rhein.service.
#
#   bash deploy/debian/build.sh                   # release build, the package to install
#   bash deploy/debian/build.sh --binary PATH     # package a binary already built
#   --out DIR: where the .deb goes; --fast: lighter compression (xz -1: a bigger file, a
#   fourth of the time)
#
# tests/package.sh packages the debug binary the tests built (a release build takes longer
# than the whole test budget allows): what it checks is the package's layout and scripts.
# Needs dpkg-dev (dpkg-shlibdeps) and binutils (strip). Maintainer: DEBFULLNAME and DEBEMAIL.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

binary=""
out="$root/target/debian"
level=6
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --fast) level=1; shift ;;
        *) echo "usage: $0 [--binary PATH] [--out DIR] [--fast]" >&2; exit 2 ;;
    esac
done
for tool in dpkg-deb dpkg-shlibdeps strip; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done
if [ -z "$binary" ]; then
    (cd "$root" && cargo build --release -p rhein --locked)
    binary="$root/target/release/rhein"
fi

version="$("$binary" --version | awk '{print $2}')-1"
arch=$(dpkg --print-architecture)
maintainer="${DEBFULLNAME:-Rhein developers} <${DEBEMAIL:-rhein@example.org}>"
# The last commit's time, so that the same commit gives the same changelog and file dates.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$epoch

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/rhein"

# Files: directories 0755, files 0644, programs 0755, all root's (--root-owner-group).
umask 022
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/rhein" \
    "$stage/usr/share/doc/rhein/examples" "$stage/usr/share/man/man1" "$stage/usr/share/lintian/overrides"
install -m 0755 "$binary" "$stage/usr/bin/rhein"
strip --remove-section=.comment --remove-section=.note "$stage/usr/bin/rhein"
install -m 0644 "$root/deploy/rhein.service" "$stage/lib/systemd/system/rhein.service"
install -m 0644 "$here/rhein.toml" "$stage/etc/rhein/rhein.toml"
install -m 0644 "$root/deploy/rhein.toml" "$stage/usr/share/doc/rhein/examples/rhein.toml"
install -m 0644 "$here/copyright" "$here/README.Debian" "$stage/usr/share/doc/rhein/"
install -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/rhein"
fill() {
    sed -e "s|@VERSION@|$version|g" -e "s|@ARCH@|$arch|g" -e "s|@MAINTAINER@|$maintainer|g" \
        -e "s|@DATE@|$(date -R -u -d "@$epoch")|g" "$@"
}
fill "$here/changelog" | gzip -9n >"$stage/usr/share/doc/rhein/changelog.Debian.gz"
gzip -9n <"$here/rhein.1" >"$stage/usr/share/man/man1/rhein.1.gz"

# Control: the libraries the binary links (dpkg-shlibdeps wants a debian/control to run in).
mkdir -p "$work/src/debian"
printf 'Source: rhein\n\nPackage: rhein\nArchitecture: any\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O "$stage/usr/bin/rhein" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "$0: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
fill "$here/control" | sed -e "s|@DEPENDS@|$depends|" -e "s|@SIZE@|$size|" >"$stage/DEBIAN/control"
echo /etc/rhein/rhein.toml >"$stage/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$stage/DEBIAN/"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"
find "$stage" -exec touch --no-dereference -d "@$epoch" {} +

mkdir -p "$out"
deb="$out/rhein_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz -z"$level" --build "$stage" "$deb" >/dev/null
echo "$deb"
