#!/usr/bin/env bash
# The demo: set up, then trace this host for a few seconds under the built-in loopback load and
# print the per-layer and IRQ tables.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/cli.mjs trace --duration "${NSLAT_DEMO_SECONDS:-5}" --load loopback "$@"
