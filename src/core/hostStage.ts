/**
 * One stage on several hosts side by side (the panel's host comparison): each host's totals of the
 * stage and its p50 and p99 per interval, from that host's Aggregator.
 */
import type { Aggregator } from './aggregate.ts';
import { denseFromFlat } from './accumulate.ts';
import { quantile } from './hist.ts';
import type { HostEntry, HostStage } from './protocol.ts';
import { stageSummary } from './stage.ts';

/** Stage `key` on the host of `entry`: its summary (absent while the host has not seen it) and
 *  [t_ms, count, p50, p99] for every interval that holds packets of it, oldest first. */
export function hostStageOf(agg: Aggregator, entry: Pick<HostEntry, 'host' | 'label' | 'state'>, key: string): HostStage {
  const rec = agg.stage(key);
  const points: HostStage['points'] = [];
  for (const iv of agg.intervals()) {
    const st = iv.stages.get(key);
    if (!st || !(st.count > 0)) continue;
    const b = denseFromFlat(st.sparse);
    points.push([iv.t_ms, st.count, quantile(b, 0.5, st.sum), quantile(b, 0.99, st.sum)]);
  }
  const out: HostStage = { host: entry.host, label: entry.label, state: entry.state, points };
  if (rec) out.stage = stageSummary(rec);
  return out;
}
