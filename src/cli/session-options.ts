/**
 * The session options `nslat trace` and `nslat serve` share, from their parsed command: where and
 * how to reach the target, which probes, filters and sampling, and a password prompt on the
 * terminal for sudo.
 */
import type { Command } from './args.ts';
import type { SessionOptions } from '../core/session.ts';
import { askPass, type Progress } from './terminal.ts';

type Tracing = Extract<Command, { kind: 'trace' | 'serve' }>;

export function sessionOptions(cmd: Tracing, progress: Progress, log?: (line: string) => void): Omit<SessionOptions, 'signal' | 'onProgress'> {
  return {
    host: cmd.host,
    sshConfig: cmd.sshConfig,
    privilege: cmd.privilege,
    askPass: askPass(progress),
    stages: cmd.stages,
    filter: cmd.filter,
    probesDir: cmd.probesDir,
    intervalMs: cmd.intervalMs,
    sampling: cmd.sampling,
    sampleEvery: cmd.sampleEvery,
    slowNs: cmd.slowNs,
    bpfStats: cmd.bpfStats,
    netfilter: cmd.netfilter,
    log: process.env.NSLAT_DEBUG ? log : undefined,
  };
}
