/**
 * The `nslat` command: check, trace, replay, serve (serve.ts). Bundled by esbuild to dist/cli.mjs (bin/nslat).
 * Every failure ends as one sentence plus what to do on stderr, and a non-zero exit status:
 * 2 for usage errors, 1 for everything else.
 */
import { existsSync, statSync } from 'node:fs';
import { Aggregator } from '../core/aggregate.ts';
import { localBpfDir, NSLAT_VERSION, type Deployment } from '../core/deploy.ts';
import { FilterError } from '../core/filter.ts';
import { LOAD_MAX_MESSAGES, startLoopbackLoad, startRemoteLoopbackLoad, type RunningLoad } from '../core/load.ts';
import { EditCompiler } from '../core/build.ts';
import { attachRows, compilerRows, feedRows, runPreflight, type PreflightRow, type StageLoad } from '../core/preflight.ts';
import { Session, SessionError, type EndInfo } from '../core/session.ts';
import { formatTable, toJsonDocument } from '../core/report.ts';
import { TraceOpenError } from '../core/export/jsonl.ts';
import { parseCli, USAGE, UsageError, type Command } from './args.ts';
import { runDiff } from './diff.ts';
import { openOutputs, readTrace } from './outputs.ts';
import { askPass, createProgress } from './terminal.ts';
import { sessionOptions } from './session-options.ts';
import { CliError, sentence } from './errors.ts';
import { runServe } from './serve.ts';

type TraceCmd = Extract<Command, { kind: 'trace' }>;
type CheckCmd = Extract<Command, { kind: 'check' }>;


const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);



// ---------------------------------------------------------------- check

function formatRows(rows: PreflightRow[]): string {
  const w = Math.max(5, ...rows.map((r) => r.check.length));
  const lines = [`${'check'.padEnd(w)}  ok    detail`];
  for (const r of rows) {
    lines.push(`${r.check.padEnd(w)}  ${r.ok ? 'yes ' : r.required === false ? 'note' : 'NO  '}  ${r.detail}`);
    if (r.fix) lines.push(`${''.padEnd(w)}        fix: ${r.fix}`);
  }
  return lines.join('\n');
}

/** clang and vmlinux.h rows for --probes, before anything is copied to the target. */
async function probeCompilerRows(transport: import('../core/transport/types.ts').Transport, machine?: string): Promise<PreflightRow[]> {
  const dep = { dir: '', localBpfDir: localBpfDir(), arch: machine ?? '' } as Deployment;
  return compilerRows(new EditCompiler(transport, dep), transport.host);
}

async function runCheck(cmd: CheckCmd): Promise<number> {
  if (cmd.sshConfig && !existsSync(cmd.sshConfig)) {
    throw new CliError(`--ssh-config ${cmd.sshConfig} does not exist.`, 'Give the path of an ssh_config file.', 2);
  }
  const progress = createProgress(process.stderr, cmd.format === 'json');
  const { createTransport } = await import('../core/transport/index.ts');
  const transport = createTransport({ host: cmd.host, sshConfig: cmd.sshConfig });
  const ask = askPass(progress);
  try {
    progress.set(`checking ${transport.host}`);
    const pre = await runPreflight({ transport, askPass: ask });
    const rows = [...pre.rows];
    let ok = pre.ok;
    if (cmd.probesDir && pre.ok) {
      // Compilers matter only for edited probes, and only where those compile.
      progress.set('checking where the probes compile');
      const cr = await probeCompilerRows(transport, pre.machine);
      rows.push(...cr);
      ok = ok && cr.every((r) => r.ok || r.required === false);
    }
    const loads: StageLoad[] = [];
    let features: Record<string, unknown> | undefined;
    if (ok) {
      // Which attach types work is only known from the helper's start-up probe, and what feeds each
      // boundary only from loading the probes: start a session, load rx, tx and irq as a trace
      // would, and stop it again (the helper detaches everything).
      let session: Session | undefined;
      try {
        session = await Session.start({
          transport,
          preflight: pre,
          privilege: cmd.privilege,
          askPass: ask,
          stages: ['rx', 'tx', 'irq'],
          intervalMs: 0,
          netfilter: cmd.netfilter,
          probesDir: cmd.probesDir,
          onProgress: (p) => progress.set(p.phase === 'running' ? 'probes loaded' : p.message),
        });
        const hello = session.hello;
        features = { arch: hello.arch ?? null, preempt_rt: hello.preempt_rt ?? null, irq_threads: hello.irq_threads ?? null, netfilter: hello.netfilter ?? null, attach_types: hello.attach_types };
        const ar = attachRows(hello);
        rows.push(...ar);
        ok = ok && ar.every((r) => r.ok || r.required === false);
        for (const slot of session.stages) {
          const loaded = session.loaded.get(slot);
          loads.push(loaded ? { slot, loaded } : { slot, error: session.failedStages.get(slot) ?? 'not loaded' });
        }
      } catch (e) {
        rows.push({ check: 'helper', ok: false, detail: sentence(e) });
        ok = false;
      } finally {
        if (session) {
          progress.set('unloading the probes');
          const end = await session.stop();
          if (end.error) {
            rows.push({ check: 'unload', ok: false, detail: end.error });
            ok = false;
          }
        }
      }
      const fr = feedRows(loads);
      rows.push(...fr);
      ok = ok && fr.every((r) => r.ok || r.required === false);
    }
    progress.clear();
    if (cmd.format === 'json') {
      const fed = loads.map((l): Record<string, unknown> => ('loaded' in l ? { slot: l.slot, boundaries: l.loaded.boundaries, groups: l.loaded.groups ?? [], attempts: l.loaded.attempts ?? 1 } : { slot: l.slot, error: l.error }));
      out(JSON.stringify({ host: transport.host, ok, rows, features: features ?? null, stages: fed }, null, 2));
    } else out(`${formatRows(rows)}\n\n${ok ? `${transport.host}: tracing can work.` : `${transport.host}: tracing cannot work yet; apply the fixes above.`}`);
    return ok ? 0 : 1;
  } finally {
    progress.clear();
    await transport.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- trace

async function runTrace(cmd: TraceCmd): Promise<number> {
  if (cmd.probesDir && !(existsSync(cmd.probesDir) && statSync(cmd.probesDir).isDirectory())) {
    throw new CliError(`--probes ${cmd.probesDir} is not a directory.`, 'Give the directory that holds rx.bpf.c, tx.bpf.c and irq.bpf.c.', 2);
  }
  if (cmd.sshConfig && !existsSync(cmd.sshConfig)) {
    throw new CliError(`--ssh-config ${cmd.sshConfig} does not exist.`, 'Give the path of an ssh_config file.', 2);
  }
  const progress = createProgress(process.stderr);
  const agg = new Aggregator({ host: cmd.host ?? 'local' });
  let outputs: ReturnType<typeof openOutputs>;
  try {
    outputs = openOutputs(cmd.out, cmd.host ?? 'local', agg);
  } catch (e) {
    throw new CliError(`cannot write --out: ${sentence(e)}.`, 'Give a path in a directory you can write to.');
  }

  // SIGINT during start-up aborts it; during tracing it ends the trace cleanly.
  const ac = new AbortController();
  let interrupted = 0;
  let stopNow: (() => void) | undefined;
  const onSigint = () => {
    interrupted++;
    if (interrupted >= 3) {
      progress.note('interrupted three times: exiting without waiting for the helper');
      process.exit(130);
    }
    progress.note(interrupted === 1 ? 'stopping (unloading probes)…' : 'still stopping; press Ctrl-C again to exit at once');
    ac.abort();
    stopNow?.();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  let session: Session | undefined;
  let load: RunningLoad | undefined;
  try {
    session = await Session.start({
      ...sessionOptions(cmd, progress, (l) => progress.note(l)),
      signal: ac.signal,
      onProgress: (p) => progress.set(p.message),
    });
    if (ac.signal.aborted) {
      await session.stop();
      progress.clear();
      process.stderr.write('nslat: interrupted during start-up; nothing was collected.\n');
      return 130;
    }
    const s = session;
    s.subscribe((m) => {
      try {
        agg.ingest(m, Date.now());
        outputs.message(m);
      } catch (e) {
        progress.note(`could not record a ${m.type} message: ${sentence(e)}`);
      }
    });
    s.on('warning', (w) => progress.note(w));
    // Programs the verifier refused while the rest loaded: where, compiler-style (the warning
    // itself comes through 'warning').
    for (const r of s.refusals) {
      const d = r.diagnostic;
      progress.note(`${d.file}:${d.line}:${d.column}: warning: ${d.message}`);
    }
    const ended = new Promise<EndInfo>((r) => s.once('ended', r));

    if (cmd.load === 'loopback') {
      const durationMs = cmd.durationS > 0 ? cmd.durationS * 1000 : 60_000;
      load = s.transport.kind === 'local'
        ? startLoopbackLoad({ durationMs, maxMessages: loadBudget(durationMs) })
        : startRemoteLoopbackLoad(s.transport, { durationMs, maxMessages: loadBudget(durationMs) });
    }
    const what = `tracing ${s.stages.filter((x) => s.loaded.has(x)).join(', ')} on ${s.host}${cmd.load === 'loopback' ? ' with the loopback load' : ''}`;
    const t0 = Date.now();
    const tick = setInterval(() => {
      const el = Math.round((Date.now() - t0) / 1000);
      progress.set(`${what}: ${el}s${cmd.durationS > 0 ? ` of ${cmd.durationS}s` : ' (Ctrl-C to stop)'}, ${agg.report().snapshots} snapshots`);
    }, 1000);
    progress.set(`${what}…`);
    const stopped = new Promise<void>((r) => { stopNow = r; });
    const timer = cmd.durationS > 0 ? new Promise<void>((r) => setTimeout(r, cmd.durationS * 1000).unref()) : new Promise<void>(() => {});
    const first = await Promise.race([timer.then(() => 'time' as const), stopped.then(() => 'sigint' as const), ended.then(() => 'ended' as const)]);
    clearInterval(tick);

    const loadStats = load ? await load.stop() : undefined;
    let end: EndInfo;
    if (first === 'ended' || s.ended) {
      end = s.ended!;
    } else {
      progress.set('collecting the last snapshot');
      await s.snapshot(5_000);
      end = await s.stop();
    }
    progress.clear();
    await outputs.close(agg);

    const report = agg.report();
    if (cmd.format === 'json') {
      out(JSON.stringify(toJsonDocument(report), null, 2));
    } else {
      out(formatTable(report, { histograms: cmd.log2 }));
      if (loadStats) out(`loopback load: ${loadStats.tcp} TCP and ${loadStats.udp} UDP round trips in ${(loadStats.elapsedMs / 1000).toFixed(1)}s${loadStats.errors.length ? ` (errors: ${loadStats.errors.join('; ')})` : ''}`);
    }
    for (const f of outputs.written()) process.stderr.write(`nslat: wrote ${f}\n`);
    if (end.error) {
      process.stderr.write(`nslat: ${end.error}\n`);
      return 1;
    }
    // Ctrl-C is how an open-ended trace (--duration 0) ends; it cuts a timed one short.
    return interrupted && cmd.durationS > 0 ? 130 : 0;
  } catch (e) {
    progress.clear();
    if (load) await load.stop().catch(() => undefined);
    if (session && !session.ended) await session.stop().catch(() => undefined);
    await outputs.close(agg).catch(() => undefined);
    if (ac.signal.aborted && !session) throw new CliError('interrupted while starting; nothing was collected and nothing is left loaded.', undefined, 130);
    if (e instanceof SessionError) {
      if (e.preflight) out(formatRows(e.preflight.rows));
      for (const d of e.diagnostics ?? []) process.stderr.write(`${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}\n`);
      throw new CliError(e.message, e.preflight ? 'Apply the fixes above (see `nslat check`), then run nslat again.' : undefined);
    }
    if (e instanceof FilterError) throw new CliError(`--filter: ${e.message}.`, 'Example: --filter "tcp and port 5201".', 2);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/** Round trips for the demo load: enough to keep it busy for the whole trace, still hard-bounded. */
function loadBudget(durationMs: number): number {
  return Math.min(LOAD_MAX_MESSAGES, Math.max(200_000, Math.ceil(durationMs / 1000) * 80_000));
}

// ---------------------------------------------------------------- replay

/** One sentence for a trace that cannot be read: "X does not exist.", "cannot replay X: it was
 *  recorded with protocol version 1 …", "cannot replay: X holds no nslat trace messages …". */
function traceError(verb: string, e: TraceOpenError): string {
  if (e.kind === 'missing') return `${e.message}.`;
  if (e.kind === 'protocol') return `cannot ${verb} ${e.path}: ${e.reason}.`;
  return `cannot ${verb}: ${e.message}.`;
}

async function runReplay(cmd: Extract<Command, { kind: 'replay' }>): Promise<number> {
  let report;
  try {
    report = (await readTrace(cmd.file)).report();
  } catch (e) {
    if (e instanceof TraceOpenError) throw new CliError(traceError('replay', e), e.hint);
    throw e;
  }
  out(cmd.format === 'json' ? JSON.stringify(toJsonDocument(report), null, 2) : formatTable(report, { histograms: cmd.log2 }));
  return 0;
}

async function runDiffCommand(cmd: Extract<Command, { kind: 'diff' }>): Promise<number> {
  try {
    return await runDiff(cmd, out);
  } catch (e) {
    if (e instanceof TraceOpenError) throw new CliError(traceError('compare', e), e.hint);
    throw new CliError(`cannot compare: ${sentence(e)}.`, 'See `nslat diff --help`.');
  }
}

// ---------------------------------------------------------------- main

export async function main(argv: string[]): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCli(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`nslat: ${e.message}\n${e.hint}\n`);
      return 2;
    }
    throw e;
  }
  try {
    switch (cmd.kind) {
      case 'help':
        out(USAGE);
        return 0;
      case 'version':
        out(`nslat ${NSLAT_VERSION}`);
        return 0;
      case 'check':
        return await runCheck(cmd);
      case 'trace':
        return await runTrace(cmd);
      case 'replay':
        return await runReplay(cmd);
      case 'serve':
        return await runServe(cmd);
      case 'diff':
        return await runDiffCommand(cmd);
    }
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`nslat: ${e.message}${e.hint ? `\n${e.hint}` : ''}\n`);
      return e.code;
    }
    const te = e as { name?: string; code?: string; message?: string };
    if (te?.name === 'TransportError') {
      process.stderr.write(`nslat: ${te.message}\n`);
      return 1;
    }
    process.stderr.write(`nslat: ${sentence(e)}\nThis looks like a bug in nslat; run with NSLAT_DEBUG=1 for details.\n`);
    if (process.env.NSLAT_DEBUG) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
    return 1;
  }
}

// Run when this module is the entry point (dist/cli.mjs through bin/nslat, or `tsx src/cli/main.ts`).
const isEntry = (() => {
  const a = process.argv[1] ?? '';
  return /(?:cli\.mjs|main\.ts|\/nslat)$/.test(a);
})();
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Let stdout drain, then make sure nothing (a stuck socket) keeps us alive.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (e) => {
      process.stderr.write(`nslat: ${sentence(e)}\n`);
      process.exit(1);
    },
  );
}
