/**
 * The one protocol of nslat.
 *
 *  - helper ⇄ core: NDJSON over the helper's stdin/stdout (one JSON object per line).
 *    Commands go core → helper, messages come helper → core.
 *  - core ⇄ webview: typed postMessage payloads (snapshot / delta / clear + ready handshake).
 *
 * Every line that crosses a process boundary is validated here; a bad line becomes a typed
 * ProtocolError, never an exception that escapes.
 *
 * The C helper (bpf/helper) writes these messages; test/kernel checks its output against
 * these schemas, so this file is the single source of truth.
 */
import { z } from 'zod';

import { ALTERNATIVES, ATTACH_TYPES, DIRECTIONS, ERROR_CODES, HIST_BUCKETS, MAX_COMMAND_BYTES, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, SLOT_RE, VAR_NAME_RE } from './contract.ts';
import { formatCountShort, formatPercent } from './format.ts';

export { ALTERNATIVES, HIST_BUCKETS, MAX_COMMAND_BYTES, MAX_MESSAGE_BYTES, PROTOCOL_VERSION };
export { formatCountShort, formatPercent };

// ---------------------------------------------------------------- helper commands (core → helper)

const id = z.string().min(1).max(64);
const slot = z.string().regex(SLOT_RE, 'slot names are [a-z][a-z0-9_]{0,31}');
const intMap = z.record(z.string().regex(VAR_NAME_RE), z.number().int());

export const LoadCommand = z.object({
  cmd: z.literal('load'),
  id,
  /** One object per slot ("rx", "tx", "irq", or a probe author's own). Loading into an occupied
   *  slot is a reload: make-before-break. */
  slot,
  /** Absolute path of a .bpf.o inside the helper's work directory. */
  object: z.string().min(1).max(4096),
  /** Values for `const volatile` globals (.rodata), set before load: filters, options. */
  rodata: intMap.optional(),
  /** More rodata by the direction the object declares in its BTF (written after `rodata`): the core
   *  sends each direction's filter constants and the helper picks the object's own. */
  rodata_by_dir: z.object({ rx: intMap.optional(), tx: intMap.optional(), irq: intMap.optional() }).strict().optional(),
  /** Values for mutable globals (.data/.bss), set before load and changeable later with `set`. */
  data: intMap.optional(),
  /** Names in rodata/data that the object does not declare are passed over (and listed in the
   *  loaded message's `unset`) instead of refusing the load. */
  if_declared: z.boolean().optional(),
  /** Network namespaces (inode numbers, as `ls -L -i /proc/PID/ns/net` shows) where netfilter
   *  programs attach besides the helper's own (a netns filter names them). */
  netns: z.array(z.number().int().min(1).max(0xffffffff)).max(16).optional(),
  /** Stop at the first program the verifier refuses, leaving the slot as it was (edited probes);
   *  otherwise a refused program is reported and its group falls back to its next alternative. */
  strict: z.boolean().optional(),
});
export type LoadCommand = z.infer<typeof LoadCommand>;
export const UnloadCommand = z.object({ cmd: z.literal('unload'), id, slot });
/** What the helper collects of the host's own counters each snapshot (HostSample). */
export const HostOptions = z
  .object({
    /** Collect at all (default on). */
    enabled: z.boolean().optional(),
    /** How many sockets with the longest receive or send queues to list (default 8, 0: none). */
    top: z.number().int().min(0).max(64).optional(),
    /** Sockets of these local or remote ports are listed with their queues and TCP info, however
     *  short their queues (a session's port filter). */
    ports: z.array(z.number().int().min(1).max(65535)).max(16).optional(),
    /** Sockets owned by these processes (tgid) likewise (a session's pid filter). */
    pids: z.array(z.number().int().min(1)).max(16).optional(),
    /** Network namespaces (inode numbers) whose interfaces and sockets are read besides the
     *  helper's own (a session's netns filter). */
    netns: z.array(z.number().int().min(1).max(0xffffffff)).max(16).optional(),
  })
  .strict();
export type HostOptions = z.infer<typeof HostOptions>;

export const SetCommand = z.object({
  cmd: z.literal('set'),
  id,
  /** Snapshot period; 0 stops periodic snapshots (the core then asks with `snapshot`). */
  interval_ms: z.number().int().min(0).max(3_600_000).optional(),
  /** Mutable globals to write in every loaded slot that has them (e.g. sample_every, slow_ns). */
  data: intMap.optional(),
  /** Host counters (HostSample) in every snapshot: what to collect besides the fixed set. */
  host: HostOptions.optional(),
});
export const SnapshotCommand = z.object({ cmd: z.literal('snapshot'), id });
export const QuitCommand = z.object({ cmd: z.literal('quit'), id });
export const Alternative = z.enum(ALTERNATIVES);
export type Alternative = z.infer<typeof Alternative>;
/** Puts an object's programs through the verifier without attaching anything: those of one
 *  alternative everywhere (e.g. every kprobe variant, whether or not kprobes attach here), or
 *  those the helper would choose. Answered by `verified`. */
export const VerifyCommand = z.object({
  cmd: z.literal('verify'),
  id,
  object: z.string().min(1).max(4096),
  alternative: Alternative.optional(),
  rodata: intMap.optional(),
});
export const HelperCommand = z.discriminatedUnion('cmd', [
  LoadCommand,
  UnloadCommand,
  SetCommand,
  SnapshotCommand,
  VerifyCommand,
  QuitCommand,
]);
export type HelperCommand = z.infer<typeof HelperCommand>;

// ---------------------------------------------------------------- helper messages (helper → core)

export const AttachType = z.enum(ATTACH_TYPES);
export type AttachType = z.infer<typeof AttachType>;
export const Direction = z.enum(DIRECTIONS);
export type Direction = z.infer<typeof Direction>;

export const HelloMessage = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  helper_version: z.string(),
  kernel: z.string(),
  /** ns since boot of CLOCK_MONOTONIC when the helper started (BPF timestamps use the same clock). */
  mono_ns: z.number(),
  /** CLOCK_REALTIME in ns at the same moment, to place monotonic timestamps on a wall clock. */
  wall_ns: z.number(),
  ncpus: z.number().int().positive(),
  btf: z.boolean(),
  bpf_stats: z.boolean(),
  /** Which attach types this kernel accepted in the helper's start-up feature probe. */
  attach_types: z.record(z.string(), z.boolean()),
  /** uname machine, e.g. "x86_64". */
  arch: z.string().optional(),
  /** A PREEMPT_RT kernel. */
  preempt_rt: z.boolean().optional(),
  /** Device IRQ handlers run in irq/N threads by force (PREEMPT_RT, or the threadirqs option). */
  irq_threads: z.boolean().optional(),
  /** BPF netfilter hooks work here and are turned on (the helper's --no-netfilter turns them off). */
  netfilter: z.boolean().optional(),
  /** The helper sends the host's own counters (HostSample) in its snapshots. */
  host: z.boolean().optional(),
  workdir: z.string(),
  pid: z.number().int(),
});
export type HelloMessage = z.infer<typeof HelloMessage>;

export const ProgramStatus = z.object({
  /** The program's name as written in C. */
  name: z.string(),
  /** Its SEC() name, e.g. "tp_btf/netif_receive_skb". */
  section: z.string(),
  status: z.enum(['attached', 'skipped', 'failed']),
  attach: AttachType.optional(),
  /** Why it was skipped or failed (e.g. "fentry not permitted on this kernel (EPERM)",
   *  "alternative ip_rcv__fentry attached"). */
  reason: z.string().optional(),
  /** Kernel program id, for bpf_stats and for leak checks. */
  prog_id: z.number().int().optional(),
  /** The tail of the verifier log when the verifier refused it (with `; source @ file:line`). */
  log: z.string().optional(),
  /** A load-time remark on how it is bound, e.g. a name shaped like a boundary binding that names
   *  no boundary of the object (the program then feeds no boundary). */
  warning: z.string().optional(),
});
export type ProgramStatus = z.infer<typeof ProgramStatus>;

/** A program that feeds a boundary or group, as attached. */
export const Feed = z.object({
  program: z.string(),
  attach: AttachType,
  /** The kernel function, tracepoint or netfilter hook ("ipv4/pre_routing"). */
  target: z.string(),
  /** Netfilter: the network namespaces (inode numbers; 0 is the helper's own) it is hooked in. */
  netns: z.array(z.number().int().min(0)).optional(),
});
export type Feed = z.infer<typeof Feed>;

/** A boundary a packet can pass, named by the probe author in C (enum nslat_boundary). */
export const Boundary = z.object({
  id: z.number().int().min(0),
  name: z.string(),
  dir: Direction,
  /** True when at least one attached program feeds it. */
  active: z.boolean(),
  /** Attach type of the program feeding it, or why none does. */
  attach: AttachType.optional(),
  reason: z.string().optional(),
  /** Every attached program that feeds it (a boundary can be fed by several: TCP and UDP reads). */
  feeds: z.array(Feed).optional(),
});
export type Boundary = z.infer<typeof Boundary>;

/** A named group of alternatives that is not a boundary (IRQ thread timing, end-of-life helpers). */
export const Group = z.object({
  name: z.string(),
  active: z.boolean(),
  attach: AttachType.optional(),
  reason: z.string().optional(),
  feeds: z.array(Feed),
});
export type Group = z.infer<typeof Group>;

/** An integer global of a loaded object (1, 2, 4 or 8 bytes). */
export const GlobalVar = z.object({
  name: z.string(),
  kind: z.enum(['rodata', 'data']),
  size: z.number().int(),
});
export type GlobalVar = z.infer<typeof GlobalVar>;

export const LoadedMessage = z.object({
  type: z.literal('loaded'),
  id,
  slot,
  object: z.string(),
  /** True when this load replaced an earlier object in the same slot (a reload). */
  replaced: z.boolean(),
  /** Monotonic ns when the new programs were all attached (reload marker on the time axis). */
  mono_ns: z.number(),
  programs: z.array(ProgramStatus),
  boundaries: z.array(Boundary),
  groups: z.array(Group).optional(),
  /** Loads it took: 1, plus one per alternative that fell back. */
  attempts: z.number().int().min(1).optional(),
  /** The object's direction, from its BTF (absent for an object that keeps no packet or IRQ
   *  histograms of a known layout). */
  dir: Direction.optional(),
  /** The integer globals a load may set, from the object's BTF: `rodata` ones (`const volatile`)
   *  before load only, `data` ones (.data/.bss) also later with `set`. */
  globals: z.array(GlobalVar).optional(),
  /** With `if_declared`: the names of the load's rodata and data the object does not declare. */
  unset: z.array(z.string()).optional(),
});
export type LoadedMessage = z.infer<typeof LoadedMessage>;

export const VerifiedMessage = z.object({
  type: z.literal('verified'),
  id,
  object: z.string(),
  /** The alternative verified, or "plan" for what the helper would choose. */
  alternative: z.string(),
  programs: z.array(
    z.object({
      name: z.string(),
      section: z.string(),
      status: z.enum(['verified', 'failed', 'skipped']),
      attach: AttachType.optional(),
      reason: z.string().optional(),
      log: z.string().optional(),
    }),
  ),
});
export type VerifiedMessage = z.infer<typeof VerifiedMessage>;

export const UnloadedMessage = z.object({ type: z.literal('unloaded'), id, slot });

export const ErrorCode = z.enum(ERROR_CODES);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorMessage = z.object({
  type: z.literal('error'),
  /** The id of the command that failed, when the line could be parsed far enough. */
  id: z.string().optional(),
  code: ErrorCode,
  message: z.string(),
  slot: z.string().optional(),
  /** The program concerned, for verifier/load errors. */
  program: z.string().optional(),
  /** Full verifier log (with `; <source line>` annotations from BTF line info), or libbpf's log. */
  log: z.string().optional(),
});
export type ErrorMessage = z.infer<typeof ErrorMessage>;

/** A histogram as deltas since the previous snapshot: sparse [bucket, count] pairs. */
export const HistDelta = z.object({
  /** "stage": time between two consecutive boundaries a packet passed (from → to).
   *  "cum": time since the packet entered the stack, at boundary `to`.
   *  "hardirq": hard IRQ handler time for IRQ line `irq` on `cpu`.
   *  "softirq_delay": softirq raise → entry for vector `vec` on `cpu`.
   *  "softirq_time": softirq entry → exit for vector `vec` on `cpu`.
   *  "napi_work": packets per NAPI poll (not ns) on `cpu`.
   *  "irq_thread_latency": hard IRQ entry of line `irq` → its irq/N thread starts the handler,
   *  on the `cpu` the thread runs on (threaded IRQs: PREEMPT_RT, threadirqs).
   *  "irq_thread_time": that threaded handler's run time for line `irq` on `cpu`.
   *  Any other kind a probe author defines is passed through by name. */
  kind: z.string(),
  dir: Direction,
  /** Display name, e.g. "netif_rx→netif_receive_skb", "hardirq 24 virtio0-input.0", "NET_RX". */
  name: z.string(),
  from: z.string().optional(),
  to: z.string().optional(),
  irq: z.number().int().optional(),
  vec: z.number().int().optional(),
  cpu: z.number().int().optional(),
  buckets: z.array(z.tuple([z.number().int().min(0).max(HIST_BUCKETS - 1), z.number().int().min(0)])),
  count: z.number().int().min(0),
  sum: z.number().min(0),
});
export type HistDelta = z.infer<typeof HistDelta>;

export const ProgStats = z.object({
  name: z.string(),
  prog_id: z.number().int(),
  /** Deltas since the previous snapshot (kernel bpf_stats; zero when bpf_stats is off). */
  run_cnt: z.number().int().min(0),
  run_time_ns: z.number().min(0),
  recursion_misses: z.number().int().min(0),
});
export type ProgStats = z.infer<typeof ProgStats>;

export const SlotSnapshot = z.object({
  slot,
  hists: z.array(HistDelta),
  /** Named counters as deltas (enum nslat_counter names, lower-case: "ringbuf_drop", "map_full",
   *  "stale", "sampled", ...). */
  counters: z.record(z.string(), z.number().int().min(0)),
  /** kfree_skb drop reasons (kernel enum skb_drop_reason names without the prefix) as deltas. */
  drops: z.record(z.string(), z.number().int().min(0)),
  progs: z.array(ProgStats),
});
export type SlotSnapshot = z.infer<typeof SlotSnapshot>;

// ---------------------------------------------------------------- host counters (in snapshots)
//
// The helper reads the host's own counters at each snapshot, from procfs, sysfs and netlink (no
// shell, no external tool), and sends what moved since the previous snapshot (the first one: since
// the helper started). Counters are deltas (never negative: a counter that went backwards, e.g. a
// device re-created, reports its new value). Gauges (queue lengths, configuration) are current
// values. Configuration is sent in the first sample that names an object and again whenever it
// changes; a consumer keeps the last one it saw.

/** Counter deltas by name; only those that moved in the interval. */
const Deltas = z.record(z.string(), z.number().int().min(0));

/** One qdisc of an interface, as `tc -s qdisc` shows it (rtnetlink RTM_GETQDISC). */
export const HostQdisc = z.object({
  kind: z.string(), // "tbf", "fq_codel", "noqueue", ...
  handle: z.string(), // "1:" (tc's spelling)
  parent: z.string(), // "root", "1:1", "ingress"
  /** Deltas. */
  sent_packets: z.number().int().min(0),
  sent_bytes: z.number().int().min(0),
  drops: z.number().int().min(0),
  overlimits: z.number().int().min(0),
  requeues: z.number().int().min(0),
  /** Gauges at the snapshot. */
  backlog_bytes: z.number().int().min(0),
  backlog_packets: z.number().int().min(0),
});
export type HostQdisc = z.infer<typeof HostQdisc>;

export const HostIfaceConfig = z.object({
  /** `ethtool -i` driver ("virtio_net", "veth"; absent for devices without one, e.g. lo). */
  driver: z.string().optional(),
  operstate: z.string().optional(),
  mtu: z.number().int().optional(),
  /** Mbit/s when the device reports a link speed. */
  speed_mbps: z.number().int().optional(),
  rx_queues: z.number().int().min(0).optional(),
  tx_queues: z.number().int().min(0).optional(),
  /** `ethtool -g`: current and maximum ring sizes. */
  rings: z.object({ rx: z.number().int(), tx: z.number().int(), rx_max: z.number().int(), tx_max: z.number().int() }).partial().optional(),
  /** `ethtool -c`: interrupt coalescing, by ethtool's names ("rx-usecs", "rx-frames",
   *  "adaptive-rx", ...); only what the driver supports. */
  coalesce: z.record(z.string(), z.number().int()).optional(),
  /** RPS CPU mask per RX queue (sysfs queues/rx-N/rps_cpus, as written there: hex), XPS per TX
   *  queue (queues/tx-N/xps_cpus). */
  rps: z.array(z.string()).optional(),
  xps: z.array(z.string()).optional(),
});
export type HostIfaceConfig = z.infer<typeof HostIfaceConfig>;

export const HostIface = z.object({
  name: z.string(),
  ifindex: z.number().int().min(0),
  /** Network namespace inode; 0 for the helper's own. */
  netns: z.number().int().min(0),
  /** /sys/class/net/<name>/statistics, deltas (rx_packets, tx_packets, rx_bytes, tx_bytes,
   *  rx_dropped, tx_dropped, rx_errors, tx_errors, rx_missed_errors, ...): those that moved. */
  stats: Deltas,
  /** `ethtool -S` (SIOCETHTOOL ETHTOOL_GSTATS), the driver's own counters by its names, deltas:
   *  those that moved. Read when the device's statistics moved, else every few samples: a
   *  counter that moves while the statistics do not lands in the sample that reads it. */
  driver: Deltas.optional(),
  /** Each qdisc in the first sample that lists the interface, then when it moved or holds a
   *  backlog. */
  qdiscs: z.array(HostQdisc).optional(),
  /** What a link dump shows (MTU, state, queues) is seen at once; what ethtool and sysfs show
   *  (driver, speed, rings, coalescing, RPS/XPS) is read again a few devices per sample. */
  config: HostIfaceConfig.optional(),
});
export type HostIface = z.infer<typeof HostIface>;

/** Softirq vector names in the kernel's order (/proc/softirqs rows, HostCpu.softirqs). */
export const SOFTIRQ_VECTORS = ['HI', 'TIMER', 'NET_TX', 'NET_RX', 'BLOCK', 'IRQ_POLL', 'TASKLET', 'SCHED', 'HRTIMER', 'RCU'] as const;

export const HostCpu = z.object({
  cpu: z.number().int().min(0),
  /** /proc/net/softnet_stat, deltas. */
  softnet: z.object({
    processed: z.number().int().min(0),
    dropped: z.number().int().min(0),
    time_squeeze: z.number().int().min(0),
    received_rps: z.number().int().min(0),
    flow_limit: z.number().int().min(0),
  }),
  /** /proc/stat CPU time as `sar -u` splits it, ns, deltas. */
  time_ns: z.object({
    user: z.number().min(0),
    nice: z.number().min(0),
    system: z.number().min(0),
    irq: z.number().min(0),
    softirq: z.number().min(0),
    iowait: z.number().min(0),
    idle: z.number().min(0),
    steal: z.number().min(0),
  }),
  /** /proc/softirqs runs per vector (SOFTIRQ_VECTORS order), deltas. */
  softirqs: z.array(z.number().int().min(0)),
});
export type HostCpu = z.infer<typeof HostCpu>;

export const HostIrq = z.object({
  /** The IRQ line (numbered lines of /proc/interrupts). */
  irq: z.number().int().min(0),
  /** Its action name(s) as /proc/interrupts shows them ("virtio0-input.0"). */
  name: z.string(),
  /** The NIC queue behind it, where its name says so: the interface ("eth0", found from the
   *  device name, e.g. virtio0) and the queue as named ("input.0", "TxRx-0"). */
  queue: z.object({ iface: z.string().optional(), device: z.string(), queue: z.string() }).optional(),
  /** Interrupts per CPU (index = CPU), deltas. */
  counts: z.array(z.number().int().min(0)),
  /** /proc/irq/<n>/smp_affinity_list and effective_affinity_list (configuration). */
  affinity: z.string().optional(),
  effective_affinity: z.string().optional(),
});
export type HostIrq = z.infer<typeof HostIrq>;

/** A TCP or UDP socket as `ss -tuanpi` shows it (sock_diag netlink). Gauges. */
export const HostSocket = z.object({
  proto: z.enum(['tcp', 'udp']),
  family: z.enum(['ipv4', 'ipv6']),
  /** ss's state names: "ESTAB", "LISTEN", "UNCONN", "SYN-SENT", "TIME-WAIT", ... */
  state: z.string(),
  /** "127.0.0.1:5201", "[::1]:5201", "*:53". */
  local: z.string(),
  remote: z.string(),
  /** ss's Recv-Q and Send-Q (bytes; for a listener, the accept queue and its limit). */
  recv_q: z.number().int().min(0),
  send_q: z.number().int().min(0),
  /** Receive and send buffer limits and the socket's drop count (SK_MEMINFO). */
  rcvbuf: z.number().int().min(0).optional(),
  sndbuf: z.number().int().min(0).optional(),
  drops: z.number().int().min(0).optional(),
  inode: z.number().int().min(0),
  uid: z.number().int().min(0),
  /** Network namespace inode; 0 for the helper's own. */
  netns: z.number().int().min(0),
  /** The processes holding it (as `ss -p`). */
  procs: z.array(z.object({ pid: z.number().int(), comm: z.string() })),
  /** TCP info (tcp_info): smoothed RTT and its variance (µs), retransmits so far, congestion
   *  window (segments), unacknowledged and lost segments. */
  tcp: z
    .object({
      rtt_us: z.number().int().min(0),
      rttvar_us: z.number().int().min(0),
      retrans: z.number().int().min(0),
      cwnd: z.number().int().min(0),
      unacked: z.number().int().min(0),
      lost: z.number().int().min(0),
    })
    .optional(),
  /** Listed because it matches the session's ports or pids (HostOptions), not for its queues. */
  flow: z.boolean().optional(),
});
export type HostSocket = z.infer<typeof HostSocket>;

/** The host's counters for one snapshot interval. */
export const HostSample = z.object({
  /** Interfaces of the helper's network namespace (and of HostOptions.netns): every one, each
   *  snapshot (stats may be empty). */
  ifaces: z.array(HostIface),
  /** Every online CPU. */
  cpus: z.array(HostCpu),
  /** The numbered IRQ lines that fired in the interval, or whose configuration changed (so the
   *  first sample lists every line; affinities are read again a few lines per sample). */
  irqs: z.array(HostIrq),
  /** /proc/net/snmp, /proc/net/netstat and /proc/net/snmp6 counters as "Group.Name"
   *  ("Tcp.RetransSegs", "TcpExt.ListenDrops", "Udp.RcvbufErrors", "Ip.InDiscards", "Ip6.InDiscards"),
   *  deltas: those that moved. Gauges (Tcp.CurrEstab, Tcp.RtoMin, ...) are not counters: left out.
   *  The helper's own network namespace's. */
  snmp: Deltas,
  /** The top sockets by Recv-Q then Send-Q (non-empty queues only, at most HostOptions.top), then
   *  those HostOptions names (flow: true; one that is also among the top is listed there, once,
   *  with flow: true). Where walking the kernel's TCP table is dear it is walked every few samples
   *  and the TCP sockets listed are read again in between: one whose queue starts to grow then
   *  shows at the next walk. */
  sockets: z.array(HostSocket),
  /** CPU time the helper spent collecting this sample (ns, its thread CPU clock). */
  cost_ns: z.number().int().min(0),
  /** What could not be read, each said once per session: "ethtool -S eth0: Operation not supported". */
  errors: z.array(z.string()).optional(),
});
export type HostSample = z.infer<typeof HostSample>;

export const SnapshotMessage = z.object({
  type: z.literal('snapshot'),
  /** Increments by one per snapshot; a gap means lost snapshots. */
  seq: z.number().int().min(0),
  /** Monotonic ns when the maps were read. */
  mono_ns: z.number(),
  /** ns covered since the previous snapshot. */
  interval_ns: z.number().min(0),
  /** The id of the `snapshot` command that asked for it; absent for periodic ones. */
  id: z.string().optional(),
  slots: z.array(SlotSnapshot),
  /** The host's own counters for the same interval (absent when collection is off). */
  host: HostSample.optional(),
});
export type SnapshotMessage = z.infer<typeof SnapshotMessage>;

export const JourneyMark = z.object({
  boundary: z.string(),
  /** ns since the packet's first boundary. */
  t_ns: z.number().min(0),
});
export const JourneyMessage = z.object({
  type: z.literal('journey'),
  slot,
  dir: Direction,
  /** "sampled": every Nth packet; "slow": slower end to end than slow_ns. */
  reason: z.enum(['sampled', 'slow']),
  /** Monotonic ns of the first boundary. */
  mono_ns: z.number(),
  total_ns: z.number().min(0),
  marks: z.array(JourneyMark),
  ifindex: z.number().int().optional(),
  /** 6 = TCP, 17 = UDP, 0 unknown. */
  l4: z.number().int().optional(),
  family: z.enum(['ipv4', 'ipv6', 'other']).optional(),
  sport: z.number().int().optional(),
  dport: z.number().int().optional(),
  len: z.number().int().optional(),
  cpu: z.number().int().optional(),
  /** How the journey ended: "read", "consume", "drop:<REASON>", "xmit", "stale". */
  end: z.string().optional(),
});
export type JourneyMessage = z.infer<typeof JourneyMessage>;

export const LogMessage = z.object({
  type: z.literal('log'),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  message: z.string(),
});
export const ByeMessage = z.object({
  type: z.literal('bye'),
  /** "quit", "stdin closed", "SIGTERM", "SIGINT". */
  reason: z.string(),
  /** Programs still attached at exit: always 0 unless something is badly wrong. */
  attached: z.number().int().min(0),
});

export const HelperMessage = z.discriminatedUnion('type', [
  HelloMessage,
  LoadedMessage,
  VerifiedMessage,
  UnloadedMessage,
  ErrorMessage,
  SnapshotMessage,
  JourneyMessage,
  LogMessage,
  ByeMessage,
]);
export type HelperMessage = z.infer<typeof HelperMessage>;

// ---------------------------------------------------------------- loss and activity

/** The probe counters (enum nslat_counter in nslat.h, lower-case, without NSLAT_CNT_) that mean
 *  nslat lost data: a measurement it should have made and did not. The same set as
 *  NSLAT_CNT_LOSS_MASK in nslat.h (a unit test compares the two). Every other counter, one a newer
 *  probe object or a probe author adds included, counts activity. */
export const LOSS_COUNTERS = ['ringbuf_drop', 'map_full', 'stale', 'irq_out_of_range', 'udp_unpaired', 'evicted', 'udp_queue_race', 'stamp_rejected'] as const;
export type LossCounter = (typeof LOSS_COUNTERS)[number];
/** Snapshots missing from the helper's sequence (gaps in `seq`): lost by the core, counted by it. */
export const LOST_SNAPSHOTS = 'lost_snapshots';

/** What each loss means, for tables, tooltips and hovers. */
export const LOSS_MEANING: Record<LossCounter | typeof LOST_SNAPSHOTS, string> = {
  ringbuf_drop: 'journeys not sent: the ring buffer was full',
  map_full: 'packets not measured: their state could not be stored',
  stale: 'packet entries older than 4 s discarded unfinished',
  irq_out_of_range: 'hard IRQs not measured: IRQ line above 255',
  udp_unpaired: 'UDP reads not attributed to a datagram',
  evicted: 'packets not finished: their entry was taken by another packet',
  udp_queue_race: 'UDP queue walks given up (the queue changed under them): the datagrams behind miss sock_enqueue',
  stamp_rejected: 'entry stages lost: the kernel\'s receive stamp disagreed with the clock at the next boundary',
  lost_snapshots: 'snapshots missing from the helper\'s sequence',
};

export function isLossCounter(name: string): name is LossCounter {
  return (LOSS_COUNTERS as readonly string[]).includes(name);
}

/** What a loss is a share of: packets that passed the entry boundary (rx/tx objects), hard IRQs
 *  (IRQ objects: timed ones plus those out of range), or snapshots (received plus lost). */
export const LossBase = z.enum(['started_packets', 'hard_irqs', 'snapshots']);
export type LossBase = z.infer<typeof LossBase>;
export const LOSS_BASE_LABEL: Record<LossBase, string> = { started_packets: 'started packets', hard_irqs: 'hard IRQs', snapshots: 'snapshots' };

export function lossBaseOf(name: string): LossBase {
  if (name === LOST_SNAPSHOTS) return 'snapshots';
  return name === 'irq_out_of_range' ? 'hard_irqs' : 'started_packets';
}

/** One loss, with the count it is a share of. */
export const LossFigure = z.object({
  name: z.string(),
  total: z.number().min(0),
  /** How many packets, IRQs or snapshots it applies to (see base). */
  of: z.number().min(0),
  base: LossBase,
  /** total / of; null when of is 0. */
  share: z.number().min(0).nullable(),
  /** The share as shown everywhere (formatLossShare): "0.02 % of 1.2 M started packets". */
  label: z.string(),
});
export type LossFigure = z.infer<typeof LossFigure>;

/** One slot's counter totals, and what kind of object it holds. */
export interface SlotCounters {
  /** "packets": an rx/tx object (boundaries); "irq": an IRQ object. */
  kind: 'packets' | 'irq';
  counters: Readonly<Record<string, number>>;
  /** Hard IRQs measured (the hardirq histograms' counts), for IRQ objects. */
  hard_irqs?: number;
  /** IRQ objects: hard IRQs and softirq runs the kernel counted while the object was loaded (the
   *  host counters), and those the object timed (hardirq and softirq_delay counts). */
  irq_seen?: number;
  irq_timed?: number;
}

/** Loss figures, in LOSS_COUNTERS order then lost snapshots, from per-slot counter totals. A loss
 *  counts in every slot that reports it; its base counts only in the slots it applies to
 *  (started packets of packet objects, hard IRQs of IRQ objects). */
export function lossFigures(slots: readonly SlotCounters[], snapshots: number, lostSnapshots: number): LossFigure[] {
  const figure = (name: string, total: number, of: number): LossFigure => {
    const base = lossBaseOf(name);
    return { name, total, of, base, share: of > 0 ? total / of : null, label: formatLossShare({ total, of, base }) };
  };
  const out = LOSS_COUNTERS.map((name) => {
    const base = lossBaseOf(name);
    let total = 0;
    let of = 0;
    for (const s of slots) {
      const n = s.counters[name] ?? 0;
      total += n;
      if (base === 'hard_irqs' && s.kind === 'irq') of += (s.hard_irqs ?? 0) + n;
      else if (base === 'started_packets' && s.kind === 'packets') of += s.counters.started ?? 0;
    }
    return figure(name, total, of);
  });
  out.push(figure(LOST_SNAPSHOTS, lostSnapshots, snapshots + lostSnapshots));
  return out;
}

/** Counter totals by name that are not losses (LOSS_COUNTERS), over all slots. */
export function activityCounters(slots: readonly SlotCounters[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of slots) for (const [k, v] of Object.entries(s.counters)) if (!isLossCounter(k)) out[k] = (out[k] ?? 0) + v;
  return Object.fromEntries(Object.entries(out).sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/** What share of what an object saw was measured (sampling.ts). A packet object (`of` absent or
 *  "packets"): `seen` passed the filters at the entry boundary, `measured` were timed through the
 *  later ones. The IRQ object (`of` "irq"): `seen` is the kernel's own count of hard IRQs and
 *  softirq runs (/proc/interrupts, /proc/softirqs, through the host counters) while it was loaded,
 *  `measured` those it timed. */
export const MeasuredShare = z.object({ slot: z.string(), dir: z.string(), seen: z.number().min(0), measured: z.number().min(0), of: z.enum(['packets', 'irq']).optional() });
export type MeasuredShare = z.infer<typeof MeasuredShare>;

/** The measured share of each object that saw anything, from per-slot counter totals (`seen`,
 *  `started`; for the IRQ object the totals the accumulator keeps under those names, see
 *  IRQ_SEEN/IRQ_TIMED); `dirOf` names a slot's direction (its loaded `dir`, else the slot). */
export function measuredShares(slots: ReadonlyArray<SlotCounters & { slot: string }>, dirOf: (slot: string) => string | undefined): MeasuredShare[] {
  const out: MeasuredShare[] = [];
  for (const s of slots) {
    if (s.kind === 'packets' && (s.counters.seen ?? 0) > 0) {
      out.push({ slot: s.slot, dir: dirOf(s.slot) ?? s.slot, seen: s.counters.seen ?? 0, measured: Math.min(s.counters.started ?? 0, s.counters.seen ?? 0) });
    } else if (s.kind === 'irq' && (s.irq_seen ?? 0) > 0) {
      out.push({ slot: s.slot, dir: dirOf(s.slot) ?? 'irq', seen: s.irq_seen!, measured: Math.min(s.irq_timed ?? 0, s.irq_seen!), of: 'irq' });
    }
  }
  return out;
}

/** "0.02 % of 1.2 M started packets"; "of 0 hard IRQs" when there is nothing to be a share of. */
export function formatLossShare(f: Pick<LossFigure, 'total' | 'of' | 'base'>): string {
  const of = `${formatCountShort(f.of)} ${LOSS_BASE_LABEL[f.base]}`;
  return f.of > 0 ? `${formatPercent(f.total / f.of)} of ${of}` : `of ${of}`;
}

// ---------------------------------------------------------------- parsing

export class ProtocolError extends Error {
  constructor(
    readonly kind: 'too_long' | 'bad_json' | 'invalid' | 'version',
    message: string,
    readonly line?: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

function parseLine<T>(schema: z.ZodType<T>, line: string, max: number, what: string): ParseResult<T> {
  const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line;
  if (Buffer.byteLength(line, 'utf8') > max) {
    return { ok: false, error: new ProtocolError('too_long', `${what} line of ${line.length} characters exceeds the ${max}-byte limit`, shown) };
  }
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (e) {
    return { ok: false, error: new ProtocolError('bad_json', `${what} line is not JSON (${(e as Error).message}): ${shown}`, shown) };
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length ? ` at ${issue.path.join('.')}` : '';
    return { ok: false, error: new ProtocolError('invalid', `invalid ${what}${where}: ${issue?.message ?? 'schema mismatch'}: ${shown}`, shown) };
  }
  return { ok: true, value: r.data };
}

export function parseHelperMessage(line: string): ParseResult<HelperMessage> {
  return parseLine(HelperMessage, line, MAX_MESSAGE_BYTES, 'helper message');
}
export function parseHelperCommand(line: string): ParseResult<HelperCommand> {
  return parseLine(HelperCommand, line, MAX_COMMAND_BYTES, 'helper command');
}
export function encodeCommand(cmd: HelperCommand): string {
  return `${JSON.stringify(HelperCommand.parse(cmd))}\n`;
}

/** Checks the helper's hello; the error says which side to update. */
export function checkHello(hello: HelloMessage): ProtocolError | undefined {
  if (hello.protocol === PROTOCOL_VERSION) return undefined;
  const side = hello.protocol < PROTOCOL_VERSION ? 'the helper on the target (it is rebuilt from this nslat\'s bpf/ on the next start; remove its work directory to force it)' : 'nslat (the extension or CLI)';
  return new ProtocolError('version', `protocol mismatch: helper speaks version ${hello.protocol}, nslat speaks ${PROTOCOL_VERSION}; update ${side}`);
}

// ---------------------------------------------------------------- core ⇄ webview

/** One stage's aggregate over the session, as the aggregation produces it: what the stage is,
 *  and its figures. The panel's StageSummary, the report's ReportStage and the hover's StageStat
 *  are views of this record. */
export const StageRecord = z.object({
  key: z.string(), // stable: `${dir}:${kind}:${name}` plus `:cpu${n}` for per-CPU IRQ series
  name: z.string(),
  kind: z.string(),
  dir: Direction,
  /** Slot whose snapshot carried it (the last one, if several). */
  slot: z.string(),
  from: z.string().optional(),
  to: z.string().optional(),
  /** Boundary ids of `from`/`to` in their slot's `loaded` message, when announced. */
  from_id: z.number().int().optional(),
  to_id: z.number().int().optional(),
  cpu: z.number().int().optional(),
  irq: z.number().int().optional(),
  vec: z.number().int().optional(),
  /** True for the total over CPUs of per-CPU series (the per-CPU ones carry `cpu`). */
  total_over_cpus: z.boolean(),
  /** "packets" for napi_work, "ns" for everything else. */
  unit: z.enum(['ns', 'packets']),
  /** Attach type of the (first) program feeding this stage (from `loaded` boundaries/programs). */
  attach: AttachType.optional(),
  /** Every attach type feeding the boundary this stage ends at, "+"-joined ("fentry+tp_btf"). */
  mechanism: z.string().optional(),
  /** The programs feeding that boundary (from `loaded`). */
  feeds: z.array(Feed).optional(),
  /** Why the boundary feeding it is not active, when it is not. */
  skip_reason: z.string().optional(),
  count: z.number(),
  sum: z.number(),
  mean: z.number(),
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  p999: z.number(),
  max: z.number(),
  /** Dense HIST_BUCKETS counts over the whole session (one array per stage; hist.ts says what
   *  each bucket holds). */
  buckets: z.array(z.number()),
});
export type StageRecord = z.infer<typeof StageRecord>;

/** A stage as the panel gets it: its identity and figures, without the report's attach details. */
export const StageSummary = StageRecord.pick({
  key: true,
  kind: true,
  dir: true,
  name: true,
  from: true,
  to: true,
  cpu: true,
  count: true,
  sum: true,
  buckets: true,
  p50: true,
  p90: true,
  p99: true,
  p999: true,
  max: true,
});
export type StageSummary = z.infer<typeof StageSummary>;

/** At most this many [bucket, count] pairs per stage and interval in the panel's time series. */
export const MAX_INTERVAL_BUCKETS = 24;

/** Sparse buckets as flat [bucket, count] pairs: an even number of entries, each bucket an index
 *  of the histogram, at most MAX_INTERVAL_BUCKETS pairs. */
export const FlatPairs = z
  .array(z.number())
  .max(2 * MAX_INTERVAL_BUCKETS)
  .refine((a) => a.length % 2 === 0 && a.every((v, i) => i % 2 === 1 || (Number.isInteger(v) && v >= 0 && v < HIST_BUCKETS)), 'flat [bucket, count] pairs with buckets in range');

// ---------------------------------------------------------------- host counters, aggregated (core → views)
//
// What the core makes of the helper's HostSample stream (src/core/host.ts): per interval, beside the
// stages (IntervalPoint.host_counters), the figures the time charts draw and the event counters that moved;
// over the session, tables of interfaces, CPUs, IRQ lines, protocol counters and sockets with the
// latest configuration, and hints (src/core/hints.ts). The panel, the report, the JSON document and
// the exports all read these records.

/** What kind of trouble an event counter counts: packets dropped, NAPI out of budget
 *  (softnet time_squeeze), TCP retransmits, or a queue that overflowed (listen queue, socket
 *  receive buffer, backlog). */
export const HOST_EVENT_KINDS = ['drop', 'squeeze', 'retransmit', 'overflow'] as const;
export const HostEventKind = z.enum(HOST_EVENT_KINDS);
export type HostEventKind = z.infer<typeof HostEventKind>;

/** One event counter that moved in an interval, and by how much. */
export const HostEventCounter = z.object({
  kind: HostEventKind,
  /** The counter as the tables name it: "veth0 qdisc tbf 1: drops", "Udp.RcvbufErrors",
   *  "CPU 1 softnet time_squeeze", "eth0 driver rx_queue_0_drops". */
  counter: z.string(),
  delta: z.number().min(0),
});
export type HostEventCounter = z.infer<typeof HostEventCounter>;

/** The host's figures of one interval (host.ts HOST_SERIES says what each key is). */
export const HostPoint = z.object({
  /** The interval's length (ms), to turn counters into rates. */
  dur_ms: z.number().min(0),
  /** By series key: counters as the interval's delta ("rx_packets:eth0", "time_squeeze"), CPU
   *  time as a share of the interval ("softirq:1", 0..1), queue lengths as the largest seen
   *  ("recv_q:udp 127.0.0.1:5000 *:*"). */
  v: z.record(z.string(), z.number()),
  /** The event counters that moved (none: no marker at this interval). */
  events: z.array(HostEventCounter),
});
export type HostPoint = z.infer<typeof HostPoint>;

/** A qdisc over the session: its counters as totals, its backlog as last seen and at most. */
export const HostQdiscRow = HostQdisc.extend({ backlog_max_packets: z.number().int().min(0) });
export type HostQdiscRow = z.infer<typeof HostQdiscRow>;

export const HostIfaceRow = z.object({
  /** The interface's name, "name@netns" outside the helper's own namespace. */
  id: z.string(),
  name: z.string(),
  ifindex: z.number().int().min(0),
  netns: z.number().int().min(0),
  /** The latest configuration the helper sent. */
  config: HostIfaceConfig.optional(),
  /** Totals over the session of the statistics (sysfs, by name) and driver (`ethtool -S`: its drop
   *  counters first, then the largest) counters that moved. */
  stats: z.record(z.string(), z.number()),
  driver: z.record(z.string(), z.number()),
  qdiscs: z.array(HostQdiscRow),
  /** Mean packets and bytes per second over the time the host counters cover. */
  rx_pps: z.number(),
  tx_pps: z.number(),
  rx_Bps: z.number(),
  tx_Bps: z.number(),
  /** Packets dropped in total: drop counters of the statistics, the driver and the qdiscs. */
  drops: z.number(),
  errors: z.number(),
});
export type HostIfaceRow = z.infer<typeof HostIfaceRow>;

export const HostCpuRow = z.object({
  cpu: z.number().int().min(0),
  /** softnet_stat totals. */
  softnet: HostCpu.shape.softnet,
  /** CPU time as `sar -u` splits it, each a share of the CPU's time over the session (0..1). */
  time: z.object({ user: z.number(), nice: z.number(), system: z.number(), irq: z.number(), softirq: z.number(), iowait: z.number(), idle: z.number(), steal: z.number() }),
  /** The largest share of one interval spent in softirq. */
  softirq_max: z.number(),
  /** Softirq runs by vector name (SOFTIRQ_VECTORS), totals. */
  softirqs: z.record(z.string(), z.number()),
});
export type HostCpuRow = z.infer<typeof HostCpuRow>;

export const HostIrqRow = HostIrq.pick({ irq: true, name: true, queue: true, affinity: true, effective_affinity: true }).extend({
  /** Interrupts per CPU over the session (index = CPU). */
  counts: z.array(z.number()),
  total: z.number(),
});
export type HostIrqRow = z.infer<typeof HostIrqRow>;

/** A protocol counter (netstat -s): its total, mean rate, and its event kind if it is one. */
export const HostCounterRow = z.object({ name: z.string(), total: z.number(), per_s: z.number(), kind: HostEventKind.optional() });
export type HostCounterRow = z.infer<typeof HostCounterRow>;

/** A socket as last seen, with its queues at most and how long it was listed. */
export const HostSocketRow = HostSocket.extend({
  /** "udp 127.0.0.1:5000 *:*" (and "@netns" outside the helper's namespace): the same socket
   *  from one sample to the next. */
  id: z.string(),
  recv_q_max: z.number().int().min(0),
  send_q_max: z.number().int().min(0),
  /** Samples that listed it, and whether the last one did. */
  samples: z.number().int().min(0),
  current: z.boolean(),
  /** Its drops (SK_MEMINFO) that happened while it was listed. */
  drops_seen: z.number().int().min(0),
});
export type HostSocketRow = z.infer<typeof HostSocketRow>;

/** A hint: a named rule (hints.ts) found counters that explain a latency or loss pattern. */
export const Hint = z.object({
  /** The rule's name ("udp-rcvbuf-errors"). */
  rule: z.string(),
  /** One sentence: what was seen. */
  title: z.string(),
  /** The figures behind it and what to look at next. */
  detail: z.string(),
  /** Wall-clock ms of the intervals that show it (end of each interval): the newest
   *  HINT_MAX_INTERVALS of them. */
  intervals: z.array(z.number()),
  /** How many intervals show it. */
  interval_count: z.number().int().min(0),
});
export type Hint = z.infer<typeof Hint>;
/** A hint lists at most this many of its intervals (the newest). */
export const HINT_MAX_INTERVALS = 64;

/** The host's counters over the session, as every view shows them. */
export const HostSummary = z.object({
  /** Samples received, and the time they cover (s). */
  samples: z.number().int().min(0),
  duration_s: z.number().min(0),
  /** The helper's CPU time collecting a sample (ns): mean and largest. */
  cost_ns: z.object({ mean: z.number(), max: z.number() }),
  ifaces: z.array(HostIfaceRow),
  cpus: z.array(HostCpuRow),
  irqs: z.array(HostIrqRow),
  /** The protocol counters the tables always show, then every other one that moved. */
  snmp: z.array(HostCounterRow),
  /** Sockets by their largest Recv-Q, then Send-Q. */
  sockets: z.array(HostSocketRow),
  hints: z.array(Hint),
  /** What the helper could not read (each once). */
  errors: z.array(z.string()),
  /** Counters, interfaces, IRQ lines or sockets not kept because a table was full (host.ts limits). */
  overflow: z.number().int().min(0),
});
export type HostSummary = z.infer<typeof HostSummary>;

/** An interval in which event counters moved. */
export const HostEventRecord = z.object({ t_ms: z.number(), dur_ms: z.number(), counters: z.array(HostEventCounter) });
export type HostEventRecord = z.infer<typeof HostEventRecord>;

/** The host section of a report: the summary and every event interval held. */
export const HostReport = HostSummary.extend({ events: z.array(HostEventRecord) });
export type HostReport = z.infer<typeof HostReport>;

/** One interval of the time series (one per helper snapshot). */
export const IntervalPoint = z.object({
  t_ms: z.number(), // wall-clock ms
  /** per stage key: [count, p50, p99, buckets, group]. `buckets` is this interval's nonempty
   *  buckets as [bucket, count] pairs written flat, [b0, c0, b1, c1, …], in bucket order; each pair
   *  covers `group` buckets (a power of two; b a multiple of it). The host merges aligned
   *  neighbours (group 1, 2, 4, …) until at most MAX_INTERVAL_BUCKETS pairs are left: the panel
   *  keeps up to 1800 intervals of every stage for the heatmap, which needs no finer rows, and one
   *  flat array per stage and interval stays light to send and to keep. p50 and p99 come from the
   *  full-resolution buckets. */
  stages: z.record(z.string(), z.tuple([z.number(), z.number(), z.number(), FlatPairs, z.number().int().min(1).max(HIST_BUCKETS)])),
  events_per_s: z.number(),
  /** The host's counters of the same interval, when the helper sends them. */
  host_counters: HostPoint.optional(),
});
export type IntervalPoint = z.infer<typeof IntervalPoint>;

export const SessionInfo = z.object({
  host: z.string(),
  state: z.enum(['starting', 'running', 'reloading', 'stopped', 'failed']),
  kernel: z.string().optional(),
  message: z.string().optional(),
  started_ms: z.number().optional(),
  /** From the helper's hello: machine architecture, PREEMPT_RT, device IRQ handlers threaded by
   *  force, BPF netfilter hooks on. */
  arch: z.string().optional(),
  preempt_rt: z.boolean().optional(),
  irq_threads: z.boolean().optional(),
  netfilter: z.boolean().optional(),
  /** Set when the panel shows a saved trace (read-only) rather than a live session. */
  trace: z.object({ file: z.string(), intervals: z.number().int().min(0) }).optional(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;

export const Health = z.object({
  events_per_s: z.number(),
  /** What nslat lost (lossFigures): every loss counter and lost snapshots, each with its base. */
  loss: z.array(LossFigure),
  /** Every other probe counter (activity: started, finished, sampled, filtered, …), totals. */
  activity: z.record(z.string(), z.number()),
  /** Per packet object: how many of the packets it saw were measured (sampling). */
  measured: z.array(MeasuredShare).optional(),
  drops: z.record(z.string(), z.number()),
  /** per program: mean ns per run over the session, runs */
  progs: z.array(z.object({ slot: z.string(), name: z.string(), ns_per_run: z.number(), runs: z.number() })),
  programs: z.array(ProgramStatus.extend({ slot: z.string() })),
  boundaries: z.array(Boundary.extend({ slot: z.string() })),
  /** Named groups of the loaded objects that are not boundaries (IRQ thread timing, coalesced). */
  groups: z.array(Group.extend({ slot: z.string() })).optional(),
});
export type Health = z.infer<typeof Health>;

export const ReloadMark = z.object({ t_ms: z.number(), slot: z.string(), ok: z.boolean(), message: z.string().optional() });
export type ReloadMark = z.infer<typeof ReloadMark>;

export const PanelState = z.object({
  session: SessionInfo,
  stages: z.array(StageSummary),
  series: z.array(IntervalPoint),
  journeys: z.array(JourneyMessage),
  reloads: z.array(ReloadMark),
  health: Health,
  /** The host's counters over the session, when the helper sends them. */
  host_counters: HostSummary.optional(),
});
export type PanelState = z.infer<typeof PanelState>;

// ---------------------------------------------------------------- several hosts and comparisons
//
// The extension traces several hosts at once; the panel shows one (the selected host) and can set
// chosen hosts side by side on one stage. A comparison (src/core/compare.ts) sets two windows —
// two traces, or two time ranges of one session — side by side on every stage.

/** A host of the panel's host selector. */
export const HostEntry = z.object({
  /** "local" or the SSH destination (what the extension starts sessions with). */
  host: z.string(),
  label: z.string(),
  state: SessionInfo.shape.state,
  message: z.string().optional(),
  events_per_s: z.number().min(0).optional(),
});
export type HostEntry = z.infer<typeof HostEntry>;

/** One host's view of one stage, for the host comparison: its totals, and per interval
 *  [t_ms, count, p50, p99] (wall-clock ms of that host's clock). */
export const HostStage = z.object({
  host: z.string(),
  label: z.string(),
  state: SessionInfo.shape.state,
  stage: StageSummary.optional(),
  points: z.array(z.tuple([z.number(), z.number(), z.number(), z.number()])),
});
export type HostStage = z.infer<typeof HostStage>;

/** A time range in wall-clock ms (end included). */
export const TimeRange = z.object({ from_ms: z.number(), to_ms: z.number() });
export type TimeRange = z.infer<typeof TimeRange>;

/** One quantile of one stage compared: whole-window values, the per-block shift and its test. */
export const QuantileDiff = z.object({
  /** The quantile over the whole window of A and of B. */
  a: z.number(),
  b: z.number(),
  /** Hodges–Lehmann estimate of the shift of the per-block values from A to B. */
  shift: z.number(),
  /** Mann–Whitney two-sided p-value over the per-block values, and Holm-adjusted over every test
   *  of the comparison; null when too few blocks. */
  p_value: z.number().nullable(),
  adjusted: z.number().nullable(),
  /** The histogram's resolution at A's value (one bucket's width): smaller shifts are not flagged. */
  resolution: z.number(),
  /** Larger than the interval-to-interval noise (adjusted p ≤ α) and than the resolution. */
  significant: z.boolean(),
});
export type QuantileDiff = z.infer<typeof QuantileDiff>;

/** One side's figures of a stage: packets, blocks (runs of consecutive intervals holding at least
 *  the minimum packets) with their p50 and p99, and the window's histogram as flat sparse pairs. */
export const CompareSideStage = z.object({
  count: z.number().min(0),
  block_p50: z.array(z.number()),
  block_p99: z.array(z.number()),
  buckets: z.array(z.number()),
});
export type CompareSideStage = z.infer<typeof CompareSideStage>;

/** higher / lower: B's p50 or p99 above / below A's beyond noise (for latencies: slower, faster);
 *  mixed: one above, one below; same: no difference beyond noise; too_few: not enough blocks on a
 *  side to tell; only_a / only_b: the stage has packets in one window only. */
export const CompareVerdict = z.enum(['higher', 'lower', 'mixed', 'same', 'too_few', 'only_a', 'only_b']);
export type CompareVerdict = z.infer<typeof CompareVerdict>;

export const StageComparison = z.object({
  key: z.string(),
  name: z.string(),
  kind: z.string(),
  dir: Direction,
  a: CompareSideStage.optional(),
  b: CompareSideStage.optional(),
  p50: QuantileDiff.optional(),
  p99: QuantileDiff.optional(),
  verdict: CompareVerdict,
});
export type StageComparison = z.infer<typeof StageComparison>;

export const CompareSide = z.object({
  label: z.string(),
  range: TimeRange.optional(),
  /** Intervals of the window. */
  intervals: z.number().int().min(0),
});
export type CompareSide = z.infer<typeof CompareSide>;

export const Comparison = z.object({
  a: CompareSide,
  b: CompareSide,
  /** Significance level, family-wise over every test (Holm). */
  alpha: z.number(),
  /** Packets a block needs at least. */
  min_packets: z.number().int(),
  /** Blocks each side needs at least for a test. */
  min_blocks: z.number().int(),
  stages: z.array(StageComparison),
});
export type Comparison = z.infer<typeof Comparison>;

export const ToPanel = z.discriminatedUnion('type', [
  z.object({ type: z.literal('snapshot'), state: PanelState }),
  z.object({
    type: z.literal('delta'),
    session: SessionInfo.optional(),
    stages: z.array(StageSummary), // changed stages only
    points: z.array(IntervalPoint), // new intervals
    journeys: z.array(JourneyMessage), // new journeys
    reloads: z.array(ReloadMark),
    health: Health.optional(),
    host_counters: HostSummary.optional(),
  }),
  z.object({ type: z.literal('clear') }),
  /** The hosts of the host selector and which one the panel shows. */
  z.object({ type: z.literal('hosts'), hosts: z.array(HostEntry), selected: z.string() }),
  /** The stage `key` on the hosts the panel asked for (compareHosts), refreshed while it looks. */
  z.object({ type: z.literal('hostCompare'), key: z.string(), hosts: z.array(HostStage) }),
  /** A before/after comparison, or why there is none. */
  z.object({ type: z.literal('comparison'), comparison: Comparison.optional(), error: z.string().optional() }),
]);
export type ToPanel = z.infer<typeof ToPanel>;

export const FromPanel = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('openProbe'), boundary: z.string() }),
  z.object({ type: z.literal('command'), command: z.enum(['stop', 'reload', 'export', 'openProbes']) }),
  /** Show this host's session. */
  z.object({ type: z.literal('selectHost'), host: z.string().max(300) }),
  /** Set stage `key` on these hosts side by side (an empty list: stop sending). */
  z.object({ type: z.literal('compareHosts'), key: z.string().max(400), hosts: z.array(z.string().max(300)).max(32) }),
  /** Compare two time ranges of what the panel shows (before and after a reload, …). */
  z.object({ type: z.literal('compareRanges'), a: TimeRange, b: TimeRange }),
]);
export type FromPanel = z.infer<typeof FromPanel>;
