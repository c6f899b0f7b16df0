/**
 * Start-up benchmark: time from Session.start() to the first snapshot, with the method of part 3 of
 * main.ts (all three stages, 100 ms snapshot interval, the clock started just before
 * Session.start), in four kinds, interleaved rep by rep so the shared machine's noise hits all alike:
 *
 *   local cold   this machine, a fresh HOME (no work directory: the shipped files are copied)
 *   local warm   this machine, the same HOME again (the work directory is reused after its hash check)
 *   ssh cold     a sshd on 127.0.0.1 (test/ssh/lib), a user whose home has no ~/.cache: connect,
 *                preflight, copy, helper via sudo -n
 *   ssh warm     the same user again (a new connection; the work directory is reused)
 *
 * The SSH user is the fixture's "clean" one: its PATH has no compiler or build tool, and every
 * command it runs is recorded, so the bench also reports whether any such tool ran.
 * A benchmark, not a test: run on purpose, as root, alone:
 *   flock /tmp/nslat-bpf.lock node --import tsx bench/startup.ts [--reps N] [--out FILE.md]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg, release } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { median, quantile, timedStart } from './lib.ts';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' }, out: { type: 'string' } } });
const REPS = Math.max(1, Math.min(20, Number(values.reps) || 5));
const log = (s: string) => process.stderr.write(`[startup] ${s}\n`);

type Kind = 'local cold' | 'local warm' | 'ssh cold' | 'ssh warm';
type Run = { kind: Kind; start_ms: number; first_snapshot_ms: number; phases: Record<string, number>; reused: boolean; attempts: Record<string, number> };

async function once(kind: Kind, opts: { host?: string; sshConfig?: string }): Promise<Run> {
  const { session: s, start_ms, first_snapshot_ms, phases } = await timedStart(opts);
  const e = await s.stop();
  if (e.error) log(`${kind}: stop: ${e.error}`);
  // How many times the helper opened and verified each object before it attached (1: at once).
  const attempts = Object.fromEntries([...s.loaded].map(([slot, l]) => [slot, l.attempts ?? 1]));
  return { kind, start_ms, first_snapshot_ms, phases, reused: s.deployment.reused, attempts };
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench/startup.ts needs root (the helper, a test sshd)');
  const { startSshd, buildToolsIn } = await import('../test/ssh/lib/sshd.ts');
  const fx = await startSshd();
  const runs: Run[] = [];
  const homes: string[] = [];
  const oldHome = process.env.HOME;
  const t0 = Date.now();
  try {
    const sshHome = `/home/${fx.users.clean}`;
    const ssh = { host: fx.hosts.clean, sshConfig: fx.sshConfig };
    // One untimed start each way first: node's module cache, the page cache and sshd warm up alike.
    process.env.HOME = mkdtempSync(path.join(tmpdir(), 'nslat-bench-home-'));
    homes.push(process.env.HOME);
    await once('local cold', {});
    await once('ssh cold', ssh);
    for (let i = 0; i < REPS; i++) {
      log(`rep ${i + 1}/${REPS}`);
      const home = mkdtempSync(path.join(tmpdir(), 'nslat-bench-home-'));
      homes.push(home);
      process.env.HOME = home;
      runs.push(await once('local cold', {}));
      rmSync(path.join(sshHome, '.cache'), { recursive: true, force: true }); // a fresh home
      runs.push(await once('ssh cold', ssh));
      runs.push(await once('local warm', {}));
      runs.push(await once('ssh warm', ssh));
    }
  } finally {
    process.env.HOME = oldHome;
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
  const commands = fx.cleanCommands();
  const tools = buildToolsIn(commands);
  await fx.stop();

  const kinds: Kind[] = ['local cold', 'ssh cold', 'local warm', 'ssh warm'];
  const goal: Record<Kind, number> = { 'local cold': 1000, 'ssh cold': 1500, 'local warm': 400, 'ssh warm': 700 };
  const before: Record<Kind, string> = { 'local cold': '3087 (copy + build)', 'ssh cold': '3138 (copy + build)', 'local warm': '284', 'ssh warm': '644' };
  const f = (x: number) => (Number.isFinite(x) ? Math.round(x).toString() : '–');
  const phaseList = (rs: Run[]) => {
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.phases)))];
    return names.map((n) => `${n} ${f(median(rs.map((r) => r.phases[n] ?? NaN)))}`).join(', ');
  };
  const ver = async (cmd: string, args: string[]) => (await execa(cmd, args, { reject: false })).stdout.split('\n')[0] ?? '';
  const commit = (await execa('git', ['rev-parse', '--short', 'HEAD'], { reject: false })).stdout.trim();
  const L: string[] = [];
  L.push(`# nslat start-up, ${new Date().toISOString().slice(0, 10)}`);
  L.push('');
  L.push(`Kernel ${release()}; CPU ${cpus()[0]?.model ?? '?'} × ${cpus().length}; load average at start ${loadavg().map((x) => x.toFixed(2)).join(' ')} (shared machine); node ${process.version}; ${await ver('ssh', ['-V']).then((v) => v || 'ssh')}; nslat ${commit} with uncommitted changes. ` +
    `Command: \`flock /tmp/nslat-bpf.lock node --import tsx bench/startup.ts --reps ${REPS}\`; ${Math.round((Date.now() - t0) / 1000)} s.`);
  L.push('');
  L.push('Method (as part 3 of `bench/main.ts` on 2026-11-26): Session.start with the rx, tx and irq stages and a 100 ms snapshot interval; the clock starts just before Session.start and stops at the first snapshot message. ' +
    `${REPS} reps, each one local cold, SSH cold, local warm, SSH warm in that order (interleaved), after one untimed start each way. Local cold: a fresh HOME, so no work directory. SSH cold: sshd on 127.0.0.1 started by the bench (test/ssh/lib), a user whose ~/.cache is removed before each cold start; every SSH start opens its own connection. ` +
    'The SSH user\'s PATH has no compiler, make, pkg-config or bpftool (the fixture\'s "clean" user).');
  L.push('');
  L.push('| start-up → first snapshot | median ms | p90 ms | min–max ms | goal | 2026-11-26 (same method, copy + build on the target) | met | Session.start resolved, median ms | phases reached, median ms after start |');
  L.push('|---|---|---|---|---|---|---|---|---|');
  for (const k of kinds) {
    const rs = runs.filter((r) => r.kind === k);
    const fs = rs.map((r) => r.first_snapshot_ms);
    const m = median(fs);
    L.push(`| ${k} | ${f(m)} | ${f(quantile(fs, 0.9))} | ${f(Math.min(...fs))}–${f(Math.max(...fs))} | ≤ ${goal[k]} | ${before[k]} | ${m <= goal[k] ? 'yes' : 'no'} | ${f(median(rs.map((r) => r.start_ms)))} | ${phaseList(rs)} |`);
  }
  L.push('');
  const wrong = runs.filter((r) => r.reused !== r.kind.endsWith('warm'));
  L.push(`Cold starts copied and warm starts reused the work directory: ${wrong.length === 0 ? 'yes, every one' : `no: ${wrong.map((r) => r.kind).join(', ')}`}.`);
  const att = [...new Set(runs.flatMap((r) => Object.entries(r.attempts).map(([k, v]) => `${k} ${v}`)))].sort();
  L.push(`Load attempts per object (the helper re-opens and re-verifies an object when a program cannot load or attach), as seen over all runs: ${att.join(', ') || 'none recorded'}.`);
  L.push(`Commands run on the SSH target: ${commands.length} command lines recorded; compiler or build tool among them: ${tools.length ? tools.join(' | ') : 'none'}.`);
  L.push('');
  L.push('Raw first-snapshot times (ms), in run order:');
  L.push('');
  for (const k of kinds) L.push(`- ${k}: ${runs.filter((r) => r.kind === k).map((r) => f(r.first_snapshot_ms)).join(', ')}`);
  const md = `${L.join('\n')}\n`;
  process.stdout.write(md);
  if (values.out) {
    writeFileSync(values.out, md);
    writeFileSync(values.out.replace(/\.md$/, '.json'), `${JSON.stringify({ reps: REPS, runs, commands_recorded: commands.length, build_tools: tools }, null, 1)}\n`);
    log(`wrote ${values.out}`);
  }
}

main().then(() => process.exit(0), (e) => {
  log(`failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
