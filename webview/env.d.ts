// The webview imports only types from src/core/protocol.ts, but type-checking that module pulls in
// its one Node global. Declared here so the webview program keeps DOM types without @types/node.
declare const Buffer: { byteLength(s: string, encoding?: string): number };
