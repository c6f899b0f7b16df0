/**
 * How nslat reaches a target host.
 *
 *   const t = createTransport({ host: 'user@box', sshConfig, log });   // or {} for this machine
 *   await t.putDir('bpf', '~/.cache/nslat/0.1.0/bpf');
 *   await t.run(['make', '-C', '~/.cache/nslat/0.1.0/bpf']);
 *   const helper = await t.spawnPrivileged([path, '--workdir', dir], { askPass });
 *   helper.onLine(...); helper.onExit(({ why }) => ...);
 *   await t.close();
 */
import { LocalTransport } from './local.ts';
import { SshTransport } from './ssh.ts';
import type { Transport, TransportOptions } from './types.ts';

export * from './types.ts';
export { TransportError, missingTool, type TransportErrorCode } from './errors.ts';
export { parseDestination, shQuote, shJoin, type SshDestination } from './quote.ts';
export { LocalTransport } from './local.ts';
export { SshTransport } from './ssh.ts';

/** True when `host` means this machine: undefined, "" or "local". */
export function isLocalHost(host: string | undefined): boolean {
  return host === undefined || host === '' || host === 'local';
}

/** This machine when host is undefined/""/"local"; otherwise SSH to host (validated: throws a
 *  TransportError with code 'bad_destination' for anything that could inject options or shell). */
export function createTransport(opts: TransportOptions = {}): Transport {
  if (isLocalHost(opts.host)) return new LocalTransport(opts.log);
  return new SshTransport(opts.host!, opts);
}
