/** The `nslat.*` settings, read once per start (a running session keeps the values it started with). */
import * as vscode from 'vscode';
import type { PrivilegeMode } from '../core/transport/types.ts';
import { ADAPTIVE, parseSampling, type SamplingMode } from '../core/sampling.ts';

export interface NslatSettings {
  /** '' (ask), 'local', or an SSH destination. */
  host: string;
  sshConfigFile: string | undefined;
  privilege: PrivilegeMode;
  stages: string[];
  filter: string | undefined;
  snapshotIntervalMs: number;
  /** nslat.measure: which packets are measured (sampling.ts). */
  sampling: SamplingMode;
  sampleEvery: number;
  slowThresholdMs: number;
  /** BPF netfilter hooks on (false: the helper runs with --no-netfilter). */
  netfilter: boolean;
}

const PRIVILEGE: readonly PrivilegeMode[] = ['auto', 'root', 'sudo-n', 'sudo-askpass'];

export function readSettings(): NslatSettings {
  const c = vscode.workspace.getConfiguration('nslat');
  const privilege = c.get<string>('privilege', 'auto');
  const stages = c.get<unknown>('stages', ['rx', 'tx', 'irq']);
  const num = (key: string, def: number, min: number, max: number): number => {
    const v = c.get<number>(key, def);
    return typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : def;
  };
  const str = (key: string): string | undefined => {
    const v = c.get<string>(key, '');
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  };
  return {
    host: str('host') ?? '',
    sshConfigFile: str('sshConfigFile'),
    privilege: (PRIVILEGE as readonly string[]).includes(privilege) ? (privilege as PrivilegeMode) : 'auto',
    stages: Array.isArray(stages) && stages.every((s) => typeof s === 'string') && stages.length > 0 ? (stages as string[]) : ['rx', 'tx', 'irq'],
    filter: str('filter'),
    snapshotIntervalMs: Math.round(num('snapshotIntervalMs', 1000, 100, 60_000)),
    sampling: parseSampling(c.get<string | number>('measure', 'auto')) ?? ADAPTIVE,
    sampleEvery: Math.round(num('sampleEvery', 1000, 0, 1_000_000_000)),
    slowThresholdMs: num('slowThresholdMs', 1, 0, 60_000),
    netfilter: c.get<unknown>('netfilter', true) !== false,
  };
}
