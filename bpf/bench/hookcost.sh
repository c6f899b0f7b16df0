#!/bin/bash
# Per-hook cost of the nslat probes against empty tp_btf programs on the same
# hooks, from kernel bpf_stats (run_time_ns / run_cnt), under bounded loopback
# traffic. Root. Usage: bpf/bench/hookcost.sh [SECONDS]   (benchmark, not a test)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); bpf=$(dirname "$here")
secs=${1:-5}
make -s -C "$bpf" all bench >&2
wd=$(mktemp -d /tmp/nslat-hookcost.XXXXXX); trap 'rm -rf "$wd"' EXIT
cp "$bpf"/build/{rx,tx,irq,empty}.bpf.o "$wd"/
{
	for s in rx tx irq empty; do
		echo "{\"cmd\":\"load\",\"id\":\"$s\",\"slot\":\"$s\",\"object\":\"$wd/$s.bpf.o\"}"
	done
	echo '{"cmd":"set","id":"i","interval_ms":0}'
	sleep 0.5; echo '{"cmd":"snapshot","id":"warm"}'
	python3 "$here/lo-traffic.py" "$secs" >&2
	echo '{"cmd":"snapshot","id":"measure"}'; sleep 0.2
	echo '{"cmd":"quit","id":"q"}'
} | "$bpf/build/nslat-helper" --workdir "$wd" --bpf-stats 2>/dev/null > "$wd/out"
python3 - "$wd/out" <<'PY'
import json, sys
hook_of = {}
snap = None
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m['type'] == 'loaded':
        for p in m['programs']:
            if p['status'] == 'attached':
                hook_of[(m['slot'], p['name'])] = p['section'].split('/')[-1]
    if m['type'] == 'snapshot' and m.get('id') == 'measure':
        snap = m
empty, rows = {}, []
for s in snap['slots']:
    for p in s['progs']:
        if not p['run_cnt']:
            continue
        hook = hook_of.get((s['slot'], p['name']), '?')
        ns = p['run_time_ns'] / p['run_cnt']
        if s['slot'] == 'empty':
            empty[hook] = ns
        else:
            rows.append((s['slot'], p['name'], hook, p['run_cnt'], ns))
print(f"{'slot':5} {'program':32} {'hook':26} {'runs':>8} {'ns/run':>8} {'empty':>7} {'ratio':>6}")
for slot, name, hook, n, ns in rows:
    e = empty.get(hook)
    print(f"{slot:5} {name:32} {hook:26} {n:8d} {ns:8.1f} {e or 0:7.1f} {ns / e if e else 0:6.2f}")
PY
