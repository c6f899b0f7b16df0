/**
 * Reading a flow's stages out of merged snapshot totals: which boundaries a flow should pass
 * (from the helper's `loaded` message, never a fixed list), the chain of consecutive stages along
 * that path, and a printable summary.
 */
import type { Boundary, LoadedMessage } from '../../../src/core/protocol.ts';
import { formatNs } from '../../../src/core/format.ts';
import { mean, p, type Hist, type Totals } from './helper.ts';

export type Proto = 'tcp' | 'udp';

/** TX boundaries only a real qdisc (not noqueue) passes. */
export const QDISC = /qdisc/i;
/** The RX socket-enqueue and application-read boundaries. */
export const SOCK_ENQUEUE = /sock|sk_|data_ready|queue_rcv|enqueue/i;
export const APP_READ = /copy_datagram|recv|read|app/i;
/**
 * Boundaries loopback and veth never pass, whatever the probes: the NAPI-driver RX entries
 * (napi_gro_receive_entry, netif_receive_skb_entry: loopback and veth enter through netif_rx and
 * the backlog), and TX completion (a virtual device hands the skb to the peer's RX instead of
 * freeing it after transmission).
 */
export const NOT_ON_VIRTUAL_DEVICES = { rx: /napi_gro|_entry$/i, tx: /complete|completion/i } as const;

export function activeBoundaries(loaded: LoadedMessage, dir: 'rx' | 'tx'): Boundary[] {
  return loaded.boundaries.filter((b) => b.dir === dir && b.active).sort((a, b) => a.id - b.id);
}

/**
 * The L4 protocol a boundary is limited to on this kernel, from the programs that feed it
 * (named handle_<boundary> or <boundary>__<alt>..., nslat.h): when every attached program that feeds
 * it hooks something TCP-specific (e.g. tp_btf/tcp_probe), only TCP packets pass it.
 */
export function boundaryL4(loaded: LoadedMessage, name: string): Proto | undefined {
  const feeders = loaded.programs.filter((pr) => pr.status === 'attached' && (pr.name === `handle_${name}` || pr.name.startsWith(`${name}__`)));
  if (!feeders.length) return undefined;
  if (feeders.every((pr) => /tcp/i.test(pr.section))) return 'tcp';
  if (feeders.every((pr) => /udp/i.test(pr.section))) return 'udp';
  return undefined;
}

/** The boundaries of `dir` a loopback/veth flow of `proto` passes, with or without a real qdisc. */
export function expectedPath(loaded: LoadedMessage, dir: 'rx' | 'tx', proto: Proto, qdisc = false): string[] {
  return activeBoundaries(loaded, dir)
    .filter((b) => {
      const only = boundaryL4(loaded, b.name);
      return only === undefined || only === proto;
    })
    .filter((b) => !NOT_ON_VIRTUAL_DEVICES[dir].test(b.name))
    .filter((b) => dir !== 'tx' || qdisc || !QDISC.test(b.name))
    .map((b) => b.name);
}

/** Packets that reached boundary `name` in this window: its cumulative histogram, or any stage into or out of it. */
export function seenAt(t: Totals, slot: string, name: string): number {
  const cum = t.cum(slot, name)?.count ?? 0;
  const into = t.list({ slot, kind: 'stage', to: name }).reduce((a, h) => a + h.count, 0);
  const outOf = t.list({ slot, kind: 'stage', from: name }).reduce((a, h) => a + h.count, 0);
  return Math.max(cum, into, outOf);
}

/** Stage histograms between consecutive names of `path`; undefined where the window has none. */
export function chain(t: Totals, slot: string, path: string[]): Array<{ from: string; to: string; h: Hist | undefined }> {
  const out = [];
  for (let i = 0; i + 1 < path.length; i++) {
    const from = path[i]!;
    const to = path[i + 1]!;
    out.push({ from, to, h: t.stage(slot, from, to) });
  }
  return out;
}

/** One line per stage and cumulative histogram of `slot` with packets: count, p50, p90, mean. */
export function describe(t: Totals, slot: string): string {
  const rows = [...t.list({ slot })]
    .filter((h) => h.kind === 'stage' || h.kind === 'cum')
    .filter((h) => h.count > 0)
    .sort((a, b) => (a.kind + (a.to ?? '')).localeCompare(b.kind + (b.to ?? '')));
  return rows
    .map((h) => `  ${h.kind.padEnd(5)} ${(h.kind === 'cum' ? `→${h.to}` : `${h.from}→${h.to}`).padEnd(52)} n=${String(h.count).padStart(6)} p50=${formatNs(p(h, 0.5)).padStart(9)} p90=${formatNs(p(h, 0.9)).padStart(9)} mean=${formatNs(mean(h)).padStart(9)}`)
    .join('\n');
}
