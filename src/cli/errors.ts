/** How a command fails: one sentence, what to do, and the exit status main() returns. */
export class CliError extends Error {
  constructor(message: string, readonly hint?: string, readonly code = 1) {
    super(message);
  }
}

/** An error's message without trailing whitespace. */
export function sentence(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  return m.replace(/\s+$/, '');
}
