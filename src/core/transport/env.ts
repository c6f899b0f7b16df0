/** The environment children of the transport get: ours, minus what VS Code's extension host adds
 *  that would change how a child behaves (ELECTRON_RUN_AS_NODE turns any Electron binary into node). */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (k === 'ELECTRON_RUN_AS_NODE' || k.startsWith('VSCODE_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}
