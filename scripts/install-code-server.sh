#!/usr/bin/env bash
# Idempotent, offline-friendly install of code-server (a real VS Code build: server + web workbench)
# for the end-to-end tests, into an ignored cache folder (.cache/code-server/). See E2E-NOTES:
#  - code-server 4.100.x is the last line that runs on Node 20;
#  - its native modules are built from source against the local Node headers (no prebuilt downloads);
#  - @vscode/ripgrep's postinstall would download rg from GitHub: we hand it Debian's rg as a
#    "cached download" instead.
# Prints the path of the code-server launcher on success. Safe to run again: a finished install is
# detected by a stamp file and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${NSLAT_CODE_SERVER_VERSION:-4.100.3}"
DIR="${NSLAT_CODE_SERVER_DIR:-$PWD/.cache/code-server}"
STAMP="$DIR/.installed-$VERSION"
BIN="$DIR/node_modules/code-server/out/node/entry.js"

if [ -f "$STAMP" ] && [ -f "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

log() { echo "install-code-server: $*" >&2; }

# System packages: compilers and headers for the native modules, ripgrep, the browser that drives it.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
pkgs=(build-essential python3 pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev ripgrep chromium fonts-liberation)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || { log "missing packages (${missing[*]}) and no apt-get: install them with your package manager"; exit 1; }
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then log "Node $node_major is too old: code-server $VERSION needs Node 20"; exit 1; fi
if [ ! -f /usr/include/node/node.h ] && [ ! -f "$(dirname "$(dirname "$(command -v node)")")/include/node/node.h" ]; then
  log "warning: no Node headers found under /usr/include/node; native module builds may try to download them"
fi
NODEDIR=/usr
[ -f /usr/include/node/node.h ] || NODEDIR="$(dirname "$(dirname "$(command -v node)")")"

mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{ "name": "nslat-code-server-cache", "private": true }' > package.json

log "npm install code-server@$VERSION (scripts deferred)"
npm install --ignore-scripts --save-exact --no-audit --no-fund --loglevel=error "code-server@$VERSION"

# Give @vscode/ripgrep its "cached download": Debian's rg in the tarball it would fetch. The module
# is installed by code-server's own postinstall (into lib/vscode), so its version comes from the
# shrinkwrap, before it exists.
tmp="$DIR/tmp"
mkdir -p "$tmp"
rg_versions="$(node -e '
  const fs = require("fs"); const out = new Set();
  for (const f of ["node_modules/code-server/lib/vscode/npm-shrinkwrap.json", "node_modules/code-server/lib/vscode/package-lock.json",
                   "node_modules/code-server/npm-shrinkwrap.json", "node_modules/code-server/package-lock.json"]) {
    try { const j = JSON.parse(fs.readFileSync(f, "utf8"));
      for (const [k, v] of Object.entries(j.packages || {})) if (k.endsWith("node_modules/@vscode/ripgrep") && v.version) out.add(v.version);
    } catch {}
  }
  console.log([...out].join(" "));')"
[ -n "$rg_versions" ] || { log "cannot tell which @vscode/ripgrep code-server $VERSION uses"; exit 1; }
case "$(uname -m)" in x86_64) rg_target=x86_64-unknown-linux-musl ;; aarch64) rg_target=aarch64-unknown-linux-musl ;; *) rg_target="$(uname -m)-unknown-linux-gnu" ;; esac
for rgv in $rg_versions; do
  cache="$tmp/vscode-ripgrep-cache-$rgv"
  mkdir -p "$cache"
  tarball="$cache/ripgrep-v13.0.0-10-$rg_target.tar.gz"
  if [ ! -s "$tarball" ]; then
    stage="$(mktemp -d)"
    cp "$(command -v rg)" "$stage/rg"
    tar -C "$stage" -czf "$tarball" rg
    rm -rf "$stage"
  fi
done

log "building native modules from source (takes a couple of minutes)"
TMPDIR="$tmp" \
npm_config_unsafe_perm=true \
npm_config_build_from_source=true \
npm_config_nodedir="$NODEDIR" \
npm_config_yes=true \
  npm rebuild --foreground-scripts --loglevel=error >"$DIR/rebuild.log" 2>&1 || {
    log "npm rebuild failed; last lines of $DIR/rebuild.log:"; tail -n 40 "$DIR/rebuild.log" >&2; exit 1; }

[ -f "$BIN" ] || { log "code-server entry point $BIN missing after install"; exit 1; }
# A smoke check: the server starts far enough to print its version.
node "$BIN" --version >/dev/null 2>&1 || { log "code-server does not start: node $BIN --version failed"; exit 1; }
rm -f "$DIR"/.installed-*
touch "$STAMP"
log "code-server $VERSION ready"
echo "$BIN"
