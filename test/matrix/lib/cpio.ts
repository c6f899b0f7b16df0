/**
 * A minimal writer of the cpio "newc" format the kernel unpacks as its initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): directories, regular files,
 * symlinks and device nodes, all owned by root. Written here rather than with cpio(1) so the archive
 * can hold device nodes without privileges and needs no shell pipeline.
 */
import { constants } from 'node:fs';

export type Entry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

function record(ino: number, mode: number, data: Buffer, name: string, rdev: [number, number] = [0, 0]): Buffer[] {
  const nameBuf = Buffer.from(`${name}\0`, 'utf8');
  const header =
    '070701' +
    [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0].map(hex8).join('');
  const head = Buffer.from(header, 'ascii');
  return [head, nameBuf, pad4(head.length + nameBuf.length), data, pad4(data.length)];
}

/**
 * The archive of `entries` (paths relative to the root, no leading slash). Parent directories are
 * added where missing and every directory precedes what it holds.
 */
export function newc(entries: Entry[]): Buffer {
  const byPath = new Map<string, Entry>();
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!byPath.has(dir)) byPath.set(dir, { kind: 'dir', path: dir });
    }
    byPath.set(path, { ...e, path });
  }
  const sorted = [...byPath.values()].sort((a, b) => {
    const da = a.path.split('/').length;
    const db = b.path.split('/').length;
    return da - db || a.path.localeCompare(b.path);
  });
  const out: Buffer[] = [];
  let ino = 1;
  for (const e of sorted) {
    switch (e.kind) {
      case 'dir':
        out.push(...record(ino++, constants.S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), e.path));
        break;
      case 'file':
        out.push(...record(ino++, constants.S_IFREG | (e.mode ?? 0o644), e.data, e.path));
        break;
      case 'symlink':
        out.push(...record(ino++, constants.S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'), e.path));
        break;
      case 'chardev':
        out.push(...record(ino++, constants.S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), e.path, [e.major, e.minor]));
        break;
    }
  }
  out.push(...record(0, 0, Buffer.alloc(0), 'TRAILER!!!'));
  return Buffer.concat(out);
}
