// temporary profiling script (deleted before the report)
import { writeFileSync } from 'node:fs';
import type { ToPanel } from '../src/core/protocol.ts';
import { buildWebview, launch, readyPosted, rendered, send, servePanel } from '../test/webview/harness.ts';
import { makePanelState, nextDelta } from '../test/webview/fixture.ts';

const bundle = await buildWebview();
const server = await servePanel(bundle.js);
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
await page.goto(server.url);
await readyPosted(page);
const state = makePanelState({ intervals: 600, extraRx: 8, journeys: 300 });
const deltas: ToPanel[] = Array.from({ length: 80 }, () => nextDelta(state));
await send(page, { type: 'snapshot', state });
await rendered(page);
await page.locator('#compare').check();
await rendered(page);
const one = async (d: ToPanel) => page.evaluate(async (dd) => {
  window.dispatchEvent(new MessageEvent('message', { data: dd }));
  await new Promise((r) => requestAnimationFrame(() => r(null)));
  await new Promise((r) => requestAnimationFrame(() => r(null)));
}, d);
for (const d of deltas.slice(0, 10)) await one(d);
const cdp = await page.context().newCDPSession(page);
await cdp.send('Profiler.enable');
await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
await cdp.send('Profiler.start');
for (const d of deltas.slice(10, 50)) await one(d);
const { profile } = await cdp.send('Profiler.stop');
writeFileSync('/tmp/nslat-perf/prof.cpuprofile', JSON.stringify(profile));
await browser.startTracing(page, { path: '/tmp/nslat-perf/trace.json', categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink', 'cc', 'gpu', 'toplevel'] });
for (const d of deltas.slice(50, 80)) await one(d);
await browser.stopTracing();
await browser.close(); await server.close(); await bundle.cleanup();
