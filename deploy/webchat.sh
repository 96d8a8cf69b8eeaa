#!/usr/bin/env bash
# Installs Converse.js from the npm registry for Rhein to serve at /webchat/ (Rhein never
# fetches it at run time, and it is not part of the repository).
#
#   bash deploy/webchat.sh [DIR]        (default: /var/lib/rhein/webchat; needs node and npm)
#
# then add to rhein.toml what it prints:
#   [web]
#   webchat_dir = "DIR/node_modules/converse.js"
set -euo pipefail
version=14.0.0
dir=${1:-/var/lib/rhein/webchat}
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "converse.js@$version" >/dev/null
test -f "$dir/node_modules/converse.js/dist/converse.min.js"
echo "Converse.js $version installed. In rhein.toml:"
echo "[web]"
echo "webchat_dir = \"$dir/node_modules/converse.js\""
