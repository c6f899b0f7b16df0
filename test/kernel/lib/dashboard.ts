/**
 * Every query of dashboards/nslat.json run against a real Prometheus, with the dashboard's
 * variables substituted: each panel query must parse and return series, each variable query
 * (label_values(selector, label)) must find values.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './helper.ts';
import type { Prometheus } from './prometheus.ts';

interface Dashboard {
  panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
  templating: { list: Array<{ name: string; type: string; definition?: string }> };
}

export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(join(REPO, 'dashboards', 'nslat.json'), 'utf8')) as Dashboard;
}

/** Runs every query at `time` for `host`; panels on host counters are left out (and named) when
 *  `hostCounters` is false. The socket queue panel lists only sockets whose queues are not empty:
 *  its series are required only with `sockets`. Returns how many queries ran and the panels left out. */
export async function checkDashboard(prom: Prometheus, opts: { host: string; time: number; hostCounters: boolean; sockets?: boolean }): Promise<{ asked: number; skipped: string[] }> {
  const dash = dashboard();
  const subst = (e: string) => e.replaceAll('$host', opts.host).replaceAll('$stage', '.+').replaceAll('$__rate_interval', '10s').replaceAll('$__interval', '5s');
  let asked = 0;
  const skipped: string[] = [];
  for (const p of dash.panels) {
    for (const target of p.targets ?? []) {
      if (!opts.hostCounters && /nslat_host_/.test(target.expr)) {
        skipped.push(p.title);
        continue;
      }
      const result = await prom.query(subst(target.expr), opts.time);
      asked++;
      if (opts.sockets || !/nslat_host_socket_/.test(target.expr)) assert.ok(result.length > 0, `panel "${p.title}": ${subst(target.expr)} returns series`);
    }
  }
  for (const v of dash.templating.list.filter((x) => x.type === 'query')) {
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(v.definition ?? '');
    assert.ok(m, `variable ${v.name} is label_values(selector, label)`);
    const series = await prom.series(subst(m[1]!));
    const values = new Set(series.map((x) => x[m[2]!]).filter(Boolean));
    assert.ok(values.size > 0, `variable ${v.name}: ${m[1]} has ${m[2]} values`);
    if (v.name === 'host') assert.ok(values.has(opts.host), `variable host offers ${opts.host}`);
    asked++;
  }
  return { asked, skipped };
}
