#!/bin/bash
# Per-hook cost of the nslat probes against empty programs on the same hooks, from kernel bpf_stats
# (run_time_ns / run_cnt), under bounded loopback traffic. Root.
# Usage: bench/hookcost.sh [SECONDS]   (benchmark, not a test; run alone, under flock /tmp/nslat-bpf.lock)
# The empty object is generated for this kernel: a first helper run loads rx, tx and irq, and
# bench/empty-gen.ts writes one empty program per section that attached (the baseline bench/main.ts
# uses), into .cache/bench/. bench/floor.bpf.c (the least a timestamping probe does) is built
# there too: pass EXTRA=.cache/bench/floor.bpf.o to load it.
# BASE=DIR (with rx/tx/irq.bpf.o of another build, e.g. an older version): also load those, on the
# same hooks in the same run, and print their ns/run in the "base" column (before/after figures);
# BASE_FIRST=1 attaches them before the current build's programs. EXTRA="a.bpf.o b.bpf.o": more
# objects to load (slot = file name without .bpf.o), e.g. reference programs for a cost floor.
# SAMPLED=N: also load rx and tx a second time (slots rxs, txs) measuring 1 in N packets
# (measure_every), on the same hooks in the same run; the summary then gives both modes' mean ns
# per hook run against the empty programs (rx and tx measure every packet, as in earlier runs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here"); bpf=$root/bpf
out=$root/.cache/bench
secs=${1:-5}
make -s -C "$bpf" all >&2
mkdir -p "$out"
wd=$(mktemp -d /tmp/nslat-hookcost.XXXXXX); trap 'rm -rf "$wd"' EXIT
cp "$bpf"/build/{rx,tx,irq}.bpf.o "$wd"/

# the sections nslat attaches on this kernel → the empty object
{
	for s in rx tx irq; do
		echo "{\"cmd\":\"load\",\"id\":\"$s\",\"slot\":\"$s\",\"object\":\"$wd/$s.bpf.o\"}"
	done
	echo '{"cmd":"quit","id":"q"}'
} | "$bpf/build/nslat-helper" --workdir "$wd" 2>/dev/null > "$wd/discover"
(cd "$root" && node --import tsx bench/empty-gen.ts --loaded "$wd/discover" --out "$out") >/dev/null
make -s -C "$bpf" probe SRC="$out/empty.bpf.c" OUT="$out/empty.bpf.o" >&2
make -s -C "$bpf" probe SRC="$here/floor.bpf.c" OUT="$out/floor.bpf.o" >&2
cp "$out/empty.bpf.o" "$wd/"

base=${BASE:-}
if [ -n "$base" ]; then for s in rx tx irq; do cp "$base/$s.bpf.o" "$wd/base_$s.bpf.o"; done; fi
for o in ${EXTRA:-}; do cp "$o" "$wd/"; done
load_base() {
	if [ -n "$base" ]; then for s in rx tx irq; do
		echo "{\"cmd\":\"load\",\"id\":\"base_$s\",\"slot\":\"base_$s\",\"object\":\"$wd/base_$s.bpf.o\"}"
	done; fi
}
{
	# Programs on one hook run in attach order, and the first pays the cache misses on the skb:
	# BASE_FIRST=1 attaches the base objects first (run both orders to see the effect).
	[ -n "${BASE_FIRST:-}" ] && load_base
	for s in rx tx irq empty; do
		echo "{\"cmd\":\"load\",\"id\":\"$s\",\"slot\":\"$s\",\"object\":\"$wd/$s.bpf.o\"}"
	done
	[ -z "${BASE_FIRST:-}" ] && load_base
	for o in ${EXTRA:-}; do
		s=$(basename "$o" .bpf.o)
		echo "{\"cmd\":\"load\",\"id\":\"$s\",\"slot\":\"$s\",\"object\":\"$wd/$s.bpf.o\"}"
	done
	if [ -n "${SAMPLED:-}" ]; then for s in rx tx; do
		echo "{\"cmd\":\"load\",\"id\":\"${s}s\",\"slot\":\"${s}s\",\"object\":\"$wd/$s.bpf.o\",\"data\":{\"measure_every\":$SAMPLED}}"
	done; fi
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
empty, base, rows, counters = {}, {}, [], {}
for s in snap['slots']:
    for k, v in (s.get('counters') or {}).items():
        if v:
            counters[f"{s['slot']}.{k}"] = v
    for p in s['progs']:
        if not p['run_cnt']:
            continue
        hook = hook_of.get((s['slot'], p['name']), '?')
        ns = p['run_time_ns'] / p['run_cnt']
        if s['slot'] == 'empty':
            empty[hook] = ns
        elif s['slot'].startswith('base_'):
            base[(s['slot'][5:], p['name'])] = ns
        else:
            rows.append((s['slot'], p['name'], hook, p['run_cnt'], ns))
has_base = bool(base)
print(f"{'slot':5} {'program':32} {'hook':26} {'runs':>8} {'ns/run':>8} {'empty':>7} {'ratio':>6}" + (f" {'base':>8} {'b/empty':>7}" if has_base else ''))
for slot, name, hook, n, ns in rows:
    e = empty.get(hook)
    line = f"{slot:5} {name:32} {hook:26} {n:8d} {ns:8.1f} {e or 0:7.1f} {ns / e if e else 0:6.2f}"
    if has_base:
        b = base.get((slot, name))
        line += f" {b or 0:8.1f} {b / e if b and e else 0:7.2f}"
    print(line)
print('counters: ' + ' '.join(f'{k}={v}' for k, v in sorted(counters.items())))
# Mean ns per hook run of each group of objects against the empty program on the same hooks,
# weighted by runs (the programs of one object on one hook each count).
groups = {'every packet (rx, tx)': ('rx', 'tx'), 'sampled (rxs, txs)': ('rxs', 'txs'), 'irq': ('irq',)}
for label, slots in groups.items():
    sel = [(n, ns, empty.get(hook)) for slot, name, hook, n, ns in rows if slot in slots and empty.get(hook)]
    if not sel:
        continue
    runs = sum(n for n, _, _ in sel)
    mine = sum(n * ns for n, ns, _ in sel) / runs
    floor = sum(n * e for n, _, e in sel) / runs
    print(f"mean {label}: {mine:.1f} ns per hook run, empty on the same hooks {floor:.1f} ns: {mine / floor:.2f}x ({runs} runs)")
PY
