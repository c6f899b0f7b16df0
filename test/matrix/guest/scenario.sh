#!/bin/sh
# The kernel matrix scenario: one run of the nslat helper with the rx, tx and irq objects under
# real traffic, the same in a qemu guest (busybox sh, two virtio NICs on a qemu hub) and on the host
# (a veth pair between two network namespaces the test created). POSIX sh: busybox ash and dash.
#
# Everything it learns goes to files in $NSLAT_OUT, read by test/matrix (in a guest, /init dumps
# them on the second serial port when this script returns):
#   helper.out / helper.err    the first helper's stdout (protocol lines, `verified` replies of
#                              every alternative included) and stderr
#   helper2.out / helper2.err  the second helper's, the one that is SIGKILLed
#   events.jsonl               this script's own JSON lines: phases, NIC, qdisc, flows (nslat-guest),
#                              waits that timed out, helper exits, leak checks
#
# Environment:
#   NSLAT_MODE      guest | host: which NIC path and which delay qdisc
#   NSLAT_HELPER    the helper binary;   NSLAT_TOOL   the nslat-guest binary
#   NSLAT_OBJECTS   directory with rx.bpf.o, tx.bpf.o, irq.bpf.o
#   NSLAT_WORK      an empty directory for the helpers' work dirs and FIFOs
#   NSLAT_OUT       an empty directory for the results
#   NSLAT_PORT      the server port of every flow (rx and tx are filtered to it)
#   NSLAT_PEER_NS   name of the network namespace to create for the client side
#   NSLAT_MAC_SERVER, NSLAT_MAC_PEER  (guest) MACs of the two virtio NICs
#   NSLAT_IP, NSLAT_TC  iproute2's ip and tc (default: from PATH). Given as paths in a guest, whose
#                   busybox shell would otherwise run its own applets (no netns, no netem).
#
# Every wait is bounded, every flow is bounded by nslat-guest (count and timeout).
set -u

MODE="$NSLAT_MODE"
HELPER="$NSLAT_HELPER"
TOOL="$NSLAT_TOOL"
OUT="$NSLAT_OUT"
WORK="$NSLAT_WORK"
PORT="$NSLAT_PORT"
PEER="$NSLAT_PEER_NS"
EV="$OUT/events.jsonl"
IP="${NSLAT_IP:-ip}"
TC="${NSLAT_TC:-tc}"

# Addresses exist only inside the guest, or only inside the test's namespaces on the host.
SRV4=10.77.0.1
PEER4=10.77.0.2
SRV6=fd00:77::1
PEER6=fd00:77::2

: >"$EV"
ev() { printf '%s\n' "$1" >>"$EV"; }
now() { "$TOOL" now; }
phase() { ev "{\"event\":\"phase\",\"name\":\"$1\",\"t_ms\":$(now)}"; }
log() { echo "scenario: $*" >>"$OUT/scenario.log"; }

# 0 while the process runs (a zombie counts as exited).
alive() {
	st="$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)"
	[ -n "$st" ] && [ "$st" != Z ]
}

# wait_reply FILE ID TIMEOUT_MS PID: until a line of FILE carries "id":"ID" (0), the helper exits or
# the time is up (1, with an event saying which).
wait_reply() {
	n=$(($3 / 50))
	while [ "$n" -gt 0 ]; do
		grep -qE "\"id\": ?\"$2\"" "$1" 2>/dev/null && return 0
		if ! alive "$4"; then
			grep -qE "\"id\": ?\"$2\"" "$1" 2>/dev/null && return 0
			ev "{\"event\":\"wait\",\"what\":\"$2\",\"ok\":false,\"why\":\"helper exited\"}"
			return 1
		fi
		sleep 0.05
		n=$((n - 1))
	done
	ev "{\"event\":\"wait\",\"what\":\"$2\",\"ok\":false,\"why\":\"timed out after $3 ms\"}"
	return 1
}

# wait_exit PID TIMEOUT_MS: until the process has exited (0) or the time is up (1).
wait_exit() {
	n=$(($2 / 50))
	while [ "$n" -gt 0 ]; do
		alive "$1" || return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

H1=""
H2=""
cleanup() {
	for p in $H1 $H2; do alive "$p" && kill -9 "$p" 2>/dev/null; done
	exec 4>&- 5>&- 2>/dev/null
	"$IP" netns del "$PEER" 2>/dev/null
}
trap 'rc=$?; cleanup; exit $rc' EXIT
trap 'exit 2' INT TERM HUP

# ------------------------------------------------------------------ network
phase setup
"$IP" link set lo up
"$IP" netns add "$PEER" || { ev '{"event":"error","what":"ip netns add failed"}'; exit 1; }
"$IP" -n "$PEER" link set lo up
if [ "$MODE" = guest ]; then
	SDEV=""
	PDEV=""
	for d in /sys/class/net/*; do
		case "$(cat "$d/address" 2>/dev/null)" in
		"$NSLAT_MAC_SERVER") SDEV="${d##*/}" ;;
		"$NSLAT_MAC_PEER") PDEV="${d##*/}" ;;
		esac
	done
	if [ -z "$SDEV" ] || [ -z "$PDEV" ]; then
		ev "{\"event\":\"error\",\"what\":\"virtio NICs not found (server '$SDEV', peer '$PDEV')\"}"
		exit 1
	fi
	SBUS="$(basename "$(readlink "/sys/class/net/$SDEV/device")")"
	PBUS="$(basename "$(readlink "/sys/class/net/$PDEV/device")")"
	"$IP" link set "$PDEV" netns "$PEER"
	KIND=virtio
else
	SDEV=nsm0
	PDEV=nsm1
	SBUS=""
	PBUS=""
	"$IP" link add "$SDEV" type veth peer name "$PDEV" netns "$PEER" || { ev '{"event":"error","what":"veth pair failed"}'; exit 1; }
	KIND=veth
fi
"$IP" addr add "$SRV4/24" dev "$SDEV"
"$IP" -6 addr add "$SRV6/64" dev "$SDEV" nodad
"$IP" link set "$SDEV" up
"$IP" -n "$PEER" addr add "$PEER4/24" dev "$PDEV"
"$IP" -n "$PEER" -6 addr add "$PEER6/64" dev "$PDEV" nodad
"$IP" -n "$PEER" link set "$PDEV" up
SIFX="$("$IP" -o link show dev "$SDEV" | cut -d: -f1)"
ev "{\"event\":\"nic\",\"kind\":\"$KIND\",\"server_dev\":\"$SDEV\",\"server_ifindex\":$SIFX,\"peer_dev\":\"$PDEV\",\"server_bus\":\"$SBUS\",\"peer_bus\":\"$PBUS\"}"
# Neighbour entries and carrier: a few datagrams each way before anything is measured.
"$TOOL" flow --name warmup4 --proto udp --family 4 --addr "$SRV4" --port "$PORT" --count 3 --size 32 --interval-ms 20 \
	--client-netns "/run/netns/$PEER" --idle-ms 300 --timeout-s 5 >>"$EV"
"$TOOL" flow --name warmup6 --proto udp --family 6 --addr "$SRV6" --port "$PORT" --count 3 --size 32 --interval-ms 20 \
	--client-netns "/run/netns/$PEER" --idle-ms 300 --timeout-s 5 >>"$EV"

# ------------------------------------------------------------------ helper
PEER_INO="$(stat -L -c %i "/run/netns/$PEER" 2>/dev/null)"
RX_NETNS=""
[ -n "$PEER_INO" ] && RX_NETNS=",\"netns\":[$PEER_INO]"
# start_helper N: work dir with copies of the objects (the helper refuses paths outside it, and
# resolves links), a FIFO for its stdin opened read-write here (so neither side blocks on open),
# outputs in helper$N.out / .err. Sets HPID.
start_helper() {
	w="$WORK/h$1"
	mkdir -p "$w"
	for o in rx tx irq; do cp "$NSLAT_OBJECTS/$o.bpf.o" "$w/$o.bpf.o"; done
	rm -f "$WORK/cmd$1"
	mkfifo "$WORK/cmd$1"
	sfx="$1"
	[ "$1" = 1 ] && sfx=""
	if [ "$1" = 1 ]; then exec 4<>"$WORK/cmd1"; else exec 5<>"$WORK/cmd2"; fi
	"$HELPER" --workdir "$w" --interval-ms 0 <"$WORK/cmd$1" >"$OUT/helper$sfx.out" 2>"$OUT/helper$sfx.err" 4>&- 5>&- &
	HPID=$!
}
send() {
	if [ "$1" = 1 ]; then printf '%s\n' "$2" >&4; else printf '%s\n' "$2" >&5; fi
}
# load_all N OUTFILE PID: rx and tx filtered to the server port, irq unfiltered; each reply awaited.
# rx also hooks netfilter in the peer's namespace (the helper's own is hooked anyway), so the IP
# layer is seen on both ends of the NIC path where netfilter feeds it.
# Each load carries the filter of every direction with if_declared, as the core sends it: the helper
# writes the object's own and lists what it does not declare in `unset`.
load_all() {
	w="$WORK/h$1"
	ro="\"rodata_by_dir\":{\"rx\":{\"filter_port\":$PORT,\"check_kernel_stamps\":1},\"tx\":{\"filter_port\":$PORT}},\"if_declared\":true"
	send "$1" "{\"cmd\":\"load\",\"id\":\"load:rx\",\"slot\":\"rx\",\"object\":\"$w/rx.bpf.o\",$ro$RX_NETNS}"
	wait_reply "$2" "load:rx" 40000 "$3"
	send "$1" "{\"cmd\":\"load\",\"id\":\"load:tx\",\"slot\":\"tx\",\"object\":\"$w/tx.bpf.o\",$ro}"
	wait_reply "$2" "load:tx" 40000 "$3"
	send "$1" "{\"cmd\":\"load\",\"id\":\"load:irq\",\"slot\":\"irq\",\"object\":\"$w/irq.bpf.o\",$ro}"
	wait_reply "$2" "load:irq" 40000 "$3"
}

phase helper
start_helper 1
H1=$HPID
n=0
until grep -qE '"type": ?"hello"' "$OUT/helper.out" 2>/dev/null || [ $n -ge 400 ] || ! alive "$H1"; do sleep 0.05; n=$((n + 1)); done
phase load
load_all 1 "$OUT/helper.out" "$H1"
# Journeys of packets slower than 50 ms end to end: outliers show where they waited.
send 1 '{"cmd":"set","id":"set:slow","data":{"slow_ns":50000000}}'
phase loaded

# ------------------------------------------------------------------ traffic windows
# window NAME FLOW-ARGS...: snapshot begin:NAME, the flow, 300 ms for the last segments, ACKs and
# completions, snapshot end:NAME.
window() {
	name="$1"
	shift
	send 1 "{\"cmd\":\"snapshot\",\"id\":\"begin:$name\"}"
	wait_reply "$OUT/helper.out" "begin:$name" 20000 "$H1"
	"$TOOL" flow --name "$name" --port "$PORT" "$@" >>"$EV"
	sleep 0.3
	send 1 "{\"cmd\":\"snapshot\",\"id\":\"end:$name\"}"
	wait_reply "$OUT/helper.out" "end:$name" 20000 "$H1"
}
paced="--count 200 --size 200 --interval-ms 2 --timeout-s 15 --idle-ms 500"
phase traffic
# shellcheck disable=SC2086
{
	window lo-tcp4 --proto tcp --family 4 --addr 127.0.0.1 $paced
	window lo-udp4 --proto udp --family 4 --addr 127.0.0.1 $paced
	window lo-tcp6 --proto tcp --family 6 --addr ::1 $paced
	window lo-udp6 --proto udp --family 6 --addr ::1 $paced
	window nic-tcp4 --proto tcp --family 4 --addr "$SRV4" --client-netns "/run/netns/$PEER" $paced
	window nic-udp4 --proto udp --family 4 --addr "$SRV4" --client-netns "/run/netns/$PEER" $paced
	window nic-tcp6 --proto tcp --family 6 --addr "$SRV6" --client-netns "/run/netns/$PEER" $paced
	window nic-udp6 --proto udp --family 6 --addr "$SRV6" --client-netns "/run/netns/$PEER" $paced
	# Software receive timestamps on (the server's socket asks for them): netif_rx stamps every skb,
	# and the rx entry takes that stamp instead of reading the clock (rx loads with
	# check_kernel_stamps, so the probes also say how far each stamp is from the clock). TCP's
	# departure times, which loopback keeps in the same field, must not be taken for one.
	window lo-udp4-stamped --proto udp --family 4 --addr 127.0.0.1 --rx-timestamps 1 $paced
	window lo-tcp4-stamped --proto tcp --family 4 --addr 127.0.0.1 --rx-timestamps 1 $paced
	window nic-udp4-stamped --proto udp --family 4 --addr "$SRV4" --client-netns "/run/netns/$PEER" --rx-timestamps 1 $paced
	# IRQ sampling: 1 in 4 hard IRQs and softirq runs timed, every NAPI poll still counted.
	send 1 '{"cmd":"set","id":"set:irq4","data":{"irq_measure_every":4}}'
	wait_reply "$OUT/helper.out" "set:irq4" 20000 "$H1"
	window lo-udp4-irq4 --proto udp --family 4 --addr 127.0.0.1 --count 600 --size 200 --interval-ms 0.5 --timeout-s 15 --idle-ms 500
	send 1 '{"cmd":"set","id":"set:irq1","data":{"irq_measure_every":1}}'
	wait_reply "$OUT/helper.out" "set:irq1" 20000 "$H1"
}

# A known delay at the peer's sending qdisc: netem in guests; tbf on a host without netem (a burst
# of datagrams queues behind the rate limit: the delay of each follows from rate, burst and size).
phase delay
if [ "$MODE" = guest ]; then
	if "$TC" -n "$PEER" qdisc add dev "$PDEV" root netem delay 10ms limit 10000 2>>"$OUT/scenario.log"; then
		ev '{"event":"qdisc","kind":"netem","delay_ms":10}'
		# shellcheck disable=SC2086
		window delay-netem --proto udp --family 4 --addr "$SRV4" --client-netns "/run/netns/$PEER" \
			--count 100 --size 200 --interval-ms 5 --timeout-s 15 --idle-ms 500
	else
		ev '{"event":"error","what":"tc netem failed"}'
	fi
else
	if "$TC" -n "$PEER" qdisc add dev "$PDEV" root tbf rate 2mbit burst 1600 limit 100000 2>>"$OUT/scenario.log"; then
		ev '{"event":"qdisc","kind":"tbf","rate_bps":2000000,"burst_bytes":1600,"limit_bytes":100000}'
		window delay-tbf --proto udp --family 4 --addr "$SRV4" --client-netns "/run/netns/$PEER" \
			--count 30 --size 1000 --interval-ms 0 --timeout-s 15 --idle-ms 500
	else
		ev '{"event":"error","what":"tc tbf failed"}'
	fi
fi
"$TC" -n "$PEER" qdisc del dev "$PDEV" root 2>/dev/null

# ------------------------------------------------------------------ every alternative meets the verifier
# Only the chosen alternative of each group was loaded above; here every alternative of every
# object goes through this kernel's verifier (nothing is attached), so a variant this kernel would
# not choose cannot rot unseen. The same load-time constants as the loads above.
phase verify
for o in rx tx irq; do
	ro=""
	[ "$o" != irq ] && ro=",\"rodata\":{\"filter_port\":$PORT}"
	for alt in fentry kprobe netfilter tp; do
		send 1 "{\"cmd\":\"verify\",\"id\":\"verify:$o:$alt\",\"object\":\"$WORK/h1/$o.bpf.o\",\"alternative\":\"$alt\"$ro}"
		wait_reply "$OUT/helper.out" "verify:$o:$alt" 60000 "$H1"
	done
done

# ------------------------------------------------------------------ exit and leaks
phase quit
send 1 '{"cmd":"quit","id":"quit"}'
wait_exit "$H1" 45000 || { ev '{"event":"wait","what":"helper exit after quit","ok":false}'; kill -9 "$H1"; }
wait "$H1"
ev "{\"event\":\"helper_exit\",\"name\":\"quit\",\"status\":$?}"
exec 4>&-
"$TOOL" progs-gone --name quit --ids-from "$OUT/helper.out" --timeout-ms 5000 >>"$EV"

phase sigkill
start_helper 2
H2=$HPID
n=0
until grep -qE '"type": ?"hello"' "$OUT/helper2.out" 2>/dev/null || [ $n -ge 400 ] || ! alive "$H2"; do sleep 0.05; n=$((n + 1)); done
load_all 2 "$OUT/helper2.out" "$H2"
kill -9 "$H2"
wait_exit "$H2" 30000
wait "$H2"
ev "{\"event\":\"helper_exit\",\"name\":\"sigkill\",\"status\":$?}"
exec 5>&-
"$TOOL" progs-gone --name sigkill --ids-from "$OUT/helper2.out" --timeout-ms 5000 >>"$EV"
phase done
