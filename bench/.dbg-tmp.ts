import { buildWebview, launch, readyPosted, rendered, send, servePanel } from '../test/webview/harness.ts';
import { makePanelState, nextDelta } from '../test/webview/fixture.ts';
const bundle = await buildWebview(); const server = await servePanel(bundle.js); const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
page.on('console', (m) => console.log('console', m.text())); page.on('pageerror', (e) => console.log('pageerror', e));
await page.goto(server.url); await readyPosted(page);
const state = makePanelState({ intervals: 600, extraRx: 8, journeys: 300 });
await send(page, { type: 'snapshot', state }); await rendered(page);
await page.locator('#compare').check(); await rendered(page);
for (let i = 0; i < 3; i++) { await send(page, nextDelta(state)); await rendered(page); console.log(await page.evaluate('JSON.stringify(window.nslatPanel.stats.parts)')); }
console.log(await page.evaluate('document.querySelector("#histogram-title").textContent'));
await page.screenshot({ path: '/tmp/nslat-perf/dbg.png', fullPage: true });
await browser.close(); await server.close(); await bundle.cleanup();
