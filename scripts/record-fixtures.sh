#!/usr/bin/env bash
# Regenerates test/fixtures from a helper stream recorded on this machine's kernel:
#   helper-recorded.jsonl  the real helper and probes on bounded loopback traffic
#                          (test/kernel/record.test.ts, which also checks the stream against the
#                          probe sources' boundaries)
#   helper-stream.jsonl    the recorded stream stretched to 30 snapshots (test/fixtures/stream.ts)
#   panel-state.json       the panel fixture built from the recording (test/webview/fixture.ts)
#   helper-host.jsonl      a short stream with host counters (test/kernel/host-counters.test.ts):
#                          a veth with a dropping tbf qdisc, a full UDP socket and its process,
#                          protocol counters, CPUs, IRQ lines
# and replaces the helper's work directory in the captured helper-6.18-*.jsonl by the same
# placeholder, so no fixture carries a path of the machine it came from.
#
# Needs root (the recording loads BPF programs):  sudo scripts/record-fixtures.sh
# Then run the unit and webview tests: test/unit/contract.test.ts fails when the fixtures and the
# probes' boundaries differ.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "record-fixtures: run as root (the recording loads BPF programs)" >&2
	exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
NSLAT_RECORD_OUT="$out" node --import tsx --test test/kernel/record.test.ts
if [ ! -s "$out" ]; then
	echo "record-fixtures: the recording test wrote nothing (was it skipped? see its output above)" >&2
	exit 1
fi
cp "$out" test/fixtures/helper-recorded.jsonl
: >"$out"
NSLAT_HOST_RECORD_OUT="$out" node --import tsx --test --test-name-pattern='^record' test/kernel/host-counters.test.ts
if [ ! -s "$out" ]; then
	echo "record-fixtures: the host recording wrote nothing (was it skipped? see its output above)" >&2
	exit 1
fi
cp "$out" test/fixtures/helper-host.jsonl
node --import tsx --input-type=module -e '
import { readFileSync, writeFileSync } from "node:fs";
import { WORKDIR, scrubPaths } from "./test/fixtures/recorded.ts";
for (const f of ["helper-6.18-netfilter", "helper-6.18-no-netfilter", "helper-6.18-refused"]) {
  const path = `test/fixtures/${f}.jsonl`;
  const text = readFileSync(path, "utf8");
  const workdir = JSON.parse(text.split("\n")[0]).workdir;
  if (workdir !== WORKDIR) writeFileSync(path, scrubPaths(text, [workdir]));
}
'
node --import tsx test/fixtures/stream.ts --write
node --import tsx test/webview/fixture.ts
echo "record-fixtures: test/fixtures regenerated; run npm run -s test:unit and npm run -s test:webview"
