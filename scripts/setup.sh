#!/usr/bin/env bash
# Idempotent set-up of a Debian/Ubuntu machine for nslat: system packages, tracefs, npm packages,
# the BPF side (vmlinux.h, probes, helper) and the TypeScript bundles. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: not root and no sudo: run as root, or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi

mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/apt-packages.txt)
# Foreign-architecture libraries (pkg:arm64) for the cross-built aarch64 helper: only on x86_64,
# where dpkg must know the architecture before apt can find them.
if [ "$(uname -m)" = x86_64 ] && command -v dpkg >/dev/null; then
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
else
  mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | grep -v -e ':arm64$' -e 'aarch64' -e 'arm64-cross')
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || { echo "setup: missing packages (${missing[*]}) and no apt-get: install them with your package manager" >&2; exit 1; }
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d /sys/kernel/tracing/events ]; then
  $SUDO mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || echo "setup: warning: could not mount tracefs at /sys/kernel/tracing" >&2
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

make -s -C bpf
npm run -s build
