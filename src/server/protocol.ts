/**
 * nslat's own messages between the extension (vscode-languageclient) and the probe language server,
 * on top of LSP. Both sides import this module; payloads are validated with zod on arrival.
 *
 * ## Extension → server
 *
 * `nslat/stageStats` (notification) — live figures of the running session, for hovers. Send it
 * whenever the panel's aggregation updates (once a second is plenty); send `{ stages: [], progs: [] }`
 * (or `running: false`) when the session stops. Figures are cumulative over the session.
 *   { running?: boolean,               // default true
 *     host?: string,                   // "local" or the SSH destination, shown in the hover
 *     stages: [{ name,                 // StageSummary.name, e.g. "netif_rx→netif_receive_skb"
 *                dir,                  // "rx" | "tx" | "irq"
 *                p50, p99,             // ns
 *                count,                // packets (or events) measured
 *                from?, to?,           // boundary names (StageSummary.from/to) when it is a stage
 *                kind?, cpu? }],       // StageSummary.kind ("stage", "cum", IRQ kinds) and cpu
 *     progs:  [{ name,                 // the BPF program's C name, e.g. "handle_netif_receive_skb"
 *                ns_per_run,           // mean ns per run (Health.progs[].ns_per_run)
 *                runs? }] }            // run count
 * PanelState.stages and PanelState.health.progs can be sent as they are (extra fields are ignored;
 * leave out `buckets` to keep the message small). Per-CPU series (`cpu` set) are not shown.
 * A hover on a boundary (NSLAT_RX_NETIF_RECEIVE_SKB, or its lower-case name netif_receive_skb /
 * rx_netif_receive_skb) shows the stages whose `to` or `from` is that boundary (names compare
 * case-insensitively, without an "nslat_" and "rx_"/"tx_"/"irq_" prefix; a stage `name` of the form
 * "a→b" counts as from a to b), and ns per run of the programs in that file that use the boundary.
 *
 * `nslat/target` (notification) — which kernel the probes are for. Without it the server uses this
 * machine. For a remote session send { host, remote: true }: the server then reads that kernel
 * through `nslat/targetRun` requests (below) and caches its BTF and vmlinux.h by kernel build id.
 * `attachTypes` is the helper's `hello.attach_types` (authoritative: replaces the server's own
 * feature probe). Send { host: "local", remote: false } to go back to this machine.
 *   { host: string, remote: boolean, attachTypes?: Record<string, boolean>,
 *     attachReasons?: Record<string, string>,          // e.g. { fentry: "fentry: EPERM on load" }
 *     compileOnTarget?: { includeDirs: string[] } }   // compile with the target's clang when this machine has none
 *
 * ## Server → extension
 *
 * `nslat/targetRun` (request) — run argv on the target as the unprivileged user through the
 * session's transport (Transport.run) and answer with its RunResult. Only sent after
 * `nslat/target` with remote: true. Commands it sends: uname, cat (tracefs files), base64 -w0 (BTF,
 * /sys/kernel/notes, /proc/config.gz), sha256sum, test, bpftool (feature probe, btf dump), clang.
 *   params { argv: string[], input?: string, timeoutMs?: number }
 *   result { exitCode: number, stdout: string, stderr: string }
 *
 * ## In the extension (sketch)
 *   client.onRequest(TargetRunRequest, (p) => session.transport.run(p.argv, { input: p.input, timeoutMs: p.timeoutMs }));
 *   client.sendNotification(TargetNotification, { host: session.host, remote: session.transport.kind === 'ssh',
 *     attachTypes: session.hello.attach_types });
 *   client.sendNotification(StageStatsNotification, { host, stages: state.stages.map(({ buckets, ...s }) => s),
 *     progs: state.health.progs });                    // on each panel update; { stages: [], progs: [] } at stop
 *
 * ## initializationOptions (LanguageClientOptions.initializationOptions)
 *   { cacheDir?: string,         // default $NSLAT_LSP_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/nslat (shared with sessions)
 *                                //   (kernels/<release>-<build id>/{btf.json,include/vmlinux.h})
 *     includeDirs?: string[],    // default: <bpf>/include, the target's vmlinux.h, <bpf>/probes
 *                                //   where <bpf> is the workspace's bpf/, else the bpf/ beside the server
 *                                //   (dist/../bpf: editable copies in .nslat/probes/ use nslat's headers)
 *     clang?: string,            // default "clang"
 *     bpftool?: string,          // default "bpftool"
 *     debounceMs?: number,       // default 400
 *     attachTypes?: Record<string, boolean> }  // trust this table instead of probing the kernel
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import { z } from 'zod';
import { StageRecord } from '../core/protocol.ts';

/** A stage as the hover gets it: the stage record's name, ends and the figures it shows. `dir`,
 *  `kind` and `cpu` are looser than the record's, so any client's figures are shown. */
export const StageStat = StageRecord.pick({ name: true, p50: true, p99: true, count: true, from: true, to: true }).extend({
  dir: z.string(),
  /** StageSummary.kind: "stage" (from→to), "cum" (since the packet entered, at `to`), or an IRQ kind. */
  kind: z.string().optional(),
  /** Per-CPU series are skipped in hovers (the totals are shown). */
  cpu: z.number().optional(),
});
export type StageStat = z.infer<typeof StageStat>;

export const ProgStat = z.object({ name: z.string(), ns_per_run: z.number(), runs: z.number().optional() });
export type ProgStat = z.infer<typeof ProgStat>;

export const StageStatsParams = z.object({
  running: z.boolean().optional(),
  host: z.string().optional(),
  stages: z.array(StageStat),
  progs: z.array(ProgStat),
});
export type StageStatsParams = z.infer<typeof StageStatsParams>;
export const StageStatsNotification = new NotificationType<StageStatsParams>('nslat/stageStats');

export const TargetParams = z.object({
  host: z.string().min(1),
  remote: z.boolean(),
  attachTypes: z.record(z.string(), z.boolean()).optional(),
  /** Why an attach type does not work, by type (the helper's start-up `log` lines), shown verbatim. */
  attachReasons: z.record(z.string(), z.string()).optional(),
  compileOnTarget: z.object({ includeDirs: z.array(z.string()) }).optional(),
});
export type TargetParams = z.infer<typeof TargetParams>;
export const TargetNotification = new NotificationType<TargetParams>('nslat/target');

export interface TargetRunParams {
  argv: string[];
  input?: string;
  timeoutMs?: number;
}
export interface TargetRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}
export const TargetRunRequest = new RequestType<TargetRunParams, TargetRunResult, void>('nslat/targetRun');

export const InitOptions = z.object({
  cacheDir: z.string().optional(),
  includeDirs: z.array(z.string()).optional(),
  clang: z.string().optional(),
  bpftool: z.string().optional(),
  debounceMs: z.number().int().min(0).max(10_000).optional(),
  attachTypes: z.record(z.string(), z.boolean()).optional(),
});
export type InitOptions = z.infer<typeof InitOptions>;
