/** Terminal helpers for the CLI: a progress line on stderr and a password prompt with echo off. */

export interface Progress {
  /** Replaces the progress line (a TTY) or prints one line (not a TTY). */
  set(message: string): void;
  /** Prints a message that stays (warnings), keeping the progress line below it. */
  note(message: string): void;
  /** Removes the progress line. */
  clear(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  const tty = !!stream.isTTY;
  let shown = '';
  const cols = () => Math.max(20, (stream.columns || 100) - 1);
  const clearLine = () => {
    if (tty && shown) stream.write('\r\x1b[K');
  };
  return {
    set(message) {
      if (quiet) return;
      if (tty) {
        clearLine();
        shown = `nslat: ${message}`.slice(0, cols());
        stream.write(shown);
      } else {
        stream.write(`nslat: ${message}\n`);
      }
    },
    note(message) {
      clearLine();
      stream.write(`nslat: ${message}\n`);
      if (tty && shown) stream.write(shown);
    },
    clear() {
      clearLine();
      shown = '';
    },
  };
}

/**
 * Reads a password from the terminal with echo off. Resolves undefined when stdin is not a TTY,
 * or when the user presses Ctrl-C / Ctrl-D on an empty line. The password is never echoed or logged.
 */
export function readPassword(prompt: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string | undefined> {
  if (!input.isTTY || typeof input.setRawMode !== 'function') return Promise.resolve(undefined);
  return new Promise((resolve) => {
    output.write(prompt.endsWith(' ') ? prompt : `${prompt} `);
    const wasRaw = input.isRaw;
    input.setRawMode(true);
    input.resume();
    let pw = '';
    const done = (v: string | undefined) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      resolve(v);
    };
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(pw);
        if (ch === '\u0003') return done(undefined); // Ctrl-C
        if (ch === '\u0004') { if (pw === '') return done(undefined); continue; } // Ctrl-D
        if (ch === '\u007f' || ch === '\b') { pw = [...pw].slice(0, -1).join(''); continue; }
        if (ch === '\u0015') { pw = ''; continue; } // Ctrl-U
        if (ch < ' ') continue;
        if (pw.length < 4096) pw += ch;
      }
    };
    input.on('data', onData);
  });
}

/** Asks for the sudo password on the terminal; undefined when stdin is not one (nothing to ask on). */
export function askPass(progress: Progress) {
  if (!process.stdin.isTTY) return undefined;
  return async (prompt: string) => {
    progress.clear();
    return readPassword(prompt || '[sudo] password:');
  };
}
