#!/bin/bash
# nslat benchmarks: `npm run bench [-- --quick] [-- --only probe,e2e,reload,panel]`.
# Run on purpose, as root; bounded in time (about 10 minutes on 2 cores). Not part of the tests.
# Builds bpf/ first, then runs bench/main.ts, which prints the results table and writes
# bench/results/<date>-<host>.md and .json. `npm run bench -- --help` prints the options (no root).
set -euo pipefail
cd "$(dirname "$0")/.."
case " $* " in *" --help "*|*" -h "*) exec node --import tsx bench/main.ts --help ;; esac
if [ "$(id -u)" != 0 ]; then echo "npm run bench needs root (BPF programs, bpf_stats, a test sshd)" >&2; exit 1; fi
for t in sockperf iperf3 bpftrace bpftool clang; do
	command -v "$t" >/dev/null || { echo "bench: '$t' not found (apt-get install $t; see scripts/apt-packages.txt)" >&2; exit 1; }
done
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
make -s -C bpf all >&2
exec timeout --signal=TERM --kill-after=30 1080 node --import tsx bench/main.ts "$@"
